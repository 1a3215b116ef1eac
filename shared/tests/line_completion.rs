//! Remote completion ([`TabMode::Remote`]): Tab asks the shell, the answer applies only to the
//! line it was asked for, repeated Tab / Shift+Tab cycle, Ctrl+Space lists; and OSC 133 marks
//! in the prompt are never repainted.

mod line_support;

use line_support::Term;
use winrelay_shared::line::{strip_marks, CompleteHow, Completion, Effect, LineConfig, TabMode};

const PROMPT: &str = "PS C:\\Users\\demo> ";

fn term() -> Term {
    Term::with_config(
        PROMPT,
        LineConfig {
            tab: TabMode::Remote,
            ..LineConfig::default()
        },
    )
}

/// The completion request among `effects`.
fn request(effects: &[Effect]) -> (u64, String, usize, CompleteHow) {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Complete {
                id,
                line,
                cursor,
                how,
            } => Some((*id, line.clone(), *cursor, *how)),
            _ => None,
        })
        .expect("a completion request")
}

fn answer(t: &mut Term, id: u64, start: usize, len: usize, matches: &[&str]) -> Vec<Effect> {
    let mut out = Vec::new();
    t.ld.completed(
        id,
        Completion {
            start,
            len,
            matches: matches.iter().map(|m| m.to_string()).collect(),
        },
        &mut out,
    );
    for e in &out {
        if let Effect::Echo(s) = e {
            t.parser.process(s.as_bytes());
        }
    }
    out
}

#[test]
fn tab_asks_and_one_match_replaces_then_tab_cycles_and_shift_tab_goes_back() {
    let mut t = term();
    t.keys("Get-ChildI");
    let (id, line, cursor, how) = request(&t.keys("\t"));
    assert_eq!(
        (line.as_str(), cursor, how),
        ("Get-ChildI", 10, CompleteHow::First)
    );
    answer(&mut t, id, 0, 10, &["Get-ChildItem", "Get-Children"]);
    assert_eq!(t.ld.line(), "Get-ChildItem");
    assert_eq!(t.row(), format!("{PROMPT}Get-ChildItem"));
    // Tab again: the next match, no new request.
    let eff = t.keys("\t");
    assert!(!eff.iter().any(|e| matches!(e, Effect::Complete { .. })));
    assert_eq!(t.ld.line(), "Get-Children");
    // Wraps round, then Shift+Tab goes back.
    t.keys("\t");
    assert_eq!(t.ld.line(), "Get-ChildItem");
    t.keys("\x1b[Z");
    assert_eq!(t.ld.line(), "Get-Children");
    assert_eq!(t.row(), format!("{PROMPT}Get-Children"));
    t.assert_screen("after cycling");
    // Typing ends the cycle: the next Tab asks again.
    t.keys(" ");
    let (_, line, _, _) = request(&t.keys("\t"));
    assert_eq!(line, "Get-Children ");
}

#[test]
fn stale_answers_are_dropped_and_typing_never_waits() {
    let mut t = term();
    t.keys("Get-Ch");
    let (old, ..) = request(&t.keys("\t"));
    // The user kept typing before the answer came: it no longer fits the line.
    t.keys("il");
    let eff = answer(&mut t, old, 0, 6, &["Get-ChildItem"]);
    assert!(eff.is_empty(), "a stale answer does nothing: {eff:?}");
    assert_eq!(t.ld.line(), "Get-Chil");
    // A newer request makes an older answer stale too.
    let (first, ..) = request(&t.keys("\t"));
    let (second, ..) = request(&t.keys("\x00"));
    assert!(answer(&mut t, first, 0, 8, &["Get-ChildItem"]).is_empty());
    assert_eq!(t.ld.line(), "Get-Chil");
    // Nothing matches: the bell; an answer outside the line: the bell, never a panic.
    let eff = answer(&mut t, second, 0, 8, &[]);
    assert_eq!(eff, vec![Effect::Bell]);
    let (id, ..) = request(&t.keys("\t"));
    assert_eq!(answer(&mut t, id, 5, 99, &["x"]), vec![Effect::Bell]);
}

#[test]
fn ctrl_space_lists_every_match_under_the_line() {
    let mut t = term();
    t.keys("Write-");
    let (id, _, _, how) = request(&t.keys("\x00"));
    assert_eq!(how, CompleteHow::List);
    answer(
        &mut t,
        id,
        0,
        6,
        &["Write-Debug", "Write-Error", "Write-Host"],
    );
    let screen = t.parser.screen().contents();
    assert!(screen.contains("Write-Debug"), "{screen}");
    assert!(screen.contains("Write-Host"), "{screen}");
    // The line is unchanged and shown again after the list, with the prompt.
    assert_eq!(t.ld.line(), "Write-");
    assert_eq!(t.row(), format!("{PROMPT}Write-"));
    t.assert_screen("after the list");
}

#[test]
fn without_remote_completion_shift_tab_and_ctrl_space_do_nothing() {
    let mut t = Term::new("C:\\>");
    t.keys("ab");
    assert!(t.keys("\x1b[Z\x00").is_empty());
    assert_eq!(t.ld.line(), "ab");
}

#[test]
fn marks_in_the_prompt_are_not_repainted() {
    assert_eq!(
        strip_marks("\x1b]133;D;0\x07\x1b]133;A\x07PS C:\\> \x1b]133;B\x1b\\"),
        "PS C:\\> "
    );
    assert_eq!(
        strip_marks("a\x1b]133;A"),
        "a",
        "unterminated marks are left out"
    );
    assert_eq!(strip_marks("\x1b]0;title\x07x"), "\x1b]0;title\x07x");
    let mut t = term();
    t.output(b"\r\n\x1b]133;A\x07PS> \x1b]133;B\x07");
    assert_eq!(t.ld.prompt(), "PS> ");
    let mut out = Vec::new();
    t.ld.feed("\x0c", &mut out);
    let Effect::Echo(s) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(!s.contains("133;"), "Ctrl+L repaints without marks: {s:?}");
}
