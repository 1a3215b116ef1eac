//! Screen snapshots for late joiners and clients that fell behind.
//!
//! [`render`] runs the end of a session's output through a terminal emulator (`avt`) and
//! turns the result into ANSI text that repaints scrollback and screen on a fresh terminal.
//! Sessions keep no emulator of their own: rendering on demand costs a few milliseconds per
//! snapshot instead of emulating every byte of every session.
//!
//! `avt` discards OSC sequences, so the shell-integration marks (OSC 133, see
//! `core::marks`) are taken out of the stream here: each is noted with the place the cursor
//! was at when it came (its line, counted from the first line ever written, and column) and
//! written back there in the snapshot, in the scrollback text and on the repainted screen.
//! Like an xterm.js marker, a mark stays with its line until the line leaves the scrollback
//! (erasing the line's text keeps it); marks on the alternate screen are not kept.

/// Terminal state of a session, fed with its output.
pub struct Screen {
    vt: avt::Terminal,
    /// Bytes not taken yet: an incomplete UTF-8 sequence or the start of an OSC 133 mark at
    /// the end of the last chunk.
    pending: Vec<u8>,
    /// Primary-screen lines dropped from the top of the scrollback so far.
    evicted: usize,
    /// The OSC 133 marks seen, in stream order.
    marks: Vec<Mark>,
}

/// An OSC 133 mark and where the cursor was when it came.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    /// What follows `133;` (`A`, `B`, `C`, `D`, `D;0`, ...).
    payload: String,
    /// The line: its index in the primary buffer (scrollback and screen) plus the lines
    /// evicted before it.
    line: usize,
    col: usize,
}

/// Counts the lines the scrollback limit drops.
struct Evictions(usize);

impl avt::Observer for Evictions {
    type Output = usize;

    fn evicted(&mut self, _: &mut avt::Observation<'_>, _: &avt::Line) {
        self.0 += 1;
    }

    fn end(&mut self, _: &mut avt::Observation<'_>) -> usize {
        self.0
    }
}

/// How an OSC 133 mark starts.
const MARK_START: &[u8] = b"\x1b]133;";
/// Longest mark payload kept (`D;130;aid=...`); a longer one is not a mark and goes to the
/// emulator (which drops it).
const MAX_MARK: usize = 128;

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
            evicted: 0,
            marks: Vec::new(),
        }
    }

    /// Follows output. Invalid UTF-8 is shown as U+FFFD, as xterm.js does. OSC 133 marks are
    /// noted where the cursor is when they come.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(bytes);
        let mut rest = &data[..];
        loop {
            let Some(at) = find(rest, MARK_START) else {
                // Keep what may be the start of a mark for the next chunk.
                let keep = (1..MARK_START.len())
                    .rev()
                    .find(|&n| rest.ends_with(&MARK_START[..n]))
                    .unwrap_or(0);
                let (text, tail) = rest.split_at(rest.len() - keep);
                self.feed_text(text, true);
                self.pending.extend_from_slice(tail);
                return;
            };
            let body = &rest[at + MARK_START.len()..];
            let end = body
                .iter()
                .take(MAX_MARK + 2)
                .position(|&b| b == 0x07 || b == 0x1b);
            match end {
                None if body.len() <= MAX_MARK => {
                    // Unfinished: wait for the rest.
                    self.feed_text(&rest[..at], false);
                    self.pending.extend_from_slice(&rest[at..]);
                    return;
                }
                Some(n) if body[n] == 0x1b && body.len() == n + 1 => {
                    // ESC at the end: an ST may follow.
                    self.feed_text(&rest[..at], false);
                    self.pending.extend_from_slice(&rest[at..]);
                    return;
                }
                Some(n) if n <= MAX_MARK && (body[n] == 0x07 || body[n + 1] == b'\\') => {
                    self.feed_text(&rest[..at], false);
                    let payload = String::from_utf8_lossy(&body[..n]);
                    if payload.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
                        self.note(payload.into_owned());
                    }
                    let len = if body[n] == 0x07 { n + 1 } else { n + 2 };
                    rest = &body[len..];
                }
                _ => {
                    // Not a mark: the emulator gets it (and drops the OSC).
                    self.feed_text(&rest[..at + 1], false);
                    rest = &rest[at + 1..];
                }
            }
        }
    }

    /// Feeds text to the emulator; an incomplete UTF-8 sequence at its end waits for the
    /// next chunk when `more` may complete it, and is shown as U+FFFD otherwise.
    fn feed_text(&mut self, bytes: &[u8], more: bool) {
        let mut rest = bytes;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.feed_str(s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // `good` was just validated.
                    self.feed_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            self.feed_str("\u{FFFD}");
                            rest = &bad[n..];
                        }
                        None if more => {
                            // An incomplete sequence at the end: wait for the next chunk.
                            self.pending = bad.to_vec();
                            break;
                        }
                        None => {
                            self.feed_str("\u{FFFD}");
                            break;
                        }
                    }
                }
            }
        }
    }

    fn feed_str(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        // A reset (RIS) forgets the buffer, and the terminals forget the marks with it.
        let mut parts = s.split("\x1bc");
        if let Some(first) = parts.next() {
            self.evicted = self.vt.feed_with(first, Evictions(self.evicted));
        }
        for part in parts {
            self.vt.feed("\x1bc");
            self.marks.clear();
            self.evicted = self.vt.feed_with(part, Evictions(self.evicted));
        }
    }

    fn rows(&self) -> usize {
        self.vt.size().1
    }

    /// Lines in the active buffer (scrollback and screen).
    fn lines(&self) -> usize {
        // Exact without walking the buffer when the iterator knows its length (once per mark).
        let lines = self.vt.screen().all_lines();
        match lines.size_hint() {
            (lo, Some(hi)) if lo == hi => lo,
            _ => lines.count(),
        }
    }

    /// Notes a mark at the cursor.
    fn note(&mut self, payload: String) {
        if self.vt.active_screen_kind() != avt::ScreenKind::Primary {
            return;
        }
        let at = self.vt.cursor_position();
        let top = self.lines() - self.rows();
        self.marks.push(Mark {
            payload,
            line: self.evicted + top + at.row.max(0) as usize,
            col: at.col,
        });
    }

    /// Resizes the screen. The marks follow their lines through the reflow.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let top = self.evicted + self.lines().saturating_sub(self.rows());
        let anchors: Vec<_> = std::mem::take(&mut self.marks)
            .into_iter()
            .filter_map(|m| {
                let row = m.line as isize - top as isize;
                let anchor = self.vt.anchor_at(avt::Position {
                    screen: avt::ScreenKind::Primary,
                    col: 0,
                    row,
                })?;
                Some((m, anchor))
            })
            .collect();
        self.vt.resize(cols.max(1) as usize, rows.max(1) as usize);
        let top = self.evicted + self.lines().saturating_sub(self.rows());
        for (mut m, anchor) in anchors {
            if let Some(p) = self.vt.resolve(&anchor) {
                if let Some(line) = (top as isize).checked_add(p.row) {
                    m.line = line.max(0) as usize;
                    m.col = m.col.min(self.vt.size().0);
                    self.marks.push(m);
                }
            }
        }
    }

    /// Current size (cols, rows).
    pub fn size(&self) -> (u16, u16) {
        let (c, r) = self.vt.size();
        (c as u16, r as u16)
    }

    /// ANSI bytes that reproduce scrollback and screen on a reset terminal of the same size,
    /// with the OSC 133 marks where they were.
    pub fn snapshot(&self) -> Vec<u8> {
        let (_, rows) = self.vt.size();
        let screen = self.vt.screen();
        let total = screen.all_lines().count();
        let scrollback = total.saturating_sub(rows);
        let primary = self.vt.active_screen_kind() == avt::ScreenKind::Primary;
        // The marks by line of the buffer (stable: stream order within a place).
        let mut marks: Vec<(usize, usize, &str)> = if primary {
            self.marks
                .iter()
                .filter(|m| m.line >= self.evicted && m.line - self.evicted < total)
                .map(|m| (m.line - self.evicted, m.col, m.payload.as_str()))
                .collect()
        } else {
            Vec::new()
        };
        marks.sort_by_key(|&(line, col, _)| (line, col));
        let mut marks = marks.into_iter().peekable();
        let mut out = String::new();
        for (i, line) in self.vt.screen().all_lines().take(scrollback).enumerate() {
            let cells = line.cells();
            // A wrapped row's blanks are text: the next row continues after them.
            let end = if line.is_wrapped() {
                cells.len()
            } else {
                cells.len()
                    - cells
                        .iter()
                        .rev()
                        .take_while(|c| c.char() == ' ' && c.width() == 1)
                        .count()
            };
            let mut col = 0;
            for (c, cell) in cells.iter().enumerate().take(end) {
                while let Some((_, _, payload)) = marks.next_if(|&(l, mc, _)| l == i && mc <= c) {
                    push_mark(&mut out, payload);
                }
                if cell.width() > 0 {
                    out.push(cell.char());
                }
                col = c + 1;
            }
            while let Some((_, mc, payload)) = marks.next_if(|&(l, _, _)| l == i) {
                if mc > col {
                    // Past the text: move there rather than write padding.
                    out.push_str(&format!("\x1b[{}C", mc - col));
                    col = mc;
                }
                push_mark(&mut out, payload);
            }
            if !line.is_wrapped() {
                out.push_str("\r\n");
            }
        }
        let dump = self.vt.dump();
        if !primary {
            out.push_str(&dump);
            return out.into_bytes();
        }
        let dump = trim_padding(&dump, self.vt.screen().visible_lines(), rows);
        let at = self.vt.cursor_position();
        let cursor_row = at.row.max(0) as usize;
        let cup = format!("\x1b[{};{}H", at.row + 1, at.col + 1);
        // The dump paints the rows with line breaks and then puts the cursor in its place with
        // one CUP. Unless the output saved a cursor (DECSC, which the dump restores), that
        // CUP becomes a move relative to the last painted row, and so do the marks below: the
        // screen then comes out right also on a terminal with other rows than this screen's
        // (a joiner whose window differs), where the painting scrolled or left rows below.
        let relative = (!dump.contains("\x1b7"))
            .then(|| dump.rfind(&cup))
            .flatten();
        if scrollback > 0 {
            // Push the scrollback above the screen (rows - 1 line feeds take every row of it
            // off the screen, however many there were), then paint the screen from the row
            // after it: no blank rows between scrollback and screen.
            for _ in 1..rows {
                out.push_str("\r\n");
            }
            match relative {
                Some(_) if rows > 1 => out.push_str(&format!("\x1b[{}A", rows - 1)),
                Some(_) => {}
                None => out.push_str("\x1b[H"),
            }
        }
        let marks: Vec<(usize, usize, &str)> = marks.collect();
        let Some(i) = relative else {
            // The marks go at their places before the dump's last cursor placement.
            let mut on_screen = String::new();
            for (line, col, payload) in marks {
                on_screen.push_str(&format!("\x1b[{};{}H", line - scrollback + 1, col + 1));
                push_mark(&mut on_screen, payload);
            }
            match dump.rfind(&cup) {
                Some(i) => {
                    out.push_str(&dump[..i]);
                    out.push_str(&on_screen);
                    out.push_str(&dump[i..]);
                }
                None => out.push_str(&dump),
            }
            return out.into_bytes();
        };
        out.push_str(&dump[..i]);
        let painted = painted_rows(self.vt.screen().visible_lines());
        // The dump breaks the line after each painted row but the bottom one.
        move_rows(&mut out, painted.min(rows - 1), cursor_row);
        out.push_str(&format!("\x1b[{}G", at.col + 1));
        out.push_str(&dump[i + cup.len()..]);
        if !marks.is_empty() {
            // The marks on the screen, placed from the cursor (saved and restored).
            out.push_str("\x1b7");
            let mut row = cursor_row;
            for (line, col, payload) in marks {
                let to = line - scrollback;
                move_rows(&mut out, row, to);
                row = to;
                out.push_str(&format!("\x1b[{}G", col + 1));
                push_mark(&mut out, payload);
            }
            out.push_str("\x1b8");
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

/// Moves the cursor from row `from` to row `to` (CUU / CUD).
fn move_rows(out: &mut String, from: usize, to: usize) {
    match to.cmp(&from) {
        std::cmp::Ordering::Less => out.push_str(&format!("\x1b[{}A", from - to)),
        std::cmp::Ordering::Greater => out.push_str(&format!("\x1b[{}B", to - from)),
        std::cmp::Ordering::Equal => {}
    }
}

/// How many rows `avt`'s dump paints: up to the last one with something in it (or that
/// wraps onto the next).
fn painted_rows<'a>(lines: impl Iterator<Item = &'a avt::Line>) -> usize {
    let mut end = 0;
    let mut previous_wrapped = false;
    for (row, line) in lines.enumerate() {
        let blank = line
            .cells()
            .iter()
            .all(|c| c.char() == ' ' && c.width() == 1 && c.pen().is_default());
        if previous_wrapped || line.is_wrapped() || !blank {
            end = row + 1;
        }
        previous_wrapped = line.is_wrapped();
    }
    end
}

/// Writes an OSC 133 mark as the relay writes them (BEL-terminated).
fn push_mark(out: &mut String, payload: &str) {
    out.push_str("\x1b]133;");
    out.push_str(payload);
    out.push('\x07');
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
/// size. Unless the tail is the whole stream (`from_start`), it is read from a point where
/// no escape sequence or character was cut in two (see [`resume_point`]).
pub fn render(tail: &[u8], from_start: bool, cols: u16, rows: u16) -> Vec<u8> {
    let bytes = if from_start {
        tail
    } else {
        &tail[resume_point(tail)..]
    };
    let mut screen = Screen::new(cols, rows);
    screen.feed(bytes);
    screen.snapshot()
}

/// How far into a tail cut from the middle of a stream rendering starts: after its first
/// line break when one is near the start (a whole line first); otherwise at the first
/// escape sequence or after a bell, which no sequence has in its middle; otherwise (a long
/// run of plain text, such as a file without line breaks, whose end is what the screen
/// shows) at the first whole character. Skipping to the first line break wherever it was
/// lost all of such a run: a client that fell behind got a screen without its last line.
fn resume_point(tail: &[u8]) -> usize {
    // "Near": within the first quarter (at least 64 bytes, at most 4 KiB), so that a small
    // output log that is one long line does not count as having a line break near its start.
    let near = (tail.len() / 4).clamp(64, 4096);
    let head = &tail[..tail.len().min(near)];
    if let Some(i) = head.iter().position(|&b| b == b'\n') {
        return i + 1;
    }
    if let Some(i) = head.iter().position(|&b| b == 0x1b || b == 0x07) {
        return if head[i] == 0x07 { i + 1 } else { i };
    }
    // UTF-8 continuation bytes are 0b10xx_xxxx.
    tail.iter()
        .position(|&b| b & 0xc0 != 0x80)
        .unwrap_or(tail.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marks a screen holds: (payload, its line counted from the buffer's end, column,
    /// the line's text). A copy fed with a snapshot must hold the same.
    fn marks(s: &Screen) -> Vec<(String, usize, usize, String)> {
        let lines: Vec<String> =
            s.vt.screen()
                .all_lines()
                .map(|l| l.text().trim_end().to_string())
                .collect();
        s.marks
            .iter()
            .filter(|m| m.line >= s.evicted && m.line - s.evicted < lines.len())
            .map(|m| {
                let i = m.line - s.evicted;
                (m.payload.clone(), lines.len() - i, m.col, lines[i].clone())
            })
            .collect()
    }

    fn copy_of(s: &Screen) -> Screen {
        let (cols, rows) = s.size();
        let mut copy = Screen::new(cols, rows);
        copy.feed(&s.snapshot());
        copy
    }

    const A: &str = "\x1b]133;A\x07";
    const B: &str = "\x1b]133;B\x07";
    const C: &str = "\x1b]133;C\x07";

    fn cmd_command(command: &str, output: &[&str]) -> String {
        let mut s = format!("{A}C:\\Users\\demo>{B}{command}\r\n{C}");
        for l in output {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.push_str("\r\n\x1b]133;D\x07");
        s
    }

    #[test]
    fn cmd_marks_come_back_in_scrollback_and_on_screen() {
        let mut s = Screen::new(40, 6);
        s.feed(b"Microsoft Windows [Version 10.0.20348]\r\n\r\n");
        s.feed(
            cmd_command(
                "dir",
                &[" Volume in drive C", " Directory of C:\\Users\\demo"],
            )
            .as_bytes(),
        );
        s.feed(cmd_command("ver", &["Microsoft Windows [Version 10.0.20348]"]).as_bytes());
        s.feed(format!("{A}C:\\Users\\demo>{B}").as_bytes());
        let before = marks(&s);
        assert_eq!(before.len(), 10, "{before:?}");
        // The first command is in the scrollback by now, the last prompt on screen.
        assert_eq!(before[1], ("B".into(), 8, 14, "C:\\Users\\demo>dir".into()));
        assert_eq!(before[9], ("B".into(), 1, 14, "C:\\Users\\demo>".into()));
        let snap = String::from_utf8(s.snapshot()).unwrap();
        assert_eq!(snap.matches("\x1b]133;").count(), 10, "{snap:?}");
        assert!(!snap.contains(" \r\n"), "padded: {snap:?}");
        // On the screen: after its text, from the cursor, which is saved and restored.
        let screen_marks = &snap[snap.rfind("\x1b7").expect("cursor saved")..];
        assert!(screen_marks.ends_with("\x1b8"), "{snap:?}");
        assert_eq!(screen_marks.matches("\x1b]133;").count(), 7, "{snap:?}");
        let copy = copy_of(&s);
        assert_eq!(marks(&copy), before, "{snap:?}");
        assert_eq!(copy.text(), s.text());
        assert_eq!(copy.vt.cursor_position(), s.vt.cursor_position());
    }

    /// A joiner's terminal may have other rows than the session's screen: the marks stay on
    /// their text all the same.
    #[test]
    fn marks_land_on_their_text_on_a_terminal_with_other_rows() {
        let mut s = Screen::new(40, 6);
        s.feed(b"Microsoft Windows [Version 10.0.20348]\r\n\r\n");
        s.feed(
            cmd_command(
                "dir",
                &[" Volume in drive C", " Directory of C:\\Users\\demo"],
            )
            .as_bytes(),
        );
        s.feed(cmd_command("ver", &["Microsoft Windows [Version 10.0.20348]"]).as_bytes());
        s.feed(format!("{A}C:\\Users\\demo>{B}").as_bytes());
        let on_text = |s: &Screen| -> Vec<(String, usize, String)> {
            marks(s).into_iter().map(|(p, _, c, t)| (p, c, t)).collect()
        };
        let want = on_text(&s);
        let cursor_on = |s: &Screen| {
            let at = s.vt.cursor_position();
            let line = s.vt.screen().line(at.row as usize).unwrap();
            (line.text().trim_end().to_string(), at.col)
        };
        for rows in [4, 5, 7, 12] {
            let mut copy = Screen::new(40, rows);
            copy.feed(&s.snapshot());
            assert_eq!(on_text(&copy), want, "{rows} rows");
            assert_eq!(cursor_on(&copy), cursor_on(&s), "{rows} rows");
            // Every line is there once: the taller terminal shows the scrollback's end above.
            let all: Vec<String> = copy
                .vt
                .screen()
                .all_lines()
                .map(|l| l.text().trim_end().to_string())
                .collect();
            let text = all.join("\n");
            assert_eq!(
                text.matches(" Volume in drive C").count(),
                1,
                "{rows}: {all:?}"
            );
            assert_eq!(
                text.matches("C:\\Users\\demo>ver").count(),
                1,
                "{rows}: {all:?}"
            );
        }
    }

    #[test]
    fn powershell_marks_keep_their_status_and_the_column_after_the_prompts_space() {
        let mut s = Screen::new(50, 4);
        let prompt = format!("{A}PS C:\\Users\\demo> {B}");
        // An empty line first: its prompt row is "PS C:\Users\demo>" once trimmed, its B
        // one column further.
        s.feed(format!("{prompt}\r\n\x1b]133;D;0\x07").as_bytes());
        s.feed(prompt.as_bytes());
        s.feed(b"Get-Item nope\r\n");
        s.feed(format!("{C}\x1b[91mGet-Item: Cannot find path 'nope'\x1b[0m\r\n").as_bytes());
        s.feed(format!("\x1b]133;D;1\x07{prompt}Write-Output ok\r\n{C}ok\r\n").as_bytes());
        s.feed(format!("\x1b]133;D;0\x07{prompt}").as_bytes());
        let before = marks(&s);
        assert_eq!(
            before[..3],
            [
                ("A".into(), 6, 0, "PS C:\\Users\\demo>".into()),
                ("B".into(), 6, 18, "PS C:\\Users\\demo>".into()),
                (
                    "D;0".into(),
                    5,
                    0,
                    "PS C:\\Users\\demo> Get-Item nope".into()
                ),
            ]
        );
        let before_all = before.clone();
        let before = before[3..].to_vec();
        // The failed command's marks are in the scrollback: B one column after "PS ...>",
        // past the row's trimmed text.
        assert_eq!(
            before[0],
            ("A".into(), 5, 0, "PS C:\\Users\\demo> Get-Item nope".into())
        );
        assert_eq!(before[1].2, 18);
        assert_eq!(
            before[3],
            (
                "D;1".into(),
                3,
                0,
                "PS C:\\Users\\demo> Write-Output ok".into()
            )
        );
        let snap = String::from_utf8(s.snapshot()).unwrap();
        assert!(
            snap.contains("PS C:\\Users\\demo>\x1b[1C\x1b]133;B\x07\r\n"),
            "{snap:?}"
        );
        let copy = copy_of(&s);
        assert_eq!(marks(&copy), before_all);
        // On screen: the last prompt's B sits after the space, and the cursor with it.
        assert_eq!(copy.vt.cursor_position().col, 18);
        let last = before.last().unwrap();
        assert_eq!((last.0.as_str(), last.1, last.2), ("B", 1, 18));
    }

    #[test]
    fn a_mark_on_a_wrapped_row_and_one_split_across_chunks() {
        let mut s = Screen::new(10, 3);
        s.feed(format!("{A}C:\\>{B}echo 0123456789abcdef\r\n").as_bytes());
        // ST-terminated and cut in the middle: one mark, written back with BEL.
        for b in b"\x1b]133;C\x1b\\0123456789abc\r\nx\r\ny\r\nz" {
            s.feed(&[*b]);
        }
        let before = marks(&s);
        assert_eq!(before.len(), 3, "{before:?}");
        assert_eq!(before[2].0, "C");
        let snap = String::from_utf8(s.snapshot()).unwrap();
        assert!(snap.contains("\x1b]133;C\x07"), "{snap:?}");
        assert!(!snap.contains("\x1b\\"), "{snap:?}");
        assert_eq!(marks(&copy_of(&s)), before, "{snap:?}");
    }

    #[test]
    fn marks_that_left_the_scrollback_are_dropped_the_others_stay_with_their_lines() {
        let mut tail = cmd_command("seq", &[]);
        for i in 0..(SCROLLBACK + 100) {
            tail.push_str(&format!("{i}\r\n"));
        }
        tail.push_str(&cmd_command("echo after-burst", &["after-burst"]));
        tail.push_str(&format!("{A}C:\\Users\\demo>{B}"));
        let snap = render(tail.as_bytes(), true, 80, 24);
        let mut copy = Screen::new(80, 24);
        copy.feed(&snap);
        let got = marks(&copy);
        // The first command's A, B and C are gone with their lines.
        let payloads: Vec<&str> = got.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(payloads, ["A", "B", "C", "D", "A", "B"], "{got:?}");
        assert_eq!(got[1].3, "C:\\Users\\demo>echo after-burst");
        assert_eq!(got[2].3, "after-burst");
    }

    #[test]
    fn no_marks_from_the_alternate_screen() {
        let mut s = Screen::new(20, 4);
        s.feed(format!("{A}C:\\>{B}edit\r\n{C}\x1b[?1049h{A}full screen").as_bytes());
        let snap = String::from_utf8(s.snapshot()).unwrap();
        assert!(!snap.contains("\x1b]133"), "{snap:?}");
        s.feed(b"\x1b[?1049l");
        // Back on the primary screen its marks are there again, the alternate one's not.
        assert_eq!(marks(&copy_of(&s)).len(), 3);
    }

    #[test]
    fn a_reset_forgets_the_marks() {
        let mut s = Screen::new(20, 4);
        s.feed(format!("{A}C:\\>{B}\x1bcafter").as_bytes());
        assert!(marks(&s).is_empty());
        assert!(!String::from_utf8(s.snapshot()).unwrap().contains("133"));
    }

    #[test]
    fn marks_follow_their_lines_through_a_resize() {
        let mut s = Screen::new(20, 4);
        s.feed(format!("one\r\n{A}C:\\>{B}two\r\nthree").as_bytes());
        s.resize(30, 6);
        let m = marks(&s);
        assert_eq!(m[0].3, "C:\\>two");
        assert_eq!(m[1].2, 4);
    }

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
        // Without a line break near the start: the first sequence.
        let tail = b"1;31mhalf \x1b[0ma line";
        let mut copy = Screen::new(20, 3);
        copy.feed(&render(&tail[..], false, 20, 3));
        assert_eq!(copy.text(), vec!["a line", "", ""]);
        let whole = render(b"first\r\nsecond", true, 20, 3);
        let mut copy = Screen::new(20, 3);
        copy.feed(&whole);
        assert_eq!(copy.text(), vec!["first", "second", ""]);
    }

    #[test]
    fn render_keeps_the_end_of_a_long_line_without_line_breaks() {
        // A client that fell behind while a file without line breaks printed: the tail is
        // one long line, cut in the middle of a character, then the marker and the prompt.
        let mut tail = "é".as_bytes()[1..].to_vec();
        tail.extend(std::iter::repeat_n(b'x', 199_994));
        tail.extend_from_slice(b"DONE42\r\nC:\\> ");
        let mut copy = Screen::new(100, 5);
        copy.feed(&render(&tail, false, 100, 5));
        let text = copy.text();
        assert_eq!(text[3], format!("{}DONE42", "x".repeat(94)), "{text:?}");
        assert_eq!(text[4], "C:\\>");
        assert!(text[..3].iter().all(|r| r == &"x".repeat(100)), "{text:?}");
    }
}
