//! Output shaping between a WinRS shell and the terminals: remote echo suppression and
//! newline translation. Plain code, no I/O.
//!
//! The relay edits and echoes each line locally (WinRS gives pipes, not a terminal). Some
//! shells print each command line they read after their prompt (cmd.exe reading a pipe
//! does, as does the simulator's bash); shown as is, every command would appear twice.
//! [`EchoFilter`] remembers each submitted line with the prompt that was on screen and drops
//! the line's echo where it appears: right after that prompt. A shell that does not echo
//! (PowerShell reading stdin) simply never matches, and expectations are dropped at the next
//! prompt that is followed by something else, so output is never held back for long.
//!
//! [`Newlines`] turns a bare `\n` into `\r\n`, as a terminal's output processing (`onlcr`)
//! does: programs behind WinRS may print either, the screen needs both.

use std::collections::VecDeque;

/// Most submitted lines remembered for echo suppression.
const MAX_EXPECTED: usize = 256;
/// Longest partial line remembered to recognise a prompt.
const MAX_PROMPT: usize = 512;

#[derive(Debug)]
struct Expected {
    prompt: Vec<u8>,
    line: Vec<u8>,
}

/// Drops the remote shell's echo of lines the relay already echoed.
#[derive(Debug, Default)]
pub struct EchoFilter {
    expected: VecDeque<Expected>,
    /// Bytes since the last line break of the remote output (bounded).
    partial: Vec<u8>,
    /// Bytes held back while they might be an echo.
    held: Vec<u8>,
    /// True while `held` is being matched against the front expectation.
    matching: bool,
}

impl EchoFilter {
    /// A line (without its newline) was sent to the shell while the remote output's last
    /// line (the prompt) was on screen.
    pub fn submitted(&mut self, line: &str) {
        if self.partial.is_empty() {
            // No prompt: a program is reading; nothing will echo.
            return;
        }
        match self.expected.front() {
            // Typed ahead: the shell has not yet read the previous line at this prompt. Its
            // local echo stands below that line, away from the prompt the shell will print
            // for it, so the shell's own echo after that prompt stays (as a terminal shows
            // typeahead again after each prompt).
            Some(front) if front.prompt == self.partial => return,
            // Still waiting for an echo at another prompt: that line was read by a program.
            Some(_) if !self.matching => self.expected.clear(),
            _ => {}
        }
        if self.expected.len() == MAX_EXPECTED && !self.matching {
            self.expected.pop_front();
        }
        self.expected.push_back(Expected {
            prompt: self.partial.clone(),
            line: line.as_bytes().to_vec(),
        });
    }

    /// Forget pending expectations (after Ctrl+C, the shell discards unread input).
    pub fn clear(&mut self) {
        self.expected.clear();
    }

    /// Filters a chunk of remote output.
    pub fn filter(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        if self.expected.is_empty() && !self.matching {
            // Fast path for bulk output: nothing to look for.
            out.extend_from_slice(data);
            self.track(data);
            return out;
        }
        self.run(data, &mut out);
        out
    }

    fn run(&mut self, data: &[u8], out: &mut Vec<u8>) {
        for (i, &b) in data.iter().enumerate() {
            if !self.matching && !self.partial.is_empty() {
                // At the prompt a submitted line was typed at, its echo may follow. Lines
                // queued before it were read by a program, not the shell: forget them.
                if let Some(k) = self.expected.iter().position(|e| e.prompt == self.partial) {
                    self.expected.drain(..k);
                    self.matching = true;
                }
            }
            if !self.matching {
                out.push(b);
                self.track(&[b]);
                continue;
            }
            self.held.push(b);
            let exp = &self.expected[0];
            let n = self.held.len();
            let ok = if n <= exp.line.len() {
                exp.line[n - 1] == b
            } else if n == exp.line.len() + 1 {
                b == b'\n' || b == b'\r'
            } else {
                b == b'\n' && self.held[n - 2] == b'\r'
            };
            if ok && b == b'\n' {
                // The echo, line break included: drop it.
                self.held.clear();
                self.matching = false;
                self.expected.pop_front();
                self.partial.clear();
            } else if !ok {
                // Not the echo: forget this expectation and look at the held bytes again,
                // in order, against the next one.
                self.matching = false;
                self.expected.pop_front();
                let held = std::mem::take(&mut self.held);
                self.run(&held, out);
                let rest = data[i + 1..].to_vec();
                self.run(&rest, out);
                return;
            }
        }
    }

    fn track(&mut self, data: &[u8]) {
        match data.iter().rposition(|&b| b == b'\n' || b == b'\r') {
            Some(i) => {
                self.partial.clear();
                self.partial
                    .extend_from_slice(&data[i + 1..data.len().min(i + 1 + MAX_PROMPT)]);
            }
            None => {
                let room = MAX_PROMPT.saturating_sub(self.partial.len());
                self.partial
                    .extend_from_slice(&data[..data.len().min(room)]);
            }
        }
    }
}

/// Translates bare `\n` into `\r\n`.
#[derive(Debug, Default)]
pub struct Newlines {
    last_cr: bool,
}

impl Newlines {
    /// Translates a chunk; state carries across chunks.
    pub fn translate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + data.len() / 16);
        for &b in data {
            if b == b'\n' && !self.last_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_cr = b == b'\r';
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: &mut EchoFilter, chunks: &[&str]) -> String {
        chunks
            .iter()
            .map(|c| String::from_utf8(f.filter(c.as_bytes())).unwrap())
            .collect()
    }

    #[test]
    fn drops_the_echo_after_the_prompt() {
        let mut f = EchoFilter::default();
        assert_eq!(run(&mut f, &["C:\\> "]), "C:\\> ");
        f.submitted("dir");
        assert_eq!(
            run(&mut f, &["dir\r\n", "a.txt\r\nC:\\> "]),
            "a.txt\r\nC:\\> "
        );
    }

    #[test]
    fn echo_split_across_chunks_and_lf_only() {
        let mut f = EchoFilter::default();
        run(&mut f, &["P> "]);
        f.submitted("echo hi");
        assert_eq!(
            run(&mut f, &["ec", "ho h", "i", "\n", "hi\nP> "]),
            "hi\nP> "
        );
    }

    #[test]
    fn typed_ahead_lines_show_again_after_their_prompt() {
        let mut f = EchoFilter::default();
        run(&mut f, &["P> "]);
        f.submitted("echo a");
        f.submitted("echo b");
        // The first line's echo is dropped (its local echo is right after the prompt); the
        // second was typed ahead and shows after the prompt the shell prints for it.
        assert_eq!(
            run(&mut f, &["echo a\na\nP> echo b\nb\nP> "]),
            "a\nP> echo b\nb\nP> "
        );
        // Then the next line typed at a fresh prompt is matched again.
        f.submitted("echo c");
        assert_eq!(run(&mut f, &["echo c\nc\nP> "]), "c\nP> ");
    }

    #[test]
    fn a_shell_that_does_not_echo_loses_nothing() {
        let mut f = EchoFilter::default();
        run(&mut f, &["PS> "]);
        f.submitted("Write-Host hi");
        assert_eq!(run(&mut f, &["hi\nPS> ", "output\n"]), "hi\nPS> output\n");
        // The expectation was dropped at the mismatch.
        assert!(f.expected.is_empty());
    }

    #[test]
    fn input_read_by_a_program_is_not_swallowed() {
        let mut f = EchoFilter::default();
        run(&mut f, &["C:\\> "]);
        f.submitted("set /p x=Name? ");
        run(&mut f, &["set /p x=Name? \r\n", "Name? "]);
        f.submitted("bob");
        // No echo of "bob": the program's next output passes unchanged.
        assert_eq!(run(&mut f, &["\r\nC:\\> "]), "\r\nC:\\> ");
        // The stale expectation does not block the next line's.
        f.submitted("dir");
        assert_eq!(run(&mut f, &["dir\r\nfiles\r\n"]), "files\r\n");
        assert!(f.expected.is_empty());
    }

    #[test]
    fn near_miss_is_released_in_order() {
        let mut f = EchoFilter::default();
        run(&mut f, &["P> "]);
        f.submitted("echo abc");
        assert_eq!(run(&mut f, &["echo abX\n"]), "echo abX\n");
    }

    #[test]
    fn newlines() {
        let mut n = Newlines::default();
        assert_eq!(n.translate(b"a\nb\r\nc\r"), b"a\r\nb\r\nc\r");
        assert_eq!(n.translate(b"\nd\n"), b"\nd\r\n");
    }
}
