//! A terminal (the `vt100` crate) wired to a `LineDiscipline`, so tests can assert what the user
//! actually sees rather than the escape bytes that produce it.
#![allow(dead_code)]

use unicode_width::UnicodeWidthChar as _;
use winrelay_shared::line::{Effect, LineConfig, LineDiscipline};

/// Wide enough that no test line wraps (the discipline assumes one row).
pub const COLS: u16 = 400;
pub const ROWS: u16 = 24;

pub struct Term {
    pub parser: vt100::Parser,
    pub cols: u16,
    pub ld: LineDiscipline,
    /// Every effect so far, echoes merged per `feed` call as the discipline returns them.
    pub effects: Vec<Effect>,
}

impl Term {
    pub fn new(prompt: &str) -> Self {
        Self::with_config(prompt, LineConfig::default())
    }

    pub fn with_config(prompt: &str, config: LineConfig) -> Self {
        Self::sized(prompt, config, COLS, false)
    }

    /// A terminal `cols` wide whose width the discipline knows, so long lines wrap.
    pub fn narrow(prompt: &str, config: LineConfig, cols: u16) -> Self {
        Self::sized(prompt, config, cols, true)
    }

    fn sized(prompt: &str, config: LineConfig, cols: u16, tell: bool) -> Self {
        let mut t = Self {
            // Narrow terminals are tall: the discipline cannot move above the top of the
            // screen, so a wrapped line must fit on it.
            parser: vt100::Parser::new(if tell { 300 } else { ROWS }, cols, 0),
            cols,
            ld: LineDiscipline::new(config),
            effects: Vec::new(),
        };
        if tell {
            t.ld.set_columns(Some(cols));
        }
        t.output(prompt.as_bytes());
        t
    }

    /// Keystrokes from the browser; returns this call's effects after showing the echoes.
    pub fn keys(&mut self, input: &str) -> Vec<Effect> {
        let mut out = Vec::new();
        self.ld.feed(input, &mut out);
        for e in &out {
            if let Effect::Echo(s) = e {
                self.parser.process(s.as_bytes());
            }
        }
        self.effects.extend(out.iter().cloned());
        out
    }

    /// Output from the remote shell, passed through the discipline as the relay does.
    pub fn output(&mut self, bytes: &[u8]) {
        let shown = self.ld.pass_output(bytes);
        self.parser.process(&shown);
    }

    /// The text of the row the cursor is on, trailing blanks removed.
    pub fn row(&self) -> String {
        let (row, _) = self.parser.screen().cursor_position();
        self.row_at(row)
    }

    pub fn row_at(&self, row: u16) -> String {
        let text = self
            .parser
            .screen()
            .rows(0, self.cols)
            .nth(row as usize)
            .unwrap_or_default();
        text.trim_end().to_owned()
    }

    pub fn col(&self) -> u16 {
        self.parser.screen().cursor_position().1
    }

    pub fn submitted(&self) -> Vec<String> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Submit(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, wanted: &Effect) -> usize {
        self.effects.iter().filter(|e| *e == wanted).count()
    }

    /// Where the cursor is, with the "just wrote the last column" state shown where the next
    /// character will go.
    pub fn cursor(&self) -> (usize, usize) {
        let (row, col) = self.parser.screen().cursor_position();
        if col >= self.cols {
            (row as usize + 1, 0)
        } else {
            (row as usize, col as usize)
        }
    }

    /// The screen shows exactly prompt + line (wrapped at the terminal's width as xterm wraps),
    /// nothing after it, and the cursor sits where the discipline says it is.
    pub fn assert_screen(&self, context: &str) {
        let prompt = self.ld.shown_prompt();
        let line = self.ld.line();
        let cols = self.cols as usize;
        let (rows, _) = layout(&format!("{prompt}{line}"), cols);
        let (_, cursor) = layout(&format!("{prompt}{}", &line[..self.ld.cursor()]), cols);
        let (row, col) = self.cursor();
        assert_eq!(
            col,
            cursor.1,
            "{context}: cursor column differs (line {line:?}, cursor {})",
            self.ld.cursor()
        );
        assert!(row >= cursor.0, "{context}: cursor row above the prompt");
        let top = row - cursor.0;
        let shown: Vec<String> = (top..top + rows.len() + 1)
            .map(|r| self.row_at(r as u16))
            .collect();
        let mut expected = rows.clone();
        expected.push(String::new());
        let expected: Vec<&str> = expected.iter().map(|r| r.trim_end()).collect();
        assert_eq!(
            shown, expected,
            "{context}: screen differs from prompt + line"
        );
    }
}

/// Rows of `text` laid out `cols` wide as xterm does (a wide character that does not fit goes
/// to the next row), and where the next character would go (row, col).
pub fn layout(text: &str, cols: usize) -> (Vec<String>, (usize, usize)) {
    let mut rows = vec![String::new()];
    let mut col = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if w > 0 && col + w > cols {
            rows.push(String::new());
            col = 0;
        }
        col += w;
        rows.last_mut().unwrap().push(c);
    }
    if col >= cols {
        rows.push(String::new());
        col = 0;
    }
    let row = rows.len() - 1;
    (rows, (row, col))
}

/// Cells a string takes, per code point as terminals count them.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}
