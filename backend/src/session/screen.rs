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

/// Scrollback lines kept on the server per session.
pub const SCROLLBACK: usize = 1000;

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
            // Push the scrollback above the screen before the screen is painted over it.
            for _ in 0..rows {
                out.push_str("\r\n");
            }
        }
        out.push_str(&self.vt.dump());
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
