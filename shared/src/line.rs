//! The line discipline: local echo and line editing for a remote shell that only has pipes.
//!
//! WinRS hands the remote shell pipes, not a console, so nobody echoes what the user types and
//! nobody edits the line. The relay therefore runs one [`LineDiscipline`] per shared session:
//! raw keystrokes from xterm.js go in through [`LineDiscipline::feed`], and [`Effect`]s come
//! out: bytes to echo to every attached terminal, whole lines for the shell's stdin, and
//! signals (Ctrl+C).
//!
//! **Invariant:** this module is a pure state machine. It knows nothing of sockets, WinRM,
//! clocks or threads, so it builds for wasm32 as well as for the relay and every behaviour is a
//! table of (keys in, effects out).
//!
//! The file has three parts that know little about each other:
//! - key decoding (`Decoder`): turns the byte soup xterm.js sends (escape sequences possibly
//!   split across calls, bracketed paste, `\r\n`) into `Key`s;
//! - the editor ([`LineDiscipline`]'s `key` method and edit primitives): applies a key to the
//!   line and produces the terminal bytes that make the screen match;
//! - history and the prompt remembered from remote output.
//!
//! # How the relay drives it
//! - keystrokes from any browser: [`feed`](LineDiscipline::feed), then act on each [`Effect`]
//!   in order (echo to every terminal, submit to stdin, send a signal);
//! - remote output: send [`pass_output`](LineDiscipline::pass_output)'s bytes to the terminals
//!   instead of the raw output, so a half-typed line moves below output that arrives meanwhile
//!   (or call [`note_output`](LineDiscipline::note_output) if the bytes go out unchanged);
//! - terminal resized: [`set_columns`](LineDiscipline::set_columns);
//! - a browser joins after the output log was replayed: [`redraw`](LineDiscipline::redraw).
//!
//! # Decisions worth knowing
//! - Long lines wrap. Once the relay says how wide the terminals are
//!   ([`LineDiscipline::set_columns`]) the discipline lays prompt and line out as xterm does
//!   and moves across rows; without a width it takes them to be one row, which is right until a
//!   line edited in the middle is wider than the terminal. A wrapped line taller than the screen
//!   cannot be edited above the top row (relative cursor movement stops there).
//! - The prompt is whatever remote output follows the last line break; escape sequences in it
//!   (colours, window titles) take no cells.
//! - Display widths come from `unicode-width` per code point (CJK and emoji take two cells,
//!   combining marks none). xterm.js matches this when its Unicode 11 addon is active.
//!   A combining mark stays glued to the character before it: the cursor never stops between
//!   them, and a mark typed at the very start of the line (with nothing to sit on) is dropped.
//! - Words (Ctrl+W, Ctrl+Left/Right, Alt+B/F/D) are runs of non-whitespace, as in the Windows
//!   console, so `C:\Program Files\x` is two words, not six.
//! - Tab ([`TabMode::HistoryOrSpaces`]): if exactly one distinct history entry starts with the
//!   line (cursor at its end, line not empty), the line becomes that entry; if several do and
//!   they share a longer prefix, the line grows to that prefix; if several do and nothing can be
//!   added, [`Effect::Bell`]; otherwise spaces up to the next multiple of
//!   [`LineConfig::tab_stop`] columns of the line. Tab never does nothing silently.
//! - Ctrl+D on an empty line gives [`Effect::Eof`] (the relay decides: close stdin or end the
//!   session) and echoes nothing; on a non-empty line it deletes the character under the cursor.
//! - Ctrl+C echoes `^C\r\n`, discards the line and gives [`Effect::Interrupt`]. xterm has no
//!   Ctrl+Break key, so Ctrl+\ (0x1c) stands in for it and gives [`Effect::Break`].
//! - The Escape key clears the line, as in cmd.exe and PSReadLine (and cancels a Ctrl+R
//!   search). xterm.js sends the key as a `feed` call holding ESC alone, while Alt+key and
//!   escape sequences come whole in one call, so a call that is exactly ESC is the Escape key.
//!   An ESC at the end of a longer call is kept as the start of a sequence split across calls
//!   (ESC then `b` is Alt+B, as in readline); ESC followed by a character with no binding is
//!   swallowed whole, like every unknown escape sequence.
//! - Ctrl+R is readline's reverse incremental search: the prompt becomes
//!   `(reverse-i-search)'query': ` and the line shows the newest history entry containing the
//!   query; Ctrl+R again goes to older matches, Backspace shortens the query, Enter runs the
//!   match, Escape or Ctrl+G gives the old line back, any other key takes the match and acts on
//!   it. Output arriving meanwhile ends the search, keeping the match.
//! - F7 and F8 are cmd.exe's doskey keys: F7 lists the history (numbered, oldest first) below
//!   the line and shows prompt and line again; F8 goes to the next older entry that starts with
//!   the text before the cursor, leaving the cursor where it was so F8 again goes on (wrapping
//!   round to the newest).
//! - Pasted text (bracketed paste) is taken literally: control characters in it are dropped,
//!   Tab in it becomes spaces (never completion), every line break submits a line.
//! - Lines recalled from history can be edited; the edit is lost when moving to another entry,
//!   except the line that was being typed before Up, which comes back at the bottom.

use std::collections::VecDeque;
use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;

/// Longest escape sequence kept while waiting for its end; longer ones are dropped whole.
const MAX_SEQUENCE: usize = 64;
/// Longest OSC/DCS string swallowed before the decoder gives up waiting for its terminator.
const MAX_STRING_SEQUENCE: usize = 1024;
/// Longest prompt remembered from remote output (bytes of the current partial output line).
const MAX_PROMPT: usize = 1024;
/// Longest Ctrl+R query in bytes.
const MAX_QUERY: usize = 256;

/// Erase from the cursor to the end of the screen: the rest of the row and the rows a longer
/// line used to wrap onto (the line being edited is always the last thing on the screen).
const ERASE_BELOW: &str = "\x1b[J";
/// Home the cursor and clear the screen (Ctrl+L).
const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

/// What the Tab key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TabMode {
    /// Complete from history when the match is unique (or extends the line), otherwise insert
    /// spaces to the next tab stop. The remote shell cannot complete over pipes, so history is
    /// the best local source.
    #[default]
    HistoryOrSpaces,
    /// Always insert spaces to the next tab stop (for pasting indented scripts by hand).
    Spaces,
    /// The remote shell completes (PowerShell's TabExpansion2): Tab, Shift+Tab and
    /// Ctrl+Space give [`Effect::Complete`]; the answer comes back through
    /// [`LineDiscipline::completed`]. Repeated Tab / Shift+Tab cycle through the matches
    /// locally while nothing else was typed.
    Remote,
}

/// Settings of a [`LineDiscipline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineConfig {
    /// How many submitted lines to remember (oldest dropped first). 0 disables history.
    pub history_limit: usize,
    /// Longest line in bytes (without the newline); input beyond it is refused with a Bell.
    pub max_line_len: usize,
    /// What Tab does.
    pub tab: TabMode,
    /// Columns between tab stops when Tab inserts spaces.
    pub tab_stop: usize,
    /// Appended to every submitted line (`"\r\n"` for cmd.exe and PowerShell).
    pub newline: &'static str,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self {
            history_limit: 500,
            max_line_len: 64 * 1024,
            tab: TabMode::HistoryOrSpaces,
            tab_stop: 4,
            newline: "\r\n",
        }
    }
}

/// Something the relay must do after [`LineDiscipline::feed`].
///
/// Effects come in the order they must happen: an `Echo` before a `Submit` belongs on the
/// screen before the line's output. Consecutive echoes are merged into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Write these bytes to every attached terminal.
    Echo(String),
    /// Send this line (newline included) to the remote shell's stdin.
    Submit(String),
    /// Ctrl+C: send the `ctrl_c` signal to the running command.
    Interrupt,
    /// Ctrl+\ (standing in for Ctrl+Break): send the `ctrl_break` signal.
    Break,
    /// Ctrl+D on an empty line: the user wants to end input.
    Eof,
    /// The key was refused (line full, no history left, ambiguous completion): ring the bell.
    Bell,
    /// Ask the remote shell to complete `line` at byte offset `cursor` ([`TabMode::Remote`]).
    /// Answer with [`LineDiscipline::completed`] and the same `id`; an answer for an older
    /// request, or for a line that changed meanwhile, is dropped.
    Complete {
        /// Identifies the request.
        id: u64,
        /// The line as it is now.
        line: String,
        /// The cursor, a byte offset into `line`.
        cursor: usize,
        /// What to do with the matches.
        how: CompleteHow,
    },
}

/// What a completion request wants done with the matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteHow {
    /// Tab: the first match replaces.
    First,
    /// Shift+Tab: the last match replaces.
    Last,
    /// Ctrl+Space: list every match under the line.
    List,
}

/// The remote shell's answer to [`Effect::Complete`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Completion {
    /// Byte offset in the line where the replaced text starts.
    pub start: usize,
    /// Bytes replaced.
    pub len: usize,
    /// What may replace them, best first.
    pub matches: Vec<String>,
}

/// Completion in progress ([`TabMode::Remote`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cycle {
    /// The line before any match was applied.
    original: String,
    /// The answer.
    answer: Completion,
    /// The match on display.
    index: usize,
    /// The line as the last applied match left it: any other edit ends the cycle.
    shown: String,
}

// ---------------------------------------------------------------------------------------------
// Key decoding
// ---------------------------------------------------------------------------------------------

/// One decoded keystroke (or pasted character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// A printable character to insert.
    Char(char),
    Enter,
    Backspace,
    Delete,
    /// Ctrl+D: Eof on an empty line, Delete otherwise.
    CtrlD,
    Left,
    Right,
    Home,
    End,
    WordLeft,
    WordRight,
    Up,
    Down,
    Tab,
    /// A Tab inside a bracketed paste: indentation, never completion.
    PasteTab,
    KillWordBack,
    KillWordForward,
    KillToStart,
    KillToEnd,
    Yank,
    ClearScreen,
    Interrupt,
    Break,
    /// The Escape key on its own: clear the line (cancel a search).
    Escape,
    /// Ctrl+R: reverse incremental history search.
    SearchBack,
    /// Ctrl+G: cancel a search (readline's abort).
    Abort,
    /// F7: list the history.
    HistoryList,
    /// F8: older history entry starting with the text before the cursor.
    PrefixSearch,
    /// Shift+Tab (`ESC [ Z`): previous completion.
    BackTab,
    /// Ctrl+Space (NUL): list the completions.
    ListCompletions,
}

/// Where the decoder is inside an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum EscState {
    #[default]
    Ground,
    /// After ESC.
    Esc,
    /// After `ESC [`, collecting parameters in `Decoder::seq`.
    Csi,
    /// After `ESC O`.
    Ss3,
    /// Inside an OSC/DCS/APC/PM/SOS string, waiting for BEL or ST.
    Str,
    /// Inside a string, just after ESC (maybe the start of ST).
    StrEsc,
    /// After an X10 mouse report `ESC [ M`: this many raw bytes still belong to it.
    Mouse(u8),
}

/// Turns what xterm.js sends into [`Key`]s. Keeps its state across calls, so a sequence split
/// between two `feed` calls decodes as if it came whole.
#[derive(Debug, Default)]
struct Decoder {
    state: EscState,
    /// Parameters and intermediates of the CSI sequence being read (bounded by `MAX_SEQUENCE`).
    seq: String,
    /// The CSI sequence being read outgrew `MAX_SEQUENCE`; it will be swallowed.
    seq_overflow: bool,
    /// Characters swallowed in the current OSC/DCS string.
    str_len: usize,
    /// The previous character was `\r`, so a `\n` right after it is the same line break.
    after_cr: bool,
    /// Inside `ESC [200~ ... ESC [201~`.
    in_paste: bool,
}

impl Decoder {
    fn decode(&mut self, input: &str, keys: &mut Vec<Key>) {
        for c in input.chars() {
            self.step(c, keys);
        }
    }

    fn step(&mut self, c: char, keys: &mut Vec<Key>) {
        if self.state != EscState::Ground {
            self.after_cr = false;
        }
        match self.state {
            EscState::Ground => self.ground(c, keys),
            EscState::Esc => self.after_esc(c, keys),
            EscState::Csi => self.csi(c, keys),
            EscState::Ss3 => {
                self.state = EscState::Ground;
                if let Some(key) = match c {
                    'A' => Some(Key::Up),
                    'B' => Some(Key::Down),
                    'C' => Some(Key::Right),
                    'D' => Some(Key::Left),
                    'H' => Some(Key::Home),
                    'F' => Some(Key::End),
                    // F1-F4 and keypad keys: nothing to do.
                    _ => None,
                } {
                    keys.push(key);
                }
            }
            EscState::Str => {
                self.str_len += 1;
                match c {
                    '\x07' => self.state = EscState::Ground,
                    '\x1b' => self.state = EscState::StrEsc,
                    _ if self.str_len > MAX_STRING_SEQUENCE => self.state = EscState::Ground,
                    _ => {}
                }
            }
            EscState::StrEsc => {
                if c == '\\' {
                    self.state = EscState::Ground;
                } else {
                    // Not ST: the string was cut short by a new sequence.
                    self.state = EscState::Esc;
                    self.after_esc(c, keys);
                }
            }
            EscState::Mouse(left) => {
                self.state = if left > 1 {
                    EscState::Mouse(left - 1)
                } else {
                    EscState::Ground
                };
            }
        }
    }

    fn ground(&mut self, c: char, keys: &mut Vec<Key>) {
        let after_cr = std::mem::replace(&mut self.after_cr, c == '\r');
        if self.in_paste {
            match c {
                '\r' => keys.push(Key::Enter),
                '\n' if !after_cr => keys.push(Key::Enter),
                '\t' => keys.push(Key::PasteTab),
                '\x1b' => self.state = EscState::Esc,
                c if c.is_control() => {}
                c => keys.push(Key::Char(c)),
            }
            return;
        }
        let key = match c {
            '\r' => Key::Enter,
            '\n' if after_cr => return,
            '\n' => Key::Enter,
            '\x1b' => {
                self.state = EscState::Esc;
                return;
            }
            '\x7f' | '\x08' => Key::Backspace,
            '\t' => Key::Tab,
            '\x01' => Key::Home,
            '\x02' => Key::Left,
            '\x03' => Key::Interrupt,
            '\x04' => Key::CtrlD,
            '\x05' => Key::End,
            '\x06' => Key::Right,
            '\x0b' => Key::KillToEnd,
            '\x0c' => Key::ClearScreen,
            '\x0e' => Key::Down,
            '\x07' => Key::Abort,
            '\x10' => Key::Up,
            '\x12' => Key::SearchBack,
            '\x15' => Key::KillToStart,
            '\x17' => Key::KillWordBack,
            '\x19' => Key::Yank,
            '\x1c' => Key::Break,
            '\0' => Key::ListCompletions,
            c if c.is_control() => return,
            c => Key::Char(c),
        };
        keys.push(key);
    }

    fn after_esc(&mut self, c: char, keys: &mut Vec<Key>) {
        self.state = EscState::Ground;
        let key = match c {
            '[' => {
                self.state = EscState::Csi;
                self.seq.clear();
                return;
            }
            'O' => {
                self.state = EscState::Ss3;
                return;
            }
            ']' | 'P' | '_' | '^' | 'X' => {
                self.state = EscState::Str;
                self.str_len = 0;
                return;
            }
            '\x1b' => {
                // A lone Escape key followed by another sequence: the first one does nothing.
                self.state = EscState::Esc;
                return;
            }
            'b' | 'B' => Key::WordLeft,
            'f' | 'F' => Key::WordRight,
            'd' | 'D' => Key::KillWordForward,
            '\x7f' | '\x08' => Key::KillWordBack,
            // Alt+Enter, Alt+Ctrl+key: the Alt adds nothing, the control key still counts.
            c if c.is_control() => return self.ground(c, keys),
            // Alt+anything else: an escape sequence with no meaning here, swallowed whole.
            _ => return,
        };
        if !self.in_paste {
            keys.push(key);
        }
    }

    fn csi(&mut self, c: char, keys: &mut Vec<Key>) {
        match c {
            // Parameter and intermediate bytes.
            '\x20'..='\x3f' => {
                // Nobody sends parameters this long: stop keeping them, and the sequence is
                // swallowed when its final byte comes.
                if self.seq.len() < MAX_SEQUENCE {
                    self.seq.push(c);
                } else {
                    self.seq_overflow = true;
                }
            }
            '\x40'..='\x7e' => {
                self.state = EscState::Ground;
                let seq = std::mem::take(&mut self.seq);
                if std::mem::take(&mut self.seq_overflow) {
                    // Swallowed whole (and inside a paste it cannot be the end marker).
                } else if c == 'M' && seq.is_empty() {
                    self.state = EscState::Mouse(3);
                } else if let Some(key) = self.csi_key(&seq, c) {
                    keys.push(key);
                }
            }
            // Anything else cannot be part of a CSI sequence: drop what we have and let the
            // character count on its own (a control key typed right after a broken sequence).
            _ => {
                self.state = EscState::Ground;
                self.seq.clear();
                self.seq_overflow = false;
                self.ground(c, keys);
            }
        }
    }

    /// The key for `ESC [ seq final`, or `None` for sequences with no binding (swallowed).
    fn csi_key(&mut self, seq: &str, final_char: char) -> Option<Key> {
        let mut params = seq.split(';').map(|p| p.parse::<u32>().ok());
        let first = params.next().flatten();
        // xterm modifier parameter: 1 + (shift 1 | alt 2 | ctrl 4 | meta 8).
        let modifier = params.next().flatten().unwrap_or(1).saturating_sub(1);
        let word = modifier & (2 | 4 | 8) != 0;
        if self.in_paste {
            if final_char == '~' && first == Some(201) {
                self.in_paste = false;
            }
            return None;
        }
        match final_char {
            'A' => Some(Key::Up),
            'B' => Some(Key::Down),
            'C' if word => Some(Key::WordRight),
            'C' => Some(Key::Right),
            'D' if word => Some(Key::WordLeft),
            'D' => Some(Key::Left),
            'H' => Some(Key::Home),
            'F' => Some(Key::End),
            'Z' => Some(Key::BackTab),
            '~' => match first {
                Some(1 | 7) => Some(Key::Home),
                Some(4 | 8) => Some(Key::End),
                Some(3) if modifier & 4 != 0 => Some(Key::KillWordForward),
                Some(3) => Some(Key::Delete),
                Some(18) => Some(Key::HistoryList),
                Some(19) => Some(Key::PrefixSearch),
                Some(200) => {
                    self.in_paste = true;
                    None
                }
                _ => None,
            },
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Display width helpers
// ---------------------------------------------------------------------------------------------

/// Terminal cells a character takes; control characters never reach the line.
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Terminal cells a string takes.
fn str_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// A place on the screen, relative to the start of the row where the prompt begins.
/// `col == columns` means "just wrote the last cell" (the terminal's pending-wrap state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pos {
    row: usize,
    col: usize,
}

/// Where the terminal puts the next character after `text` written from `pos`, with autowrap
/// as xterm does it: a character that does not fit in the row goes to the start of the next
/// one (a wide character at the last column leaves that cell empty).
fn advance(mut pos: Pos, text: &str, columns: usize) -> Pos {
    for c in text.chars() {
        let w = char_width(c);
        if w == 0 {
            continue;
        }
        if pos.col + w > columns {
            pos.row += 1;
            pos.col = 0;
        }
        pos.col += w;
    }
    pos
}

/// Bytes that move the terminal cursor from `from` to `to` (neither in pending-wrap state).
fn move_cursor(out: &mut String, from: Pos, to: Pos) {
    let mut rel = |n: usize, dir: char| match n {
        0 => {}
        1 => {
            let _ = write!(out, "\x1b[{dir}");
        }
        n => {
            let _ = write!(out, "\x1b[{n}{dir}");
        }
    };
    if to.row < from.row {
        rel(from.row - to.row, 'A');
    } else {
        rel(to.row - from.row, 'B');
    }
    if to.col == 0 && from.col != 0 {
        out.push('\r');
    } else if to.col < from.col {
        rel(from.col - to.col, 'D');
    } else {
        rel(to.col - from.col, 'C');
    }
}

/// The prompt's visible characters: escape sequences (colours, titles) take no cells.
fn visible_text(prompt: &str) -> String {
    let mut visible = String::new();
    let mut decoder = Decoder::default();
    let mut keys = Vec::new();
    for c in prompt.chars() {
        if decoder.state == EscState::Ground && c != '\x1b' {
            if !c.is_control() {
                visible.push(c);
            }
        } else {
            // Reuse the key decoder's grammar just to find where each sequence ends.
            decoder.step(c, &mut keys);
        }
    }
    visible
}

// ---------------------------------------------------------------------------------------------
// The line discipline: editing, history, prompt
// ---------------------------------------------------------------------------------------------

/// Local line editing for one shared session. See the [module documentation](self).
#[derive(Debug)]
pub struct LineDiscipline {
    config: LineConfig,
    decoder: Decoder,
    /// The line being edited.
    line: String,
    /// Byte offset into `line`, always on a character boundary and never inside a
    /// base-plus-combining-marks cluster.
    cursor: usize,
    /// Submitted lines, oldest first.
    history: VecDeque<String>,
    /// Index into `history` of the entry on display, `None` when editing a new line.
    browsing: Option<usize>,
    /// The new line as it was when the user pressed Up, restored when coming back down.
    draft: String,
    /// Last text removed by Ctrl+W/U/K or Alt+D, for Ctrl+Y.
    kill: String,
    /// The remote output's current partial line (usually the shell prompt), raw bytes.
    prompt: Vec<u8>,
    /// Terminal width for following wrapped lines; `usize::MAX` when unknown (one long row).
    columns: usize,
    /// A Ctrl+R search in progress.
    search: Option<Search>,
    /// The last completion request ([`TabMode::Remote`]): its id, line and cursor.
    asked: Option<(u64, String, usize, CompleteHow)>,
    /// Ids of completion requests.
    next_completion: u64,
    /// Matches being cycled through.
    cycle: Option<Cycle>,
}

/// A reverse incremental search (Ctrl+R) in progress.
#[derive(Debug)]
struct Search {
    /// What the user typed after Ctrl+R.
    query: String,
    /// Index into `history` of the entry on display, `None` before anything matched.
    found: Option<usize>,
    /// The last key found nothing.
    failed: bool,
    /// The line and cursor before Ctrl+R, given back by Escape or Ctrl+G.
    saved: (String, usize),
}

impl Default for LineDiscipline {
    fn default() -> Self {
        Self::new(LineConfig::default())
    }
}

impl LineDiscipline {
    /// A line discipline with an empty line, no history and no prompt seen yet.
    pub fn new(config: LineConfig) -> Self {
        Self {
            config,
            decoder: Decoder::default(),
            line: String::new(),
            cursor: 0,
            history: VecDeque::new(),
            browsing: None,
            draft: String::new(),
            kill: String::new(),
            prompt: Vec::new(),
            columns: usize::MAX,
            search: None,
            asked: None,
            next_completion: 0,
            cycle: None,
        }
    }

    /// Tell the discipline how wide the terminals are, so that editing a line that wraps onto
    /// several rows moves the cursor across rows. `None` (the default) means unknown: the
    /// prompt and line are taken to fit on one row. Widths below 2 count as 2.
    pub fn set_columns(&mut self, columns: Option<u16>) {
        self.columns = columns.map_or(usize::MAX, |c| usize::from(c.max(2)));
    }

    /// The settings this discipline runs with.
    pub fn config(&self) -> &LineConfig {
        &self.config
    }

    /// The line being edited (without prompt or newline).
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The cursor as a byte offset into [`line`](Self::line) (always a char boundary).
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Submitted lines, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(String::as_str)
    }

    /// The remembered prompt (the remote output's unfinished last line), decoded lossily.
    /// Shell-integration marks (OSC 133) in it are left out: repainting the prompt must not
    /// mark a second prompt.
    pub fn prompt(&self) -> String {
        strip_marks(&String::from_utf8_lossy(&self.prompt))
    }

    /// Feed keystrokes exactly as xterm.js's `onData` delivers them; effects are appended to
    /// `out` in the order they must happen.
    pub fn feed(&mut self, input: &str, out: &mut Vec<Effect>) {
        let mut keys = Vec::new();
        if input == "\x1b" && self.decoder.state == EscState::Ground && !self.decoder.in_paste {
            // The Escape key on its own (see the module documentation).
            keys.push(Key::Escape);
        } else {
            self.decoder.decode(input, &mut keys);
        }
        // Runs of characters are inserted in one edit, so a large paste costs one repaint per
        // line rather than one per character (while searching, each character is a new query).
        let mut run = String::new();
        for key in keys {
            match key {
                Key::Char(c) if self.search.is_none() => run.push(c),
                key => {
                    if !run.is_empty() {
                        self.insert(&run, out);
                        run.clear();
                    }
                    self.key(key, out);
                }
            }
        }
        if !run.is_empty() {
            self.insert(&run, out);
        }
    }

    /// Remember remote output that went to the terminals, so the prompt can be repainted
    /// (Ctrl+L, [`redraw`](Self::redraw)). Only the part after the last line break is kept.
    pub fn note_output(&mut self, bytes: &[u8]) {
        match bytes.iter().rposition(|&b| b == b'\n' || b == b'\r') {
            Some(i) => {
                self.prompt.clear();
                self.prompt.extend_from_slice(&bytes[i + 1..]);
            }
            None => self.prompt.extend_from_slice(bytes),
        }
        if self.prompt.len() > MAX_PROMPT {
            // Not a prompt any more but a long unfinished line: keep its end, starting on a
            // UTF-8 character boundary.
            let mut cut = self.prompt.len() - MAX_PROMPT;
            while cut < self.prompt.len() && (self.prompt[cut] & 0xc0) == 0x80 {
                cut += 1;
            }
            self.prompt.drain(..cut);
        }
    }

    /// Bytes that repaint prompt and line with the cursor in place, for a terminal whose cursor
    /// sits right after the prompt (one that joins late, or whose rows were overwritten).
    pub fn redraw(&self) -> String {
        let mut s = String::new();
        move_cursor(
            &mut s,
            Pos {
                row: self.prompt_end().row,
                col: 1,
            },
            Pos { row: 0, col: 0 },
        );
        s.push_str(&self.shown_prompt());
        s.push_str(ERASE_BELOW);
        self.write_tail(&mut s, 0);
        s
    }

    /// Bytes that take the typed line off the screen, leaving the cursor right after the
    /// prompt, so that remote output can be written as if nobody had typed. Empty when there
    /// is no line.
    pub fn hide(&self) -> String {
        let mut s = String::new();
        if !self.line.is_empty() {
            move_cursor(&mut s, self.visual(self.cursor), self.visual(0));
            s.push_str(ERASE_BELOW);
        }
        s
    }

    /// Remote output arriving while the user may be typing: returns what to send to the
    /// terminals (the line hidden, the output, the line shown again after the new prompt) and
    /// remembers the output as [`note_output`](Self::note_output) does.
    pub fn pass_output(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut s = if self.search.is_some() {
            // Output ends a search, keeping its match: the real prompt comes back and the
            // line is taken off the screen as `hide` does.
            let mut s = String::new();
            move_cursor(&mut s, self.visual(self.cursor), Pos { row: 0, col: 0 });
            self.search = None;
            s.push_str(ERASE_BELOW);
            s.push_str(&self.prompt());
            s.into_bytes()
        } else {
            self.hide().into_bytes()
        };
        s.extend_from_slice(bytes);
        self.note_output(bytes);
        if !self.line.is_empty() {
            let mut again = String::new();
            self.write_tail(&mut again, 0);
            s.extend_from_slice(again.as_bytes());
        }
        s
    }

    /// What stands before the line on screen: the remembered prompt, or during a Ctrl+R
    /// search the search's own (`(reverse-i-search)'query': `).
    pub fn shown_prompt(&self) -> String {
        match &self.search {
            None => self.prompt(),
            Some(search) => format!(
                "({}reverse-i-search)'{}': ",
                if search.failed { "failed " } else { "" },
                search.query
            ),
        }
    }

    /// With the terminal cursor at `from`, draw prompt and line again from the start of the
    /// prompt's row (after the prompt changed, or the whole line did).
    fn repaint(&self, from: Pos, out: &mut Vec<Effect>) {
        let mut s = String::new();
        move_cursor(&mut s, from, Pos { row: 0, col: 0 });
        // Clear first: a wide character pushed to the next row leaves its old cell untouched.
        s.push_str(ERASE_BELOW);
        s.push_str(&self.shown_prompt());
        self.write_tail(&mut s, 0);
        echo(out, &s);
    }

    // --- screen positions --------------------------------------------------------------------

    /// Where the prompt ends (it starts at column 0: it is what follows the last line break).
    fn prompt_end(&self) -> Pos {
        advance(
            Pos { row: 0, col: 0 },
            &visible_text(&self.shown_prompt()),
            self.columns,
        )
    }

    /// Where the character at byte `at` of the line is drawn (pending wrap resolved to the
    /// next row, where the terminal will put it).
    fn visual(&self, at: usize) -> Pos {
        let pos = advance(self.prompt_end(), &self.line[..at], self.columns);
        if pos.col >= self.columns {
            Pos {
                row: pos.row + 1,
                col: 0,
            }
        } else {
            pos
        }
    }

    /// With the terminal cursor at `visual(start)`, write the line from `start` to its end and
    /// put the cursor back at `visual(cursor)`.
    fn write_tail(&self, s: &mut String, start: usize) {
        s.push_str(&self.line[start..]);
        let end = advance(self.visual(start), &self.line[start..], self.columns);
        if end.col >= self.columns {
            // The line ends exactly at the right margin: the terminal waits there to wrap, and
            // relative moves from that state land one column off. A space pushes it to the next
            // row (nothing of the line is there), a backspace steps back onto that space.
            s.push_str(" \x08");
        }
        move_cursor(s, self.visual(self.line.len()), self.visual(self.cursor));
    }

    // --- one key ---------------------------------------------------------------------------

    fn key(&mut self, key: Key, out: &mut Vec<Effect>) {
        if self.search.is_some() && self.search_key(key, out) {
            return;
        }
        if !matches!(key, Key::Tab | Key::BackTab) {
            self.cycle = None;
        }
        match key {
            Key::Char(c) => self.insert(c.encode_utf8(&mut [0; 4]), out),
            Key::Enter => self.submit(out),
            Key::Backspace => match self.prev_boundary(self.cursor) {
                Some(start) => self.edit(start..self.cursor, "", start, out),
                None => bell(out),
            },
            Key::Delete => match self.next_boundary(self.cursor) {
                Some(end) => self.edit(self.cursor..end, "", self.cursor, out),
                None => bell(out),
            },
            Key::CtrlD if self.line.is_empty() => out.push(Effect::Eof),
            Key::CtrlD => self.key(Key::Delete, out),
            Key::Left => match self.prev_boundary(self.cursor) {
                Some(to) => self.move_to(to, out),
                None => bell(out),
            },
            Key::Right => match self.next_boundary(self.cursor) {
                Some(to) => self.move_to(to, out),
                None => bell(out),
            },
            Key::Home => self.move_to(0, out),
            Key::End => self.move_to(self.line.len(), out),
            Key::WordLeft => self.move_to(self.word_start(self.cursor), out),
            Key::WordRight => self.move_to(self.word_end(self.cursor), out),
            Key::Up => self.history_up(out),
            Key::Down => self.history_down(out),
            Key::Tab => self.tab(out),
            Key::PasteTab => self.insert_tab_spaces(out),
            Key::KillWordBack => self.kill(self.word_start(self.cursor)..self.cursor, out),
            Key::KillWordForward => self.kill(self.cursor..self.word_end(self.cursor), out),
            Key::KillToStart => self.kill(0..self.cursor, out),
            Key::KillToEnd => self.kill(self.cursor..self.line.len(), out),
            Key::Yank => {
                let text = self.kill.clone();
                self.insert(&text, out);
            }
            Key::ClearScreen => {
                let mut s = String::from(CLEAR_SCREEN);
                s.push_str(&self.shown_prompt());
                self.write_tail(&mut s, 0);
                echo(out, &s);
            }
            Key::Interrupt => self.abandon("^C\r\n", Effect::Interrupt, out),
            Key::Break => self.abandon("^\\\r\n", Effect::Break, out),
            Key::Escape => {
                self.browsing = None;
                self.draft.clear();
                if !self.line.is_empty() {
                    self.replace_line("", out);
                }
            }
            // Ctrl+G outside a search: nothing to abort.
            Key::Abort => {}
            Key::SearchBack => {
                let from = self.visual(self.cursor);
                self.search = Some(Search {
                    query: String::new(),
                    found: None,
                    failed: false,
                    saved: (self.line.clone(), self.cursor),
                });
                self.repaint(from, out);
            }
            Key::HistoryList => self.history_list(out),
            Key::PrefixSearch => self.prefix_search(out),
            Key::BackTab if self.config.tab == TabMode::Remote => {
                self.remote_tab(CompleteHow::Last, out)
            }
            Key::ListCompletions if self.config.tab == TabMode::Remote => {
                self.remote_tab(CompleteHow::List, out)
            }
            // Without a remote completer these keys have no binding.
            Key::BackTab | Key::ListCompletions => {}
        }
    }

    // --- remote completion -------------------------------------------------------------------

    /// Tab, Shift+Tab or Ctrl+Space with [`TabMode::Remote`]: cycle through the matches on
    /// display, or ask the shell.
    fn remote_tab(&mut self, how: CompleteHow, out: &mut Vec<Effect>) {
        if how != CompleteHow::List {
            if let Some(cycle) = self.cycle.as_mut().filter(|c| c.shown == self.line) {
                let n = cycle.answer.matches.len();
                cycle.index = match how {
                    CompleteHow::Last => (cycle.index + n - 1) % n,
                    _ => (cycle.index + 1) % n,
                };
                let index = cycle.index;
                return self.apply_match(index, out);
            }
        }
        self.cycle = None;
        self.next_completion += 1;
        let id = self.next_completion;
        self.asked = Some((id, self.line.clone(), self.cursor, how));
        out.push(Effect::Complete {
            id,
            line: self.line.clone(),
            cursor: self.cursor,
            how,
        });
    }

    /// The shell's answer to completion request `id`. Dropped when a newer request was made
    /// or the line or cursor changed since; Bell when nothing matches.
    pub fn completed(&mut self, id: u64, answer: Completion, out: &mut Vec<Effect>) {
        if self.asked.as_ref().is_none_or(|a| a.0 != id) {
            return;
        }
        let Some((_, line, cursor, how)) = self.asked.take() else {
            return;
        };
        if line != self.line || cursor != self.cursor || self.search.is_some() {
            return;
        }
        let end = answer.start.checked_add(answer.len);
        let fits = end.is_some_and(|e| {
            e <= line.len() && line.is_char_boundary(answer.start) && line.is_char_boundary(e)
        });
        if answer.matches.is_empty() || !fits {
            return bell(out);
        }
        if how == CompleteHow::List {
            return self.list_matches(&answer.matches, out);
        }
        let index = match how {
            CompleteHow::Last => answer.matches.len() - 1,
            _ => 0,
        };
        self.cycle = Some(Cycle {
            original: line,
            answer,
            index,
            shown: String::new(),
        });
        self.apply_match(index, out);
    }

    /// Puts match `index` of the cycle into the original line.
    fn apply_match(&mut self, index: usize, out: &mut Vec<Effect>) {
        let Some(cycle) = self.cycle.as_ref() else {
            return;
        };
        let a = &cycle.answer;
        let text = &a.matches[index];
        let mut new = cycle.original.clone();
        new.replace_range(a.start..a.start + a.len, text);
        let cursor = a.start + text.len();
        if new.len() > self.config.max_line_len {
            return bell(out);
        }
        let old_len = self.line.len();
        self.edit(0..old_len, &new, cursor, out);
        if let Some(c) = self.cycle.as_mut() {
            c.shown = new;
        }
    }

    /// Ctrl+Space: every match below the line, then prompt and line again.
    fn list_matches(&mut self, matches: &[String], out: &mut Vec<Effect>) {
        let mut s = String::new();
        move_cursor(
            &mut s,
            self.visual(self.cursor),
            self.visual(self.line.len()),
        );
        s.push_str("\r\n");
        let width = matches.iter().map(|m| str_width(m)).max().unwrap_or(0) + 2;
        let columns = if self.columns == usize::MAX {
            80
        } else {
            self.columns
        };
        let per_row = (columns / width.max(1)).max(1);
        for (i, m) in matches.iter().enumerate() {
            s.push_str(m);
            if (i + 1) % per_row == 0 || i + 1 == matches.len() {
                s.push_str("\r\n");
            } else {
                s.push_str(&" ".repeat(width - str_width(m)));
            }
        }
        s.push_str(&self.shown_prompt());
        self.write_tail(&mut s, 0);
        echo(out, &s);
    }

    // --- Ctrl+R ------------------------------------------------------------------------------

    /// A key during a search. Returns false when the key ended the search (keeping the match)
    /// and must now act on the line as usual.
    fn search_key(&mut self, key: Key, out: &mut Vec<Effect>) -> bool {
        // Where the terminal cursor is, with the prompt as it is now.
        let from = self.visual(self.cursor);
        let Some(search) = self.search.as_mut() else {
            return false;
        };
        match key {
            Key::Char(c) => {
                if search.query.len() >= MAX_QUERY {
                    bell(out);
                } else {
                    search.query.push(c);
                    // The entry on display may still match the longer query.
                    let below = search.found.map_or(self.history.len(), |i| i + 1);
                    self.search_step(from, below, out);
                }
            }
            Key::SearchBack => {
                let below = search.found.unwrap_or(self.history.len());
                self.search_step(from, below, out);
            }
            Key::Backspace => {
                if search.query.pop().is_none() {
                    bell(out);
                } else {
                    self.search_step(from, self.history.len(), out);
                }
            }
            Key::Escape | Key::Abort => {
                if let Some(search) = self.search.take() {
                    (self.line, self.cursor) = search.saved;
                }
                self.repaint(from, out);
            }
            _ => {
                self.search = None;
                self.repaint(from, out);
                return false;
            }
        }
        true
    }

    /// Show the newest history entry below index `below` that contains the query (the old
    /// line when the query is empty); Bell and "failed" when there is none.
    fn search_step(&mut self, from: Pos, below: usize, out: &mut Vec<Effect>) {
        let Some(search) = self.search.as_mut() else {
            return;
        };
        let mut hit = None;
        if search.query.is_empty() && search.found.is_none() {
            search.failed = false;
        } else {
            let query = search.query.as_str();
            hit = (0..below).rev().find_map(|i| {
                let at = self.history[i].find(query)?;
                Some((i, at))
            });
            search.failed = hit.is_none();
            if let Some((i, _)) = hit {
                search.found = Some(i);
            }
        }
        let failed = search.failed;
        if let Some((i, at)) = hit {
            self.line.clone_from(&self.history[i]);
            // A query starting with a combining mark matches inside a cluster: the cursor goes
            // to the cluster's start.
            self.cursor = match self.line[at..].chars().next() {
                Some(c) if char_width(c) == 0 => self.prev_boundary(at).unwrap_or(0),
                _ => at,
            };
        }
        self.browsing = None;
        self.repaint(from, out);
        if failed {
            bell(out);
        }
    }

    // --- F7, F8 ------------------------------------------------------------------------------

    /// F7: the history below the line, numbered, then prompt and line again.
    fn history_list(&mut self, out: &mut Vec<Effect>) {
        if self.history.is_empty() {
            return bell(out);
        }
        let mut s = String::new();
        move_cursor(
            &mut s,
            self.visual(self.cursor),
            self.visual(self.line.len()),
        );
        s.push_str("\r\n");
        let width = self.history.len().to_string().len();
        for (i, entry) in self.history.iter().enumerate() {
            let _ = write!(s, "{:>width$}: {entry}\r\n", i + 1);
        }
        s.push_str(&self.shown_prompt());
        self.write_tail(&mut s, 0);
        echo(out, &s);
    }

    /// F8: the next older entry (wrapping round) that starts with the text before the cursor;
    /// the cursor stays put so F8 again goes on with the same prefix.
    fn prefix_search(&mut self, out: &mut Vec<Effect>) {
        let n = self.history.len();
        let prefix = &self.line[..self.cursor];
        let start = self.browsing.unwrap_or(n);
        let hit = (1..=n)
            .map(|k| (start + n - k) % n)
            .find(|&i| self.history[i].starts_with(prefix) && self.history[i] != self.line);
        let Some(i) = hit else {
            return bell(out);
        };
        if self.browsing.is_none() {
            self.draft = self.line.clone();
        }
        self.browsing = Some(i);
        let entry = self.history[i].clone();
        let cursor = self.cursor;
        self.edit(0..self.line.len(), &entry, cursor, out);
    }

    /// Enter: the line goes to the shell and into history.
    fn submit(&mut self, out: &mut Vec<Effect>) {
        let mut s = String::new();
        move_cursor(
            &mut s,
            self.visual(self.cursor),
            self.visual(self.line.len()),
        );
        s.push_str("\r\n");
        echo(out, &s);
        let line = std::mem::take(&mut self.line);
        let mut submitted = line.clone();
        submitted.push_str(self.config.newline);
        out.push(Effect::Submit(submitted));
        self.remember(line);
        self.reset_line();
    }

    /// Ctrl+C / Ctrl+\: the line is dropped and a signal goes out.
    fn abandon(&mut self, mark: &str, signal: Effect, out: &mut Vec<Effect>) {
        let mut s = String::new();
        move_cursor(
            &mut s,
            self.visual(self.cursor),
            self.visual(self.line.len()),
        );
        s.push_str(mark);
        echo(out, &s);
        out.push(signal);
        self.line.clear();
        self.reset_line();
    }

    /// After a line ends, a fresh one starts on a new row with no prompt until the shell
    /// prints one.
    fn reset_line(&mut self) {
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
        self.prompt.clear();
    }

    fn remember(&mut self, line: String) {
        if self.config.history_limit == 0 || line.trim().is_empty() {
            return;
        }
        if self.history.back() == Some(&line) {
            return;
        }
        if self.history.len() == self.config.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(line);
    }

    // --- editing primitives ------------------------------------------------------------------

    /// Insert `text` at the cursor, as much of it as fits in `max_line_len`; Bell if cut.
    fn insert(&mut self, mut text: &str, out: &mut Vec<Effect>) {
        if self.cursor == 0 {
            // A combining mark needs a character before it to sit on; at the start of the line
            // there is none (terminals drop it or put it on the prompt), so it is dropped.
            text = text.trim_start_matches(|c| char_width(c) == 0);
        }
        let room = self.config.max_line_len.saturating_sub(self.line.len());
        let mut take = text.len().min(room);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        if take > 0 {
            let end = self.cursor + take;
            self.edit(self.cursor..self.cursor, &text[..take], end, out);
        }
        if take < text.len() {
            bell(out);
        }
    }

    /// Spaces up to the next tab stop, counted in columns from the start of the line.
    fn insert_tab_spaces(&mut self, out: &mut Vec<Effect>) {
        let stop = self.config.tab_stop.max(1);
        let col = str_width(&self.line[..self.cursor]);
        let n = stop - col % stop;
        self.insert(&" ".repeat(n), out);
    }

    /// Remove `range` into the kill buffer (Bell if it is empty).
    fn kill(&mut self, range: std::ops::Range<usize>, out: &mut Vec<Effect>) {
        if range.is_empty() {
            return bell(out);
        }
        self.kill = self.line[range.clone()].to_owned();
        let start = range.start;
        self.edit(range, "", start, out);
    }

    /// Replace `range` of the line with `with`, put the cursor at `new_cursor` (an offset in the
    /// new line) and echo what makes the screen match: go to the first changed cell, rewrite
    /// everything from there, erase what is left of an old, longer line, and go back to the
    /// cursor.
    fn edit(
        &mut self,
        range: std::ops::Range<usize>,
        with: &str,
        new_cursor: usize,
        out: &mut Vec<Effect>,
    ) {
        let start = range.start;
        let appending = start == self.line.len();
        let mut s = String::new();
        move_cursor(&mut s, self.visual(self.cursor), self.visual(start));
        if !appending {
            // Clear first rather than after: a wide character pushed off the right margin
            // leaves its old cell untouched, and a shorter line leaves old rows behind.
            s.push_str(ERASE_BELOW);
        }
        self.line.replace_range(range, with);
        self.cursor = new_cursor;
        self.write_tail(&mut s, start);
        echo(out, &s);
    }

    /// Move the cursor to `to` (a cluster boundary) without changing the line.
    fn move_to(&mut self, to: usize, out: &mut Vec<Effect>) {
        let mut s = String::new();
        move_cursor(&mut s, self.visual(self.cursor), self.visual(to));
        self.cursor = to;
        echo(out, &s);
    }

    /// Replace the whole line (history, completion), cursor at its end.
    fn replace_line(&mut self, new: &str, out: &mut Vec<Effect>) {
        self.edit(0..self.line.len(), new, new.len(), out);
    }

    // --- cursor positions --------------------------------------------------------------------

    /// Start of the cluster before `at`: the character and the zero-width marks after it.
    fn prev_boundary(&self, at: usize) -> Option<usize> {
        let mut chars = self.line[..at].char_indices().rev();
        let (mut i, c) = chars.next()?;
        if char_width(c) == 0 {
            for (j, c) in chars {
                i = j;
                if char_width(c) != 0 {
                    break;
                }
            }
        }
        Some(i)
    }

    /// End of the cluster after `at`.
    fn next_boundary(&self, at: usize) -> Option<usize> {
        let mut chars = self.line[at..].char_indices();
        let (_, c) = chars.next()?;
        let mut end = at + c.len_utf8();
        for (j, c) in chars {
            if char_width(c) != 0 {
                break;
            }
            end = at + j + c.len_utf8();
        }
        Some(end)
    }

    /// Start of the word at or before `at` (skipping whitespace first).
    fn word_start(&self, mut at: usize) -> usize {
        while let Some(p) = self.prev_boundary(at) {
            if !self.cluster_is_space(p) {
                break;
            }
            at = p;
        }
        while let Some(p) = self.prev_boundary(at) {
            if self.cluster_is_space(p) {
                break;
            }
            at = p;
        }
        at
    }

    /// End of the word at or after `at` (skipping whitespace first).
    fn word_end(&self, mut at: usize) -> usize {
        while at < self.line.len() && self.cluster_is_space(at) {
            at = self.next_boundary(at).unwrap_or(self.line.len());
        }
        while at < self.line.len() && !self.cluster_is_space(at) {
            at = self.next_boundary(at).unwrap_or(self.line.len());
        }
        at
    }

    fn cluster_is_space(&self, at: usize) -> bool {
        self.line[at..]
            .chars()
            .next()
            .is_some_and(char::is_whitespace)
    }

    // --- history and completion --------------------------------------------------------------

    fn history_up(&mut self, out: &mut Vec<Effect>) {
        let index = match self.browsing {
            None if !self.history.is_empty() => {
                self.draft = self.line.clone();
                self.history.len() - 1
            }
            Some(i) if i > 0 => i - 1,
            _ => return bell(out),
        };
        self.browsing = Some(index);
        let entry = self.history[index].clone();
        self.replace_line(&entry, out);
    }

    fn history_down(&mut self, out: &mut Vec<Effect>) {
        let Some(index) = self.browsing else {
            return bell(out);
        };
        let entry = if index + 1 < self.history.len() {
            self.browsing = Some(index + 1);
            self.history[index + 1].clone()
        } else {
            self.browsing = None;
            std::mem::take(&mut self.draft)
        };
        self.replace_line(&entry, out);
    }

    fn tab(&mut self, out: &mut Vec<Effect>) {
        if self.config.tab == TabMode::Remote {
            return self.remote_tab(CompleteHow::First, out);
        }
        if self.config.tab == TabMode::HistoryOrSpaces
            && !self.line.trim().is_empty()
            && self.cursor == self.line.len()
        {
            let mut candidates: Vec<&str> = self
                .history
                .iter()
                .map(String::as_str)
                .filter(|h| h.len() > self.line.len() && h.starts_with(self.line.as_str()))
                .collect();
            candidates.sort_unstable();
            candidates.dedup();
            if let Some(first) = candidates.first() {
                let common = candidates
                    .iter()
                    .fold(first.len(), |n, c| common_prefix_len(&first[..n], c));
                if common > self.line.len() {
                    let completed = first[..common].to_owned();
                    return self.replace_line(&completed, out);
                }
                // Several entries fit and they disagree on the very next character.
                return bell(out);
            }
        }
        self.insert_tab_spaces(out);
    }
}

/// `text` without OSC 133 shell-integration marks (`ESC ] 133 ; ... BEL` or `... ESC \\`).
pub fn strip_marks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\x1b]133;") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = match (after.find('\x07'), after.find("\x1b\\")) {
            (Some(b), Some(st)) if st < b => st + 2,
            (Some(b), _) => b + 1,
            (None, Some(st)) => st + 2,
            // Unterminated: keep it out until its end arrives.
            (None, None) => after.len(),
        };
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Bytes two strings share at their start, cut back to a character boundary.
fn common_prefix_len(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// Append terminal bytes, merging with the echo just before if there is one.
fn echo(out: &mut Vec<Effect>, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(Effect::Echo(prev)) = out.last_mut() {
        prev.push_str(s);
    } else {
        out.push(Effect::Echo(s.to_owned()));
    }
}

fn bell(out: &mut Vec<Effect>) {
    out.push(Effect::Bell);
}
