//! Property: whatever the browser sends, in whatever pieces, and whatever the shell prints in
//! between, the discipline never panics, keeps its line bounded and its cursor valid, and the
//! terminal row always shows exactly prompt + line with the cursor where the discipline says.

mod line_support;

use line_support::Term;
use proptest::prelude::*;
use winrelay_shared::line::LineConfig;

const MAX_LINE: usize = 120;
const HISTORY: usize = 5;

/// Pieces of input: keys with bindings, text of every width, and junk.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z ]{1,4}",
        1 => Just("日本".to_owned()),
        1 => Just("😀".to_owned()),
        1 => Just("é".to_owned()),
        1 => Just("e\u{301}".to_owned()),
        1 => Just("\u{301}".to_owned()),
        1 => prop::sample::select(vec![
            "\r", "\n", "\r\n", "\x7f", "\x08", "\t", "\x01", "\x02", "\x03", "\x04", "\x05",
            "\x06", "\x0b", "\x0c", "\x0e", "\x10", "\x15", "\x17", "\x19", "\x1c", "\x1b",
            "\x1b[A", "\x1b[B", "\x1b[C", "\x1b[D", "\x1bOA", "\x1bOB", "\x1bOC", "\x1bOD",
            "\x1b[H", "\x1b[F", "\x1bOH", "\x1bOF", "\x1b[1~", "\x1b[4~", "\x1b[3~",
            "\x1b[1;5C", "\x1b[1;5D", "\x1b[3;5~", "\x1bb", "\x1bf", "\x1bd", "\x1b\x7f",
            "\x1b[200~", "\x1b[201~", "\x1b[15~", "\x1b]0;t\x07", "\x1b[M", "\x1b[<0;1;1M",
            "\x12", "\x07", "\x1b[18~", "\x1b[19~",
        ])
        .prop_map(str::to_owned),
        // Any char except U+FFFD, which the vt100 model drops on purpose (its parser uses it
        // for invalid UTF-8) while xterm.js shows it like any other character.
        1 => prop::collection::vec(any::<char>().prop_filter("vt100 drops U+FFFD", |c| *c != '\u{fffd}'), 1..4)
            .prop_map(String::from_iter),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    /// Keys, cut into `feed` calls at these char positions.
    Keys(String, Vec<prop::sample::Index>),
    /// Remote output passing by.
    Output(&'static str),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (
            prop::collection::vec(token(), 1..8).prop_map(|t| t.concat()),
            prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        )
            .prop_map(|(keys, cuts)| Op::Keys(keys, cuts)),
        1 => prop::sample::select(vec![
            "\r\nline of output\r\nC:\\> ",
            "more",
            "\r\n",
            "PS C:\\日本> ",
            "",
        ])
        .prop_map(Op::Output),
    ]
}

fn split(keys: &str, cuts: &[prop::sample::Index]) -> Vec<String> {
    let chars: Vec<char> = keys.chars().collect();
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(chars.len() + 1)).collect();
    at.push(0);
    at.push(chars.len());
    at.sort_unstable();
    at.windows(2)
        .map(|w| chars[w[0]..w[1]].iter().collect())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn screen_always_matches_prompt_and_line(
        ops in prop::collection::vec(op(), 1..30),
        cols in prop::option::of(prop::sample::select(vec![4u16, 8, 13, 31])),
    ) {
        let config = LineConfig {
            max_line_len: MAX_LINE,
            history_limit: HISTORY,
            ..LineConfig::default()
        };
        let prompt = "C:\\Users\\demo>";
        let mut t = match cols {
            None => Term::with_config(prompt, config),
            Some(cols) => Term::narrow(prompt, config, cols),
        };
        for op in &ops {
            match op {
                Op::Keys(keys, cuts) => {
                    for piece in split(keys, cuts) {
                        t.keys(&piece);
                        check(&t, &format!("after keys {piece:?}"));
                    }
                }
                Op::Output(bytes) => {
                    t.output(bytes.as_bytes());
                    check(&t, &format!("after output {bytes:?}"));
                }
            }
        }
    }
}

fn check(t: &Term, context: &str) {
    let line = t.ld.line();
    let cursor = t.ld.cursor();
    assert!(cursor <= line.len(), "{context}: cursor past the end");
    assert!(
        line.is_char_boundary(cursor),
        "{context}: cursor inside a char"
    );
    assert!(line.len() <= MAX_LINE, "{context}: line outgrew its limit");
    assert!(
        !line.chars().any(char::is_control),
        "{context}: control character in {line:?}"
    );
    let history: Vec<&str> = t.ld.history().collect();
    assert!(
        history.len() <= HISTORY,
        "{context}: history outgrew its limit"
    );
    assert!(
        history.windows(2).all(|w| w[0] != w[1]),
        "{context}: repeated history entry"
    );
    t.assert_screen(context);
}
