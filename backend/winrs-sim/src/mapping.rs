//! How a WinRS command line becomes a process on this machine.
//!
//! WinRS clients ask for Windows programs (`cmd.exe`, `powershell.exe -`, `cmd.exe /c ...`).
//! [`CommandMap`] turns those requests into a [`Launch`]: an argv, extra environment
//! variables and how stderr is wired. It is plain code with no I/O so every rule is tested
//! on its own.
//!
//! The default rules, checked in this order (program names compare case-insensitively, with
//! or without `.exe` and with any directory part ignored):
//!
//! | request | runs |
//! |---|---|
//! | `cmd` with no arguments | the interactive shell ([`CommandMap::interactive`]); with [`CommandMap::cmd_builtins`] (the default) behind cmd's own built-ins on a sandbox folder per shell (see `cmd.rs`), else with the fixed prompt [`CommandMap::cmd_prompt`] |
//! | `powershell` whose arguments are only `-Flag`s ending with `-` (e.g. `powershell.exe -NoLogo -NoProfile -`) | the interactive shell, prompt [`CommandMap::powershell_prompt`] |
//! | `cmd /c X` or `cmd /k X` (arguments joined by spaces, as Windows does) | `X` through the host shell ([`CommandMap::host_shell`], `sh -c X`) |
//! | anything else, option `WINRS_SKIP_CMD_SHELL=TRUE` | the program itself with the arguments as argv |
//! | anything else, `WINRS_SKIP_CMD_SHELL` absent or false | the whole command line through the host shell, as Windows wraps it in `cmd.exe /c` |
//!
//! The interactive shell's stderr is merged into stdout: bash prints its prompt on stderr, and a
//! console (which is what cmd.exe writes to) shows prompt and output in one ordered stream.

/// Rules that turn a WinRS command into a process of this machine. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMap {
    /// argv of the interactive shell started for `cmd.exe` and `powershell.exe -`.
    pub interactive: Vec<String>,
    /// Prompt of the interactive shell started for `cmd.exe`, shown literally, when
    /// `cmd_builtins` is off.
    pub cmd_prompt: String,
    /// `cmd.exe` answers cmd's built-ins itself (`cd`, `dir`, `type`, `set`, `echo %VAR%`,
    /// `ver`, `cls`, `exit`) on a folder of its own per shell standing for `C:`, and its
    /// prompt follows the current folder; other lines still run through bash, in that folder.
    pub cmd_builtins: bool,
    /// Prompt of the interactive shell started for `powershell.exe -`, shown literally.
    pub powershell_prompt: String,
    /// argv prefix of the host shell; the command text is appended as one argument.
    pub host_shell: Vec<String>,
}

impl CommandMap {
    /// The default rules, with prompts naming `user`'s profile directory
    /// (`C:\Users\<user>>` and `PS C:\Users\<user>> `).
    pub fn for_user(user: &str) -> CommandMap {
        CommandMap {
            // `--noediting`: an interactive bash uses readline even on a pipe, and readline
            // redraws the line (cursor movements, erase-to-end) when prompt and line reach
            // its 80 columns; cmd's prompt marker holds the long sandbox path. `-v` echoes
            // each line as bash reads it, after its prompt, as cmd.exe (and readline) do.
            interactive: ["bash", "--norc", "--noprofile", "--noediting", "-v", "-i"]
                .map(String::from)
                .to_vec(),
            cmd_prompt: format!("C:\\Users\\{user}>"),
            cmd_builtins: true,
            powershell_prompt: format!("PS C:\\Users\\{user}> "),
            host_shell: ["sh", "-c"].map(String::from).to_vec(),
        }
    }

    /// Decides what to run for `command` with `arguments` (one entry per `rsp:Arguments`).
    /// `skip_cmd_shell` is the `WINRS_SKIP_CMD_SHELL` option.
    pub fn resolve(&self, command: &str, arguments: &[String], skip_cmd_shell: bool) -> Launch {
        let program = program_name(command);
        if program == "cmd" && arguments.iter().all(|a| a.trim().is_empty()) {
            if self.cmd_builtins {
                let mut launch = self.interactive_launch("");
                launch.env[0].1 = crate::cmd::PS1.to_string();
                launch.cmd_builtins = true;
                return launch;
            }
            return self.interactive_launch(&self.cmd_prompt);
        }
        if program == "powershell" || program == "pwsh" {
            let words: Vec<&str> = arguments
                .iter()
                .flat_map(|a| a.split_whitespace())
                .collect();
            if words.last() == Some(&"-") && words.iter().all(|w| w.starts_with('-')) {
                return self.interactive_launch(&self.powershell_prompt);
            }
        }
        if program == "cmd" {
            // Windows builds one command line: `/c` may be its own argument or the start of one.
            let line = arguments.join(" ");
            let trimmed = line.trim_start();
            let lower = trimmed.to_ascii_lowercase();
            if lower.starts_with("/c") || lower.starts_with("/k") {
                let rest = trimmed[2..].trim_start();
                return self.host_launch(rest);
            }
        }
        if skip_cmd_shell {
            let mut argv = vec![command.to_string()];
            argv.extend(arguments.iter().cloned());
            return Launch {
                argv,
                env: Vec::new(),
                merge_stderr: false,
                interactive: false,
                cmd_builtins: false,
            };
        }
        let mut line = command.to_string();
        for a in arguments {
            line.push(' ');
            line.push_str(a);
        }
        self.host_launch(&line)
    }

    fn interactive_launch(&self, prompt: &str) -> Launch {
        Launch {
            argv: self.interactive.clone(),
            env: vec![
                ("PS1".to_string(), escape_prompt(prompt)),
                ("PS2".to_string(), String::new()),
                // bash writes its prompt to stderr; once it is running, point its stderr at the
                // stdout pipe so prompt and output stay in order. Doing it here rather than at
                // spawn keeps bash's start-up complaints about job control (no terminal) out.
                (
                    "PROMPT_COMMAND".to_string(),
                    "exec 2>&1; unset PROMPT_COMMAND".to_string(),
                ),
            ],
            merge_stderr: true,
            interactive: true,
            cmd_builtins: false,
        }
    }

    fn host_launch(&self, text: &str) -> Launch {
        let mut argv = self.host_shell.clone();
        argv.push(text.to_string());
        Launch {
            argv,
            env: Vec::new(),
            merge_stderr: false,
            interactive: false,
            cmd_builtins: false,
        }
    }
}

/// What to start for one WinRS command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Program and arguments; `argv[0]` is looked up on `PATH`.
    pub argv: Vec<String>,
    /// Environment variables set on top of the shell's.
    pub env: Vec<(String, String)>,
    /// The process's stderr is discarded at start and merged into stdout by the process itself
    /// (see [`CommandMap`]), so the stderr stream stays empty.
    pub merge_stderr: bool,
    /// An interactive shell (stdin stays open for the client's lines).
    pub interactive: bool,
    /// cmd's built-ins answer in front of the shell, on the shell's sandbox folder
    /// ([`CommandMap::cmd_builtins`]).
    pub cmd_builtins: bool,
}

/// `C:\Windows\System32\CMD.EXE` -> `cmd`.
fn program_name(command: &str) -> String {
    let base = command.rsplit(['\\', '/']).next().unwrap_or(command).trim();
    let lower = base.to_ascii_lowercase();
    lower.strip_suffix(".exe").unwrap_or(&lower).to_string()
}

/// bash expands `\x` sequences and `$` in PS1; the configured prompt is shown literally.
fn escape_prompt(prompt: &str) -> String {
    let mut out = String::with_capacity(prompt.len() + 8);
    for c in prompt.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '`' => out.push_str("\\`"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cmd_without_arguments_is_the_interactive_shell() {
        let map = CommandMap::for_user("demo");
        for cmd in ["cmd", "cmd.exe", "CMD.EXE", r"C:\Windows\System32\cmd.exe"] {
            let l = map.resolve(cmd, &[], false);
            assert_eq!(
                l.argv,
                args(&["bash", "--norc", "--noprofile", "--noediting", "-v", "-i"]),
                "{cmd}"
            );
            assert!(l.merge_stderr && l.interactive && l.cmd_builtins);
        }
        let plain = CommandMap {
            cmd_builtins: false,
            ..map
        };
        let l = plain.resolve("cmd", &[], false);
        assert!(l.interactive && !l.cmd_builtins);
        assert!(l.env.contains(&("PS1".into(), r"C:\\Users\\demo>".into())));
    }

    #[test]
    fn powershell_dash_is_the_interactive_shell() {
        let map = CommandMap::for_user("demo");
        for a in [
            &["-"][..],
            &["-NoLogo", "-NoProfile", "-"],
            &["-NoLogo -NoProfile -"],
        ] {
            let l = map.resolve("powershell.exe", &args(a), false);
            assert!(l.interactive, "{a:?}");
            assert!(l
                .env
                .contains(&("PS1".into(), r"PS C:\\Users\\demo> ".into())));
        }
        assert!(
            !map.resolve("powershell", &args(&["Write-Host", "hi"]), false)
                .interactive
        );
        assert!(
            !map.resolve("powershell", &args(&["-File", "x.ps1", "-"]), false)
                .interactive
        );
    }

    #[test]
    fn cmd_c_runs_through_the_host_shell() {
        let map = CommandMap::for_user("demo");
        let l = map.resolve("cmd.exe", &args(&["/c", "echo", "hi"]), false);
        assert_eq!(l.argv, args(&["sh", "-c", "echo hi"]));
        let l = map.resolve(
            "cmd",
            &args(&["/C echo out && echo err>&2 && exit 1"]),
            true,
        );
        assert_eq!(
            l.argv,
            args(&["sh", "-c", "echo out && echo err>&2 && exit 1"])
        );
        assert!(!l.merge_stderr && !l.interactive);
    }

    #[test]
    fn other_commands_honour_skip_cmd_shell() {
        let map = CommandMap::for_user("demo");
        let l = map.resolve("printf", &args(&["%s-%s", "a b", "c"]), true);
        assert_eq!(l.argv, args(&["printf", "%s-%s", "a b", "c"]));
        let l = map.resolve("echo", &args(&["hi there"]), false);
        assert_eq!(l.argv, args(&["sh", "-c", "echo hi there"]));
    }

    #[test]
    fn prompts_are_shown_literally() {
        assert_eq!(escape_prompt(r"C:\x$`"), r"C:\\x\$\`");
    }
}
