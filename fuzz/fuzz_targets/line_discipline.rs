//! The line discipline: arbitrary keystrokes interleaved with remote output and terminal
//! widths. It must never panic, keep its cursor on a character boundary inside the line, and
//! never let a line grow past its limit.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use winrelay_shared::line::{Effect, LineConfig, LineDiscipline, TabMode};

#[derive(Arbitrary, Debug)]
enum Op {
    Keys(String),
    Output(Vec<u8>),
    Columns(Option<u16>),
    Redraw,
}

#[derive(Arbitrary, Debug)]
struct Input {
    max_line_len: u8,
    history_limit: u8,
    spaces: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let config = LineConfig {
        max_line_len: usize::from(input.max_line_len) * 4,
        history_limit: usize::from(input.history_limit % 16),
        tab: if input.spaces {
            TabMode::Spaces
        } else {
            TabMode::HistoryOrSpaces
        },
        ..LineConfig::default()
    };
    let max = config.max_line_len;
    let mut ld = LineDiscipline::new(config);
    let mut effects = Vec::new();
    for op in input.ops {
        match op {
            Op::Keys(k) => ld.feed(&k, &mut effects),
            Op::Output(bytes) => {
                let shown = ld.pass_output(&bytes);
                assert!(shown.len() >= bytes.len(), "output is never dropped");
            }
            Op::Columns(c) => ld.set_columns(c),
            Op::Redraw => {
                let _ = ld.redraw();
                let _ = ld.hide();
            }
        }
        let line = ld.line();
        assert!(line.len() <= max, "line {} bytes over the {max} limit", line.len());
        assert!(ld.cursor() <= line.len() && line.is_char_boundary(ld.cursor()));
        assert!(ld.history().count() <= 16);
        for e in effects.drain(..) {
            if let Effect::Submit(s) = e {
                assert!(s.ends_with("\r\n"), "a submitted line ends with the newline");
            }
        }
    }
});
