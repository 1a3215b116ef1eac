//! Screen snapshots for late joiners and clients that fell behind.
//!
//! [`render`] runs the end of a session's output through a terminal emulator (`avt`) and
//! turns the result into ANSI text that repaints scrollback and screen on a fresh terminal.
//! Sessions keep no emulator of their own: rendering on demand costs a few milliseconds per
//! snapshot instead of emulating every byte of every session.

/// Terminal state of a session, fed with its output.
pub struct Screen {
    vt: avt::Terminal,
    /// Bytes of an incomplete UTF-8 sequence at the end of the last chunk.
    pending: Vec<u8>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen")
            .field("size", &self.vt.size())
            .finish()
    }
}

/// Scrollback lines a snapshot carries: as many as the page keeps (its xterm.js
/// `scrollback`), so a client that skipped ahead keeps the scrollback it is configured for
/// (as far as the log's tail reaches).
pub const SCROLLBACK: usize = 10_000;

impl Screen {
    /// A screen of the given size (clamped to at least 1x1).
    pub fn new(cols: u16, rows: u16) -> Screen {
        let vt = avt::Terminal::with_scrollback(
            cols.max(1) as usize,
            rows.max(1) as usize,
            Some(SCROLLBACK),
        )
        .expect("size is positive");
        Screen {
            vt,
            pending: Vec::new(),
        }
    }

    /// Follows output. Invalid UTF-8 is shown as U+FFFD, as xterm.js does.
    pub fn feed(&mut self, bytes: &[u8]) {
        let owned;
        let mut data = bytes;
        if !self.pending.is_empty() {
            let mut joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(bytes);
            owned = joined;
            data = &owned;
        }
        let mut rest = data;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.vt.feed(s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // SAFETY-free: `good` was just validated.
                    self.vt.feed(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            self.vt.feed('\u{FFFD}');
                            rest = &bad[n..];
                        }
                        None => {
                            // An incomplete sequence at the end: wait for the next chunk.
                            self.pending = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Resizes the screen.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.vt.resize(cols.max(1) as usize, rows.max(1) as usize);
    }

    /// Current size (cols, rows).
    pub fn size(&self) -> (u16, u16) {
        let (c, r) = self.vt.size();
        (c as u16, r as u16)
    }

    /// ANSI bytes that reproduce scrollback and screen on a reset terminal of the same size.
    pub fn snapshot(&self) -> Vec<u8> {
        let (_, rows) = self.vt.size();
        let screen = self.vt.screen();
        let total = screen.all_lines().count();
        let scrollback = total.saturating_sub(rows);
        let mut out = String::new();
        for line in self.vt.screen().all_lines().take(scrollback) {
            out.push_str(line.text().trim_end());
            if !line.is_wrapped() {
                out.push_str("\r\n");
            }
        }
        if scrollback > 0 {
            // Push the scrollback above the screen (rows - 1 line feeds take every row of it
            // off the screen, however many there were), then paint the screen from its top
            // row: no blank rows between scrollback and screen.
            for _ in 1..rows {
                out.push_str("\r\n");
            }
            out.push_str("\x1b[H");
        }
        let dump = self.vt.dump();
        if self.vt.active_screen_kind() == avt::ScreenKind::Primary {
            out.push_str(&trim_padding(&dump, self.vt.screen().visible_lines(), rows));
        } else {
            out.push_str(&dump);
        }
        out.into_bytes()
    }

    /// The visible text, one string per row (for tests and diagnostics).
    pub fn text(&self) -> Vec<String> {
        self.vt
            .screen()
            .visible_lines()
            .map(|l| l.text().trim_end().to_string())
            .collect()
    }
}

/// `avt`'s dump writes every cell of the screen's rows, the blank ones at their ends too: on
/// the client those become spaces that every copy carries. Drops the blanks (default pen)
/// before each row's line break. Rows end in `\r\n` in the dump unless they wrap or are the
/// last; the last row keeps its blanks (its end is not marked).
fn trim_padding<'a>(dump: &str, lines: impl Iterator<Item = &'a avt::Line>, rows: usize) -> String {
    let blanks: Vec<usize> = lines
        .take(rows.saturating_sub(1))
        .filter(|l| !l.is_wrapped())
        .map(|l| {
            l.cells()
                .iter()
                .rev()
                .take_while(|c| c.char() == ' ' && c.pen().is_default())
                .count()
        })
        .collect();
    let mut out = String::with_capacity(dump.len());
    let mut rest = dump;
    for n in blanks {
        let Some(i) = rest.find("\r\n") else {
            break;
        };
        out.push_str(trim_blanks(&rest[..i], n));
        out.push_str("\r\n");
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out
}

/// `row` without up to `n` trailing blanks, written as spaces or as a space repeated with REP
/// (`ESC [ count b`), as `avt` writes runs.
fn trim_blanks(mut row: &str, mut n: usize) -> &str {
    while n > 0 {
        if let Some(r) = row.strip_suffix(' ') {
            row = r;
            n -= 1;
            continue;
        }
        let Some(body) = row.strip_suffix('b') else {
            break;
        };
        let digits = body.len() - body.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let Some(before) = body[..body.len() - digits].strip_suffix("\x1b[") else {
            break;
        };
        let count: usize = body[body.len() - digits..].parse().unwrap_or(1).max(1);
        // The repeated character must be one of the blanks too.
        if !before.ends_with(' ') || count + 1 > n {
            break;
        }
        row = before;
        n -= count;
    }
    row
}

/// A snapshot of what `tail` (the end of an output stream) leaves on a terminal of the given
/// size. Unless the tail is the whole stream (`from_start`), it is read from its first line
/// break on, so that it never starts inside an escape sequence or a character.
pub fn render(tail: &[u8], from_start: bool, cols: u16, rows: u16) -> Vec<u8> {
    let bytes = if from_start {
        tail
    } else {
        match tail.iter().position(|&b| b == b'\n') {
            Some(i) => &tail[i + 1..],
            None => tail,
        }
    };
    let mut screen = Screen::new(cols, rows);
    screen.feed(bytes);
    screen.snapshot()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_repaints_the_same_screen() {
        let mut s = Screen::new(20, 5);
        s.feed(b"C:\\> dir\r\n\x1b[31mred\x1b[0m text\r\nline3\r\nC:\\> ");
        let snap = s.snapshot();
        let mut copy = Screen::new(20, 5);
        copy.feed(&snap);
        assert_eq!(copy.text(), s.text());
        assert_eq!(copy.vt.cursor_position(), s.vt.cursor_position());
    }

    #[test]
    fn snapshot_keeps_scrollback() {
        let mut s = Screen::new(10, 3);
        for i in 0..10 {
            s.feed(format!("l{i}\r\n").as_bytes());
        }
        let mut copy = Screen::new(10, 3);
        copy.feed(&s.snapshot());
        assert_eq!(copy.text(), s.text());
        let all: Vec<String> = copy
            .vt
            .screen()
            .all_lines()
            .map(|l| l.text().trim_end().to_string())
            .collect();
        assert!(all.iter().any(|l| l == "l0"), "scrollback lost: {all:?}");
    }

    #[test]
    fn snapshot_rows_carry_no_padding() {
        let mut s = Screen::new(40, 5);
        s.feed(b"short\r\n\x1b[44mblue  \x1b[0m\r\nlast\r\nC:\\> ");
        let snap = String::from_utf8(s.snapshot()).unwrap();
        assert!(!snap.contains("short "), "padded: {snap:?}");
        assert!(!snap.contains("last "), "padded: {snap:?}");
        assert!(
            snap.contains("blue  "),
            "coloured blanks are kept: {snap:?}"
        );
        let mut copy = Screen::new(40, 5);
        copy.feed(snap.as_bytes());
        assert_eq!(copy.text(), s.text());
        assert_eq!(copy.vt.cursor_position(), s.vt.cursor_position());
    }

    #[test]
    fn snapshot_keeps_the_pages_scrollback() {
        let mut tail = String::new();
        for i in 0..30_000 {
            tail.push_str(&format!("{i}\r\n"));
        }
        let snap = render(tail.as_bytes(), false, 80, 24);
        let mut copy = Screen::new(80, 24);
        copy.feed(&snap);
        let all: Vec<String> = copy
            .vt
            .screen()
            .all_lines()
            .map(|l| l.text().trim_end().to_string())
            .collect();
        assert!(all.len() > SCROLLBACK, "only {} lines", all.len());
        assert_eq!(all[all.len() - 2], "29999");
        // Every line from the first kept to the last, with no blank rows between scrollback
        // and screen.
        let numbers: Vec<usize> = all[..all.len() - 1]
            .iter()
            .map(|l| l.parse().unwrap())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "a gap in {:?}",
            &all[all.len() - 40..]
        );
    }

    #[test]
    fn utf8_split_across_chunks() {
        let mut s = Screen::new(10, 2);
        let bytes = "é€".as_bytes();
        s.feed(&bytes[..1]);
        s.feed(&bytes[1..4]);
        s.feed(&bytes[4..]);
        assert_eq!(s.text()[0], "é€");
        s.feed(b"\r\n\xff!");
        assert_eq!(s.text()[1], "\u{FFFD}!");
    }

    #[test]
    fn render_starts_at_a_line_boundary() {
        // The tail starts in the middle of a colour sequence and a line.
        let tail = b"1;31mhalf a line\r\nwhole line\r\nC:\\> ";
        let snap = render(tail, false, 20, 3);
        let mut copy = Screen::new(20, 3);
        copy.feed(&snap);
        assert_eq!(copy.text(), vec!["whole line", "C:\\>", ""]);
        let whole = render(b"first\r\nsecond", true, 20, 3);
        let mut copy = Screen::new(20, 3);
        copy.feed(&whole);
        assert_eq!(copy.text(), vec!["first", "second", ""]);
    }
}
