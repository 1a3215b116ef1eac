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
//! Lines typed ahead (several pasted at once, or typed while a command runs) were echoed by
//! the relay one below the other; the shell echoes each after the prompt it prints when it
//! reads that line, a prompt that is not on screen yet and may differ from the one the line
//! was typed at (`cd ..` changes cmd's). Such a line is expected after the next prompt once
//! the lines before it have been seen: the prompt it was typed at, or anything that looks like
//! cmd's `X:\path>`. Each line then appears once, where it was typed.
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
    /// The remote output's last line when the line was submitted.
    prompt: Vec<u8>,
    line: Vec<u8>,
    /// Typed ahead: the shell prints a new prompt before it reads this line, so its echo
    /// follows the next prompt once the lines before it were seen (see the module docs).
    ahead: bool,
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
        let ahead = match (self.expected.front(), self.expected.back()) {
            // The shell has not read the previous line yet (it is still at the prompt that
            // line was typed at, or that line was itself typed ahead): this one is read later,
            // after a prompt still to come.
            (Some(front), Some(back)) if back.ahead || front.prompt == self.partial => true,
            // Still waiting for an echo at another prompt: that line was read by a program.
            (Some(_), _) if !self.matching => {
                self.expected.clear();
                false
            }
            _ => false,
        };
        if self.expected.len() == MAX_EXPECTED && !self.matching {
            self.expected.pop_front();
        }
        self.expected.push_back(Expected {
            prompt: self.partial.clone(),
            line: line.as_bytes().to_vec(),
            ahead,
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
                let at = self
                    .expected
                    .iter()
                    .position(|e| e.prompt == self.partial)
                    .or_else(|| {
                        let front = self.expected.front()?;
                        (front.ahead && looks_like_cmd_prompt(&self.partial)).then_some(0)
                    });
                if let Some(k) = at {
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

/// `C:\\>`, `D:\\work\\x>`: cmd's default prompt (`$P$G`), the current directory and `>`.
fn looks_like_cmd_prompt(partial: &[u8]) -> bool {
    matches!(partial, [drive, b':', b'\\', rest @ .., b'>']
        if drive.is_ascii_alphabetic() && !rest.contains(&b'>'))
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

    /// What the terminals get for lines typed at `prompt` (the relay's local echo, one line
    /// below the other) followed by the shell's output.
    fn typed_then_output(prompt: &str, lines: &[&str], output: &[&str]) -> String {
        let mut f = EchoFilter::default();
        let mut shown = run(&mut f, &[prompt]);
        for l in lines {
            f.submitted(l);
            shown.push_str(l);
            shown.push_str("\r\n");
        }
        shown + &run(&mut f, output)
    }

    fn count(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn a_pasted_block_shows_each_line_once() {
        // cmd.exe reading a pipe, as recorded: after each command a blank line and the
        // prompt, then the next line it read.
        let shown = typed_then_output(
            "C:\\Users\\demo>",
            &["echo a", "echo b", "echo c"],
            &[
                "echo a\r\na\r\n\r\nC:\\Users\\demo>echo b\r\n",
                "b\r\n\r\nC:\\Users\\demo>",
                "echo c\r\nc\r\n\r\nC:\\Users\\demo>",
            ],
        );
        for l in ["echo a", "echo b", "echo c"] {
            assert_eq!(count(&shown, l), 1, "{l} once in {shown:?}");
        }
        assert_eq!(
            shown,
            "C:\\Users\\demo>echo a\r\necho b\r\necho c\r\n\
             a\r\n\r\nC:\\Users\\demo>b\r\n\r\nC:\\Users\\demo>c\r\n\r\nC:\\Users\\demo>"
        );
    }

    #[test]
    fn a_pasted_block_split_anywhere_shows_each_line_once() {
        // The simulator's shell (LF only, no blank line), the output cut at every byte.
        let out = "echo a\na\nP> echo b\nb\nP> echo c\nc\nP> ";
        for cut in 0..out.len() {
            let shown = typed_then_output(
                "P> ",
                &["echo a", "echo b", "echo c"],
                &[&out[..cut], &out[cut..]],
            );
            assert_eq!(
                shown, "P> echo a\r\necho b\r\necho c\r\na\nP> b\nP> c\nP> ",
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn typed_ahead_lines_follow_a_prompt_that_changed() {
        // `cd ..` changes cmd's prompt before the next typed-ahead line is read.
        let shown = typed_then_output(
            "C:\\Users\\demo>",
            &["cd ..", "dir", "echo x"],
            &[
                "cd ..\r\n\r\nC:\\Users>dir\r\n",
                " Directory of C:\\Users\r\n\r\n05/01/2026  10:00 AM    <DIR>          demo\r\n\r\nC:\\Users>",
                "echo x\r\nx\r\n\r\nC:\\Users>",
            ],
        );
        for l in ["cd ..", "dir", "echo x"] {
            assert_eq!(
                count(&shown, &format!("{l}\r\n")),
                1,
                "{l} once in {shown:?}"
            );
        }
        assert!(
            shown.ends_with("C:\\Users>x\r\n\r\nC:\\Users>"),
            "{shown:?}"
        );
        assert!(
            shown.contains("<DIR>          demo"),
            "output kept: {shown:?}"
        );
    }

    #[test]
    fn a_line_typed_while_a_command_runs_shows_once() {
        let mut f = EchoFilter::default();
        run(&mut f, &["P> "]);
        f.submitted("sleep 1");
        assert_eq!(run(&mut f, &["sleep 1\n"]), "");
        // Typed while sleep runs: no prompt on screen, nothing is expected (a program
        // may be reading it), so the shell's echo after the next prompt stays.
        f.submitted("echo b");
        assert_eq!(run(&mut f, &["P> echo b\nb\nP> "]), "P> echo b\nb\nP> ");
        // The next line at a fresh prompt is matched again.
        f.submitted("echo c");
        assert_eq!(run(&mut f, &["echo c\nc\nP> "]), "c\nP> ");
    }

    #[test]
    fn a_typed_ahead_line_read_by_a_program_does_not_block_later_lines() {
        let mut f = EchoFilter::default();
        run(&mut f, &["C:\\> "]);
        f.submitted("set /p x=Name? ");
        f.submitted("bob");
        // cmd reads the first line; `set /p` reads "bob": no echo of it.
        assert_eq!(
            run(&mut f, &["set /p x=Name? \r\nName? \r\n\r\nC:\\> "]),
            "Name? \r\n\r\nC:\\> "
        );
        f.submitted("dir");
        assert_eq!(run(&mut f, &["dir\r\nfiles\r\n"]), "files\r\n");
        assert!(f.expected.is_empty());
    }

    #[test]
    fn cmd_prompts_are_recognised() {
        assert!(looks_like_cmd_prompt(b"C:\\>"));
        assert!(looks_like_cmd_prompt(b"d:\\work\\x y>"));
        assert!(!looks_like_cmd_prompt(b"C:\\a>b>"));
        assert!(!looks_like_cmd_prompt(b"    <DIR>"));
        assert!(!looks_like_cmd_prompt(b"PS C:\\> "));
        assert!(!looks_like_cmd_prompt(b"C:\\"));
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
