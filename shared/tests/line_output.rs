//! Remote output meeting the edited line: the remembered prompt, output arriving while the
//! user types, and repainting for a terminal that joins late.

mod line_support;

use line_support::Term;
use winrelay_shared::line::{LineConfig, LineDiscipline};

#[test]
fn prompt_is_the_last_partial_line() {
    let mut ld = LineDiscipline::default();
    ld.note_output(b"Microsoft Windows\r\n(c) Microsoft\r\n\r\nC:\\Users\\demo>");
    assert_eq!(ld.prompt(), "C:\\Users\\demo>");
    ld.note_output(b"\r\n");
    assert_eq!(ld.prompt(), "");
    ld.note_output(b"C:\\");
    ld.note_output(b">");
    assert_eq!(ld.prompt(), "C:\\>");
}

#[test]
fn prompt_split_inside_a_utf8_character() {
    let mut ld = LineDiscipline::default();
    let bytes = "PS C:\\日本> ".as_bytes();
    ld.note_output(&bytes[..7]);
    ld.note_output(&bytes[7..]);
    assert_eq!(ld.prompt(), "PS C:\\日本> ");
}

#[test]
fn prompt_is_bounded() {
    let mut ld = LineDiscipline::default();
    for _ in 0..1000 {
        ld.note_output("日本語".as_bytes());
    }
    let prompt = ld.prompt();
    assert!(prompt.len() <= 1024, "kept {} bytes", prompt.len());
    assert!(prompt.ends_with("日本語"));
    assert!(!prompt.contains('\u{fffd}'), "cut inside a character");
}

#[test]
fn submit_forgets_the_prompt() {
    let mut t = Term::new("C:\\>");
    t.keys("dir\r");
    assert_eq!(t.ld.prompt(), "");
    t.assert_screen("after Enter");
}

#[test]
fn output_while_typing_keeps_the_line_below_it() {
    let mut t = Term::new("C:\\>");
    t.keys("echo hello\x1b[D\x1b[D");
    t.output(b"\r\nbackground job done\r\nC:\\>");
    assert_eq!(t.row_at(0), "C:\\>", "the typed line left the old row");
    assert_eq!(t.row_at(1), "background job done");
    assert_eq!(t.row(), "C:\\>echo hello");
    assert_eq!(t.ld.cursor(), 8);
    t.assert_screen("after output");
    // Typing goes on where the cursor is.
    t.keys("X");
    assert_eq!(t.ld.line(), "echo helXlo");
    t.assert_screen("typing after output");
}

#[test]
fn output_without_a_line_passes_unchanged() {
    let mut ld = LineDiscipline::default();
    assert_eq!(ld.pass_output(b"abc\r\n"), b"abc\r\n");
    assert_eq!(ld.hide(), "");
}

#[test]
fn redraw_paints_a_late_joiner() {
    let mut t = Term::new("");
    t.output(b"banner\r\nC:\\Users\\demo>");
    t.keys("type 日本.txt\x1b[D\x1b[D");
    // A second browser has seen the remote output but none of the echo.
    let mut late = vt100::Parser::new(24, 80, 0);
    late.process(b"banner\r\nC:\\Users\\demo>");
    late.process(t.ld.redraw().as_bytes());
    assert_eq!(
        late.screen().contents(),
        "banner\nC:\\Users\\demo>type 日本.txt"
    );
    assert_eq!(late.screen().cursor_position(), (1, 14 + 11));
}

#[test]
fn redraw_repaints_a_wrapped_prompt_and_line() {
    let mut t = Term::narrow("", LineConfig::default(), 10);
    t.output(b"C:\\Users\\demo>");
    t.keys("dir C:\\Windows\x01\x1b[C");
    let mut late = vt100::Parser::new(24, 10, 0);
    late.process(b"C:\\Users\\demo>");
    late.process(t.ld.redraw().as_bytes());
    assert_eq!(late.screen().contents(), "C:\\Users\\demo>dir C:\\Windows");
    // Prompt (14 cells) + 1: row 1, column 5.
    assert_eq!(late.screen().cursor_position(), (1, 5));
}

#[test]
fn coloured_prompt_takes_only_its_visible_cells() {
    let prompt = "\x1b[32mPS\x1b[0m \x1b]0;title\x07C:\\> ";
    let mut t = Term::narrow(prompt, LineConfig::default(), 12);
    t.keys("Get-ChildItem\x01\x1b[C\x1b[C");
    // "PS C:\> " is 8 cells: the line starts at column 8 and wraps after 4 characters.
    assert_eq!(t.row_at(0), "PS C:\\> Get-");
    assert_eq!(t.row_at(1), "ChildItem");
    assert_eq!(t.parser.screen().cursor_position(), (0, 10));
    t.keys("\x1b[1;5C");
    assert_eq!(t.parser.screen().cursor_position(), (1, 9));
}

#[test]
fn editing_across_the_margin() {
    let mut t = Term::narrow("C:\\>", LineConfig::default(), 8);
    t.keys("abcdefghij");
    assert_eq!(t.row_at(0), "C:\\>abcd");
    assert_eq!(t.row_at(1), "efghij");
    // Back over the margin and delete there.
    t.keys("\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x7f");
    assert_eq!(t.ld.line(), "abcefghij");
    assert_eq!(t.row_at(0), "C:\\>abce");
    assert_eq!(t.row_at(1), "fghij");
    assert_eq!(t.parser.screen().cursor_position(), (0, 7));
    t.assert_screen("after backspace at the margin");
    // Kill everything: the second row must go too.
    t.keys("\x05\x15");
    assert_eq!(t.row_at(0), "C:\\>");
    assert_eq!(t.row_at(1), "");
    t.assert_screen("after Ctrl+U");
}

#[test]
fn line_ending_exactly_at_the_margin() {
    let mut t = Term::narrow("C:\\>", LineConfig::default(), 8);
    t.keys("abcd");
    // The cursor waits on the next row, as it will for the next character.
    assert_eq!(t.cursor(), (1, 0));
    t.keys("\x1b[D");
    assert_eq!(t.parser.screen().cursor_position(), (0, 7));
    t.keys("\x1b[C\x7f");
    assert_eq!(t.row_at(0), "C:\\>abc");
    t.assert_screen("after backspace");
}

#[test]
fn wide_character_that_does_not_fit_moves_down() {
    let mut t = Term::narrow("C:\\>", LineConfig::default(), 8);
    t.keys("abc日本");
    assert_eq!(t.row_at(0), "C:\\>abc");
    assert_eq!(t.row_at(1), "日本");
    t.keys("\x01\x7f\x1b[3~");
    t.assert_screen("after delete");
    assert_eq!(t.row_at(0), "C:\\>bc日");
    assert_eq!(t.row_at(1), "本");
}

#[test]
fn columns_can_change() {
    let mut t = Term::narrow("C:\\>", LineConfig::default(), 8);
    t.ld.set_columns(None);
    t.ld.set_columns(Some(8));
    t.keys("abcdefgh\x01");
    t.assert_screen("after Home across rows");
}
