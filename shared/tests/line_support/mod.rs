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
    pub ld: LineDiscipline,
    /// Every effect so far, echoes merged per `feed` call as the discipline returns them.
    pub effects: Vec<Effect>,
}

impl Term {
    pub fn new(prompt: &str) -> Self {
        Self::with_config(prompt, LineConfig::default())
    }

    pub fn with_config(prompt: &str, config: LineConfig) -> Self {
        let mut t = Self {
            parser: vt100::Parser::new(ROWS, COLS, 0),
            ld: LineDiscipline::new(config),
            effects: Vec::new(),
        };
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
            .rows(0, COLS)
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

    /// The screen row shows exactly prompt + line, and the cursor sits where the discipline
    /// says it is.
    pub fn assert_screen(&self, context: &str) {
        let prompt = self.ld.prompt();
        let line = self.ld.line();
        let expected = format!("{prompt}{line}");
        assert_eq!(
            self.row(),
            expected.trim_end(),
            "{context}: visible row differs from prompt + line"
        );
        let col = width(&prompt) + width(&line[..self.ld.cursor()]);
        assert_eq!(
            self.col() as usize,
            col,
            "{context}: cursor column differs (line {line:?}, cursor {})",
            self.ld.cursor()
        );
    }
}

/// Cells a string takes, per code point as terminals count them.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}
