//! Table-driven editing cases: keys in (each string is one `feed` call), then the line, the
//! cursor, the submitted lines, and what the terminal shows.

mod line_support;

use line_support::Term;
use winrelay_shared::line::{Effect, LineConfig, TabMode};

const PROMPT: &str = "C:\\Users\\demo>";

struct Case {
    name: &'static str,
    keys: &'static [&'static str],
    line: &'static str,
    /// Cursor as a byte offset into `line`.
    cursor: usize,
    submitted: &'static [&'static str],
}

const fn case(
    name: &'static str,
    keys: &'static [&'static str],
    line: &'static str,
    cursor: usize,
) -> Case {
    Case {
        name,
        keys,
        line,
        cursor,
        submitted: &[],
    }
}

const CASES: &[Case] = &[
    case("typing", &["dir"], "dir", 3),
    case("insert in the middle", &["dr", "\x1b[D", "i"], "dir", 2),
    case("insert at the start", &["ir\x01d"], "dir", 1),
    case("backspace DEL", &["dirx\x7f"], "dir", 3),
    case(
        "backspace BS in the middle",
        &["dxir", "\x1b[D\x1b[D", "\x08"],
        "dir",
        1,
    ),
    case("backspace at the start rings", &["ab\x01\x7f"], "ab", 0),
    case("delete", &["dxir\x01\x1b[C\x1b[3~"], "dir", 1),
    case("delete at the end rings", &["ab\x1b[3~"], "ab", 2),
    case("left and right, CSI", &["abc\x1b[D\x1b[D\x1b[C"], "abc", 2),
    case("left and right, SS3", &["abc\x1bOD\x1bOD\x1bOC"], "abc", 2),
    case("Ctrl+B and Ctrl+F", &["abc\x02\x02\x06"], "abc", 2),
    case("right at the end stays", &["abc\x1b[C"], "abc", 3),
    case("home CSI H", &["abc\x1b[H"], "abc", 0),
    case("home SS3 H", &["abc\x1bOH"], "abc", 0),
    case("home CSI 1~", &["abc\x1b[1~"], "abc", 0),
    case("home CSI 7~", &["abc\x1b[7~"], "abc", 0),
    case("home Ctrl+A", &["abc\x01"], "abc", 0),
    case("end CSI F", &["abc\x01\x1b[F"], "abc", 3),
    case("end SS3 F", &["abc\x01\x1bOF"], "abc", 3),
    case("end CSI 4~", &["abc\x01\x1b[4~"], "abc", 3),
    case("end Ctrl+E", &["abc\x01\x05"], "abc", 3),
    case(
        "word left Ctrl+Left",
        &["echo hello world\x1b[1;5D"],
        "echo hello world",
        11,
    ),
    case(
        "word left twice",
        &["echo hello world\x1b[1;5D\x1b[1;5D"],
        "echo hello world",
        5,
    ),
    case(
        "word left Alt+b",
        &["echo hello world\x1bb\x1bb"],
        "echo hello world",
        5,
    ),
    case(
        "word left Alt+Left",
        &["echo hello\x1b[1;3D"],
        "echo hello",
        5,
    ),
    case(
        "word right Ctrl+Right",
        &["echo hello world\x01\x1b[1;5C"],
        "echo hello world",
        4,
    ),
    case(
        "word right Alt+f twice",
        &["echo hello world\x01\x1bf\x1bf"],
        "echo hello world",
        10,
    ),
    case(
        "words are whitespace runs",
        &["cd C:\\Program Files\\x\x1bb"],
        "cd C:\\Program Files\\x",
        14,
    ),
    case("shift+left is a plain left", &["abc\x1b[1;2D"], "abc", 2),
    case("Ctrl+W", &["echo hello world\x17"], "echo hello ", 11),
    case(
        "Ctrl+W over trailing spaces",
        &["echo hello   \x17"],
        "echo ",
        5,
    ),
    case(
        "Ctrl+W in the middle",
        &["echo hello world\x1b[1;5D\x17"],
        "echo world",
        5,
    ),
    case(
        "Alt+Backspace kills a word",
        &["echo hello\x1b\x7f"],
        "echo ",
        5,
    ),
    case(
        "Ctrl+U kills to start",
        &["echo hello\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x15"],
        "hello",
        0,
    ),
    case(
        "Ctrl+K kills to end",
        &["echo hello\x01\x1b[C\x1b[C\x1b[C\x1b[C\x0b"],
        "echo",
        4,
    ),
    case(
        "Alt+d kills a word forward",
        &["echo hello\x01\x1bd"],
        " hello",
        0,
    ),
    case(
        "Ctrl+Delete kills a word forward",
        &["echo hello\x01\x1b[3;5~"],
        " hello",
        0,
    ),
    case(
        "Ctrl+Y yanks the last kill",
        &["echo hello\x17\x01\x19"],
        "helloecho ",
        5,
    ),
    case("UTF-8 insert", &["héllo\x1b[D\x1b[D", "ß"], "hélßlo", 6),
    case("UTF-8 backspace", &["héllo\x01\x1b[C\x1b[C\x7f"], "hllo", 1),
    case(
        "CJK insert in the middle",
        &["日本語\x1b[D", "x"],
        "日本x語",
        7,
    ),
    case(
        "CJK delete in the middle",
        &["日本語\x01\x1b[3~"],
        "本語",
        0,
    ),
    case("emoji backspace", &["a😀b\x1b[D\x1b[D\x7f"], "😀b", 0),
    case(
        "emoji and CJK home then end",
        &["表😀x\x01\x05"],
        "表😀x",
        8,
    ),
    case(
        "combining mark stays with its base",
        &["e\u{301}x\x1b[D\x1b[D"],
        "e\u{301}x",
        0,
    ),
    case(
        "delete removes base and mark",
        &["e\u{301}x\x01\x1b[3~"],
        "x",
        0,
    ),
    case(
        "unknown sequences are swallowed",
        &["a\x1b[15~b\x1b[1;2Pc\x1b]11;rgb:0/0/0\x07d\x1bxe\x1b[<0;3;4Mf\x1b[?1;2cg\x1bOPh\x1b[Ii"],
        "abcdefghi",
        9,
    ),
    case("OSC ended by ST", &["a\x1b]0;title\x1b\\b"], "ab", 2),
    case("X10 mouse report", &["a\x1b[M !!b"], "ab", 2),
    case(
        "sequence split across feeds",
        &["ab\x1b", "[", "D", "x"],
        "axb",
        2,
    ),
    case(
        "sequence split after ESC[",
        &["ab", "\x1b[", "D", "x"],
        "axb",
        2,
    ),
    case(
        "Escape alone clears the line",
        &["echo one", "\x1b", "echo two"],
        "echo two",
        8,
    ),
    case(
        "Escape on an empty line does nothing",
        &["\x1b", "dir"],
        "dir",
        3,
    ),
    Case {
        name: "Escape leaves history browsing",
        keys: &["one\r", "\x1b[A", "\x1b", "\x1b[B"],
        line: "",
        cursor: 0,
        submitted: &["one\r\n"],
    },
    case(
        "modified sequence split",
        &["echo hello", "\x1b[1;", "5D", "X"],
        "echo Xhello",
        6,
    ),
    case("SS3 split", &["abc\x1bO", "D"], "abc", 2),
    case("Alt split", &["echo hello\x1b", "b"], "echo hello", 5),
    case(
        "overlong CSI dropped",
        &["a\x1b[1111111111111111111111111111111111111111111111111111111111111111111111111111Xb"],
        "ab",
        2,
    ),
    case("lone ESC then Escape sequence", &["ab\x1b\x1b[D"], "ab", 1),
    Case {
        name: "Alt+Enter is Enter",
        keys: &["x\x1b\r"],
        line: "",
        cursor: 0,
        submitted: &["x\r\n"],
    },
    case(
        "control keys without binding do nothing",
        &["a\x00\x07\x0f\x14\x1a\x1fb"],
        "ab",
        2,
    ),
    case("C1 controls are not inserted", &["a\u{85}\u{9b}b"], "ab", 2),
    case("history up on empty history rings", &["ab\x1b[A"], "ab", 2),
    case("tab on empty line inserts 4 spaces", &["\t"], "    ", 4),
    case(
        "tab without match pads to the stop",
        &["abcde\t"],
        "abcde   ",
        8,
    ),
    case(
        "tab in the middle inserts spaces",
        &["ab\x1b[D\t"],
        "a   b",
        4,
    ),
    case("Ctrl+D deletes under the cursor", &["ab\x01\x04"], "b", 0),
    Case {
        name: "Enter CR",
        keys: &["dir\r"],
        line: "",
        cursor: 0,
        submitted: &["dir\r\n"],
    },
    Case {
        name: "Enter LF",
        keys: &["dir\n"],
        line: "",
        cursor: 0,
        submitted: &["dir\r\n"],
    },
    Case {
        name: "Enter CRLF is one line",
        keys: &["dir\r\n"],
        line: "",
        cursor: 0,
        submitted: &["dir\r\n"],
    },
    Case {
        name: "CRLF split across feeds",
        keys: &["dir\r", "\nver\r"],
        line: "",
        cursor: 0,
        submitted: &["dir\r\n", "ver\r\n"],
    },
    Case {
        name: "two Enters submit an empty line",
        keys: &["\r\r"],
        line: "",
        cursor: 0,
        submitted: &["\r\n", "\r\n"],
    },
    Case {
        name: "Enter with the cursor in the middle sends the whole line",
        keys: &["echo hi\x01\r"],
        line: "",
        cursor: 0,
        submitted: &["echo hi\r\n"],
    },
    Case {
        name: "multi-line paste, tail stays",
        keys: &["echo a\recho b\rech"],
        line: "ech",
        cursor: 3,
        submitted: &["echo a\r\n", "echo b\r\n"],
    },
    Case {
        name: "bracketed paste",
        keys: &["\x1b[200~echo a\necho b\r\nif x\tc\x03\x1b[A\x1b[201~"],
        line: "if x    c",
        cursor: 9,
        submitted: &["echo a\r\n", "echo b\r\n"],
    },
    Case {
        name: "bracketed paste split, keys work after it",
        keys: &["x\x1b[200~one\r", "two", "\x1b[20", "1~\x1b[D"],
        line: "two",
        cursor: 2,
        submitted: &["xone\r\n"],
    },
];

#[test]
fn editing_table() {
    run_table(None);
}

/// The same cases in terminals so narrow that prompt and line wrap over several rows.
#[test]
fn editing_table_wrapped() {
    for cols in [5, 9, 16] {
        run_table(Some(cols));
    }
}

fn run_table(cols: Option<u16>) {
    // Run every case and report all failures together.
    let failed: Vec<&str> = CASES
        .iter()
        .filter(|case| std::panic::catch_unwind(|| run_case(case, cols)).is_err())
        .map(|case| case.name)
        .collect();
    assert!(
        failed.is_empty(),
        "{cols:?} columns, failed cases: {failed:#?}"
    );
}

fn run_case(case: &Case, cols: Option<u16>) {
    {
        let mut t = match cols {
            None => Term::new(PROMPT),
            Some(cols) => Term::narrow(PROMPT, LineConfig::default(), cols),
        };
        for (i, keys) in case.keys.iter().enumerate() {
            t.keys(keys);
            t.assert_screen(&format!("{} (after feed {i})", case.name));
        }
        assert_eq!(t.ld.line(), case.line, "{}: line", case.name);
        assert_eq!(t.ld.cursor(), case.cursor, "{}: cursor", case.name);
        assert_eq!(t.submitted(), case.submitted, "{}: submitted", case.name);
        assert!(
            !t.effects
                .iter()
                .any(|e| matches!(e, Effect::Interrupt | Effect::Eof | Effect::Break)),
            "{}: no signal expected, got {:?}",
            case.name,
            t.effects
        );
    }
}

#[test]
fn echo_for_plain_typing_is_the_text() {
    let mut t = Term::new(PROMPT);
    assert_eq!(t.keys("dir"), vec![Effect::Echo("dir".into())]);
    assert_eq!(
        t.keys("\r"),
        vec![
            Effect::Echo("\r\n".into()),
            Effect::Submit("dir\r\n".into())
        ]
    );
}

#[test]
fn refused_keys_ring() {
    for keys in [
        "\x7f", "\x1b[3~", "\x1b[D", "\x1b[C", "\x1b[A", "\x1b[B", "\x17", "\x15", "\x0b",
    ] {
        let mut t = Term::new(PROMPT);
        assert_eq!(
            t.keys(keys),
            vec![Effect::Bell],
            "{keys:?} on an empty line"
        );
    }
}

#[test]
fn ctrl_c_discards_the_line_and_interrupts() {
    let mut t = Term::new(PROMPT);
    t.keys("ping -t host");
    let fx = t.keys("\x03");
    assert_eq!(fx, vec![Effect::Echo("^C\r\n".into()), Effect::Interrupt]);
    assert_eq!(t.ld.line(), "");
    assert_eq!(t.row_at(0), "C:\\Users\\demo>ping -t host^C");
    assert_eq!(t.row(), "");
    assert_eq!(t.col(), 0);
    assert!(t.submitted().is_empty());
    assert_eq!(
        t.ld.history().count(),
        0,
        "an interrupted line is not history"
    );
}

#[test]
fn ctrl_c_with_cursor_in_the_middle_marks_the_end() {
    let mut t = Term::new(PROMPT);
    t.keys("abc\x01\x03");
    assert_eq!(t.row_at(0), "C:\\Users\\demo>abc^C");
    assert_eq!(t.count(&Effect::Interrupt), 1);
}

#[test]
fn ctrl_backslash_is_break() {
    let mut t = Term::new(PROMPT);
    let fx = t.keys("x\x1c");
    assert_eq!(fx.last(), Some(&Effect::Break));
    assert_eq!(t.ld.line(), "");
}

#[test]
fn ctrl_d_on_empty_line_is_eof_and_echoes_nothing() {
    let mut t = Term::new(PROMPT);
    assert_eq!(t.keys("\x04"), vec![Effect::Eof]);
    t.assert_screen("after Ctrl+D");
}

#[test]
fn ctrl_l_clears_and_repaints_prompt_and_line() {
    let mut t = Term::new("");
    t.output(b"banner\r\nmore\r\nC:\\>");
    t.keys("echo hi\x1b[D");
    t.keys("\x0c");
    assert_eq!(
        t.parser.screen().cursor_position().0,
        0,
        "cursor on the top row"
    );
    assert_eq!(t.row_at(0), "C:\\>echo hi");
    assert_eq!(t.row_at(1), "");
    t.assert_screen("after Ctrl+L");
}

#[test]
fn long_input_is_refused_with_a_bell() {
    let config = LineConfig {
        max_line_len: 5,
        ..LineConfig::default()
    };
    let mut t = Term::with_config(PROMPT, config);
    let fx = t.keys("abcdefg");
    assert_eq!(fx, vec![Effect::Echo("abcde".into()), Effect::Bell]);
    assert_eq!(t.keys("x"), vec![Effect::Bell]);
    // A multi-byte character that does not fit whole is refused whole.
    t.keys("\x7f");
    assert_eq!(t.keys("日"), vec![Effect::Bell]);
    assert_eq!(t.ld.line(), "abcd");
    // Each pasted line gets the limit again.
    t.keys("\x15");
    t.keys("\x1b[200~123456789\r12\x1b[201~");
    assert_eq!(t.submitted(), vec!["12345\r\n"]);
    assert_eq!(t.ld.line(), "12");
    t.assert_screen("after overlong paste");
}

#[test]
fn history_up_down_keeps_the_draft() {
    let mut t = Term::new(PROMPT);
    t.keys("one\r");
    t.keys("two\r");
    t.keys("dra");
    t.keys("\x1b[A");
    assert_eq!(t.ld.line(), "two");
    t.assert_screen("up once");
    t.keys("\x1bOA");
    assert_eq!(t.ld.line(), "one");
    t.assert_screen("up twice");
    assert_eq!(t.keys("\x1b[A"), vec![Effect::Bell], "top of history");
    assert_eq!(t.ld.line(), "one");
    t.keys("\x1b[B");
    assert_eq!(t.ld.line(), "two");
    t.keys("\x1bOB");
    assert_eq!(t.ld.line(), "dra");
    assert_eq!(t.ld.cursor(), 3);
    t.assert_screen("back at the draft");
    assert_eq!(t.keys("\x1b[B"), vec![Effect::Bell], "below the draft");
}

#[test]
fn history_entry_can_be_edited_and_submitted() {
    let mut t = Term::new(PROMPT);
    t.keys("echo hello\r");
    t.keys("\x10\x17world\r");
    assert_eq!(t.submitted(), vec!["echo hello\r\n", "echo world\r\n"]);
    assert_eq!(
        t.ld.history().collect::<Vec<_>>(),
        ["echo hello", "echo world"]
    );
}

#[test]
fn history_skips_blank_and_repeated_lines() {
    let mut t = Term::new(PROMPT);
    t.keys("dir\rdir\r\r   \rver\rdir\r");
    assert_eq!(t.ld.history().collect::<Vec<_>>(), ["dir", "ver", "dir"]);
}

#[test]
fn history_is_bounded() {
    let config = LineConfig {
        history_limit: 2,
        ..LineConfig::default()
    };
    let mut t = Term::with_config(PROMPT, config);
    t.keys("a\rb\rc\r");
    assert_eq!(t.ld.history().collect::<Vec<_>>(), ["b", "c"]);
    t.keys("\x1b[A\x1b[A");
    assert_eq!(t.ld.line(), "b");
    assert_eq!(t.keys("\x1b[A"), vec![Effect::Bell]);
}

#[test]
fn history_off_when_limit_is_zero() {
    let config = LineConfig {
        history_limit: 0,
        ..LineConfig::default()
    };
    let mut t = Term::with_config(PROMPT, config);
    t.keys("a\r");
    assert_eq!(t.ld.history().count(), 0);
    assert_eq!(t.keys("\x1b[A"), vec![Effect::Bell]);
}

#[test]
fn tab_completes_a_unique_history_match() {
    let mut t = Term::new(PROMPT);
    t.keys("echo hello\rdir C:\\\r");
    t.keys("ec\t");
    assert_eq!(t.ld.line(), "echo hello");
    assert_eq!(t.ld.cursor(), 10);
    t.assert_screen("after completion");
}

#[test]
fn tab_extends_to_the_common_prefix_then_rings() {
    let mut t = Term::new(PROMPT);
    t.keys("echo apple\recho banana\recho apple\r");
    t.keys("ec\t");
    assert_eq!(t.ld.line(), "echo ");
    assert_eq!(t.keys("\t"), vec![Effect::Bell]);
    t.keys("b\t");
    assert_eq!(t.ld.line(), "echo banana");
    t.assert_screen("after second completion");
}

#[test]
fn tab_with_full_match_only_pads() {
    let mut t = Term::new(PROMPT);
    t.keys("dir\r");
    t.keys("dir\t");
    assert_eq!(t.ld.line(), "dir ");
}

#[test]
fn tab_mode_spaces_never_completes() {
    let config = LineConfig {
        tab: TabMode::Spaces,
        tab_stop: 8,
        ..LineConfig::default()
    };
    let mut t = Term::with_config(PROMPT, config);
    t.keys("echo hello\r");
    t.keys("ec\t");
    assert_eq!(t.ld.line(), "ec      ");
}

#[test]
fn tab_stop_counts_display_columns() {
    let mut t = Term::new(PROMPT);
    t.keys("日\t");
    assert_eq!(t.ld.line(), "日  ");
    t.assert_screen("after tab");
}

#[test]
fn submitted_line_uses_configured_newline() {
    let config = LineConfig {
        newline: "\n",
        ..LineConfig::default()
    };
    let mut t = Term::with_config(PROMPT, config);
    t.keys("ls\r");
    assert_eq!(t.submitted(), vec!["ls\n"]);
}

#[test]
fn paste_effects_come_in_order() {
    let mut t = Term::new(PROMPT);
    let fx = t.keys("a\rb\rc");
    assert_eq!(
        fx,
        vec![
            Effect::Echo("a\r\n".into()),
            Effect::Submit("a\r\n".into()),
            Effect::Echo("b\r\n".into()),
            Effect::Submit("b\r\n".into()),
            Effect::Echo("c".into()),
        ]
    );
}

#[test]
fn large_paste_is_one_echo_per_line() {
    let mut t = Term::new(PROMPT);
    let text = "x".repeat(60_000);
    let fx = t.keys(&text);
    assert_eq!(fx, vec![Effect::Echo(text.clone())]);
    assert_eq!(t.ld.line().len(), 60_000);
}

#[test]
fn escape_clears_the_line_and_the_screen() {
    let mut t = Term::new(PROMPT);
    t.keys("echo one");
    t.keys("\x1b");
    assert_eq!(t.row(), PROMPT);
    t.keys("echo two");
    assert_eq!(t.row(), format!("{PROMPT}echo two"));
    t.keys("\r");
    assert_eq!(t.submitted(), vec!["echo two\r\n"]);
}

fn with_history(lines: &[&str]) -> Term {
    let mut t = Term::new(PROMPT);
    for l in lines {
        t.keys(&format!("{l}\r"));
        t.output(PROMPT.as_bytes());
    }
    t
}

#[test]
fn ctrl_r_finds_older_matches_and_runs_one() {
    let mut t = with_history(&["dir", "echo hello", "echo world", "ver"]);
    t.keys("\x12");
    assert_eq!(t.row(), "(reverse-i-search)'':");
    t.assert_screen("search started");
    t.keys("echo");
    assert_eq!(t.ld.line(), "echo world");
    assert_eq!(t.ld.cursor(), 0, "cursor on the match");
    assert_eq!(t.row(), "(reverse-i-search)'echo': echo world");
    t.assert_screen("first match");
    t.keys(" h");
    assert_eq!(t.ld.line(), "echo hello");
    assert!(t.keys("x").contains(&Effect::Bell));
    assert_eq!(t.row(), "(failed reverse-i-search)'echo hx': echo hello");
    t.assert_screen("failed");
    t.keys("\x7f\x7f\x7f");
    assert_eq!(
        t.ld.line(),
        "echo world",
        "a shorter query starts from the newest again"
    );
    t.keys("\x12");
    assert_eq!(t.ld.line(), "echo hello");
    assert_eq!(t.keys("\x12").last(), Some(&Effect::Bell), "no older match");
    assert_eq!(t.ld.line(), "echo hello");
    t.keys("\r");
    assert_eq!(t.submitted().last().unwrap(), "echo hello\r\n");
    let (row, _) = t.parser.screen().cursor_position();
    assert_eq!(
        t.row_at(row - 1),
        format!("{PROMPT}echo hello"),
        "the real prompt is back"
    );
}

#[test]
fn ctrl_r_escape_and_ctrl_g_give_the_line_back() {
    let mut t = with_history(&["ver", "dir"]);
    for cancel in ["\x1b", "\x07"] {
        t.keys("draft\x1b[D");
        t.keys("\x12");
        t.keys("ve");
        assert_eq!(t.ld.line(), "ver");
        t.keys(cancel);
        assert_eq!(t.ld.line(), "draft");
        assert_eq!(t.ld.cursor(), 4);
        assert_eq!(t.row(), format!("{PROMPT}draft"));
        t.assert_screen("cancelled");
        t.keys("\x1b");
    }
}

#[test]
fn ctrl_r_other_keys_take_the_match() {
    let mut t = with_history(&["echo hello"]);
    t.keys("\x12hel");
    t.keys("\x1b[C");
    assert_eq!(t.ld.line(), "echo hello");
    assert_eq!(t.ld.cursor(), 6);
    assert_eq!(t.row(), format!("{PROMPT}echo hello"));
    t.assert_screen("accepted with Right");
    t.keys("X");
    assert_eq!(t.ld.line(), "echo hXello");
}

#[test]
fn ctrl_r_ends_when_output_arrives() {
    let mut t = with_history(&["echo hello"]);
    t.keys("\x12ello");
    t.output(b"\r\nbackground job done\r\n");
    t.output(PROMPT.as_bytes());
    assert_eq!(t.ld.line(), "echo hello");
    assert_eq!(t.row(), format!("{PROMPT}echo hello"));
    t.assert_screen("after output");
}

#[test]
fn ctrl_r_in_a_narrow_terminal_keeps_the_screen_right() {
    let mut t = Term::narrow(PROMPT, LineConfig::default(), 13);
    t.keys("echo a long line that wraps\r");
    t.output(PROMPT.as_bytes());
    t.keys("x");
    t.keys("\x12");
    t.assert_screen("narrow search");
    t.keys("wraps");
    t.assert_screen("narrow match");
    t.keys("\x1b");
    assert_eq!(t.ld.line(), "x");
    t.assert_screen("narrow cancel");
}

#[test]
fn f8_cycles_entries_starting_with_the_text_before_the_cursor() {
    let mut t = with_history(&["dir a", "echo 1", "dir b"]);
    t.keys("di");
    t.keys("\x1b[19~");
    assert_eq!(t.ld.line(), "dir b");
    assert_eq!(t.ld.cursor(), 2, "cursor stays after the prefix");
    t.assert_screen("F8 once");
    t.keys("\x1b[19~");
    assert_eq!(t.ld.line(), "dir a");
    t.keys("\x1b[19~");
    assert_eq!(t.ld.line(), "dir b", "wraps round to the newest");
    t.keys("\x1b[B");
    assert_eq!(t.ld.line(), "di", "Down goes back to the typed text");
    t.keys("\x15zz");
    assert_eq!(t.keys("\x1b[19~"), vec![Effect::Bell]);
    assert_eq!(t.ld.line(), "zz");
}

#[test]
fn f7_lists_the_history_and_shows_the_line_again() {
    let mut t = with_history(&["dir", "ver"]);
    t.keys("ec\x1b[D");
    t.keys("\x1b[18~");
    let (row, _) = t.parser.screen().cursor_position();
    assert_eq!(t.row_at(row - 3), format!("{PROMPT}ec"));
    assert_eq!(t.row_at(row - 2), "1: dir");
    assert_eq!(t.row_at(row - 1), "2: ver");
    assert_eq!(t.row(), format!("{PROMPT}ec"));
    assert_eq!(t.ld.cursor(), 1);
    t.assert_screen("after F7");
    let mut empty = Term::new(PROMPT);
    assert_eq!(empty.keys("\x1b[18~"), vec![Effect::Bell]);
}
