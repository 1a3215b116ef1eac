//! cmd.exe's own built-ins in front of the simulator's interactive shell.
//!
//! `cmd.exe` is bash behind a Windows-looking prompt (see [`crate::mapping`]). [`CmdFront`] sits
//! between the client and that bash and makes it answer as cmd does where cmd's own commands
//! are concerned: `cd`/`chdir` (with `/d`) on drive paths, `dir` in cmd's layout, `type`,
//! `cls`, `ver`, `set`, `echo` with `%VAR%`, `exit` (also `/b N`) and `%ERRORLEVEL%`, all on a
//! [`Sandbox`] folder of its own that stands for drive `C:`. Every other line goes to bash as
//! it was typed and runs there, in the sandbox folder.
//!
//! How: bash's prompt is a marker (`\x1e` exit code `\x1f` `$PWD` `\x1e`) that [`CmdFront`]
//! replaces with cmd's prompt (`C:\Users\demo>`), so it always knows the folder, the last exit
//! code and whether bash waits for a command. A line that arrives while bash waits and starts
//! with a built-in (and has none of bash's own syntax: `$`, quotes, `;`, `|`, `&`, `<`, `>`,
//! backquote, parentheses) is answered here, in the order cmd answers: the line's echo, the
//! output, the next prompt. So is a line of built-ins joined by `&`, `&&` or `||` outside
//! quotes (`cd .. & ver`, `dir x && type x`), with cmd's conditions; a chain with anything
//! else in it is bash's, as typed. A built-in that changes bash's state (`cd`, `set X=Y`,
//! `exit`) also sends bash a command whose echo and prompt are swallowed; lines arriving
//! meanwhile wait for it. Lines typed while a program runs go to bash unchanged (they are that
//! program's input, or bash's next commands).
//!
//! Every other line's echo is bash's: it runs with `-v`, printing each line it reads as it
//! reads it (after its prompt, as cmd does), and without line editing (`--noediting`:
//! readline, on even for a pipe, redrew lines that reached its 80 columns).
//!
//! Plain code: bytes in, bytes out; the file system calls are the built-ins' own (`dir`, `type`,
//! `cd` look at the sandbox).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Starts and ends bash's prompt marker.
const MARK: u8 = 0x1e;
/// Separates the exit code from the folder inside the marker.
const SEP: u8 = 0x1f;
/// bash's prompt: the marker, written with bash's own prompt escapes.
pub(crate) const PS1: &str = r"\036$?\037$PWD\036";
/// What `ver` prints (Windows Server 2022, as the recorded exchanges).
pub(crate) const VERSION: &str = "Microsoft Windows [Version 10.0.20348.2849]";
/// The longest prompt marker kept; longer means it was not one.
const MAX_MARKER: usize = 4096;

/// A per-shell folder standing for drive `C:`, removed with the shell.
#[derive(Debug)]
pub(crate) struct Sandbox {
    dir: PathBuf,
    home: PathBuf,
}

impl Sandbox {
    /// Makes `<tmp>/winrs-sim-<id>/C` with `Users\<user>` (Desktop, Documents),
    /// `Windows\System32` and `Program Files`.
    pub(crate) fn create(user: &str) -> io::Result<Sandbox> {
        static SWEPT: std::sync::Once = std::sync::Once::new();
        let tmp = std::env::temp_dir();
        // A simulator that was killed could not remove its shells' folders: the first shell
        // of the next one does.
        SWEPT.call_once(|| sweep_stale(&tmp));
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = tmp.join(format!("{PREFIX}{}-{id}", std::process::id()));
        let user = if user.is_empty() || user.contains(['/', '\\']) || user.starts_with('.') {
            "demo"
        } else {
            user
        };
        let drive = dir.join("C");
        let home = drive.join("Users").join(user);
        let sandbox = Sandbox { dir, home };
        for sub in ["Desktop", "Documents"] {
            std::fs::create_dir_all(sandbox.home.join(sub))?;
        }
        std::fs::create_dir_all(drive.join("Users").join("Public"))?;
        std::fs::create_dir_all(drive.join("Windows").join("System32"))?;
        std::fs::create_dir_all(drive.join("Program Files"))?;
        std::fs::write(
            sandbox.home.join("Documents").join("about-this-demo.txt"),
            "This is winrelay's WinRS simulator, not Windows: cmd's built-ins (cd, dir, type, set,\r\n\
             echo, ver, cls, exit) answer as cmd does, on a folder of its own that stands for C:\r\n\
             and is removed with the shell. Every other command runs through bash on Linux.\r\n",
        )?;
        Ok(sandbox)
    }

    /// The folder standing for `C:\`.
    pub(crate) fn drive(&self) -> PathBuf {
        self.dir.join("C")
    }

    /// `C:\Users\<user>`, where cmd starts.
    pub(crate) fn home(&self) -> &Path {
        &self.home
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::debug!("removing the sandbox {}: {e}", self.dir.display());
        }
    }
}

/// Sandbox folders are `<tmp>/winrs-sim-<pid>-<id>`: the pid of the simulator's process.
const PREFIX: &str = "winrs-sim-";

/// Removes the sandbox folders in `tmp` of simulator processes that no longer run (killed
/// before they could remove them). A folder whose pid is alive (ours, another simulator's,
/// or a reused pid) is left alone.
fn sweep_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// What one step produced: bytes for bash's stdin, bytes for the client.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Io {
    pub to_shell: Vec<u8>,
    pub to_client: Vec<u8>,
}

impl Io {
    fn append(&mut self, other: Io) {
        self.to_shell.extend(other.to_shell);
        self.to_client.extend(other.to_client);
    }
}

/// cmd's side of the conversation with bash (see the module docs).
#[derive(Debug)]
pub(crate) struct CmdFront {
    drive: PathBuf,
    cwd: PathBuf,
    /// The variables `%VAR%` and `set` see: bash's environment at start, then `set`'s changes.
    env: Vec<(String, String)>,
    errorlevel: i32,
    /// bash printed its prompt and has been sent nothing since.
    at_prompt: bool,
    /// Prompts of commands sent by the built-ins, still to come and be swallowed.
    swallow: usize,
    /// Lines that arrived while a built-in's command ran in bash.
    queued: VecDeque<Vec<u8>>,
    /// The start of a line typed at the prompt.
    pending: Vec<u8>,
    /// A prompt marker being read.
    marker: Option<Vec<u8>>,
}

impl CmdFront {
    /// cmd on `drive` (the sandbox's `C:`), in `cwd`, with bash's environment `env`.
    pub(crate) fn new(drive: PathBuf, cwd: PathBuf, env: Vec<(String, String)>) -> CmdFront {
        CmdFront {
            drive,
            cwd,
            env,
            errorlevel: 0,
            at_prompt: false,
            swallow: 0,
            queued: VecDeque::new(),
            pending: Vec::new(),
            marker: None,
        }
    }

    /// The prompt cmd shows: the current folder as a drive path, then `>`.
    pub(crate) fn prompt(&self) -> String {
        format!("{}>", self.win_path(&self.cwd))
    }

    /// Bytes the client sent (line breaks already `\n`).
    pub(crate) fn client_input(&mut self, data: &[u8]) -> Io {
        if !self.at_prompt && self.swallow == 0 {
            // A program (or bash) is busy: this is its input.
            return Io {
                to_shell: data.to_vec(),
                to_client: Vec::new(),
            };
        }
        self.pending.extend_from_slice(data);
        self.drain()
    }

    /// The client closed stdin: what waits goes to bash.
    pub(crate) fn end_of_input(&mut self) -> Io {
        let mut to_shell = Vec::new();
        for line in self.queued.drain(..) {
            to_shell.extend(line);
        }
        to_shell.append(&mut self.pending);
        Io {
            to_shell,
            to_client: Vec::new(),
        }
    }

    /// Bytes bash wrote (stdout and stderr in one stream).
    pub(crate) fn shell_output(&mut self, data: &[u8]) -> Io {
        let mut io = Io::default();
        for &b in data {
            if let Some(m) = &mut self.marker {
                if b == MARK {
                    let m = self.marker.take().unwrap_or_default();
                    io.append(self.prompt_seen(&m));
                } else if m.len() >= MAX_MARKER {
                    // Not a prompt after all: show it as it came.
                    let m = self.marker.take().unwrap_or_default();
                    if self.swallow == 0 {
                        io.to_client.push(MARK);
                        io.to_client.extend(m);
                        io.to_client.push(b);
                    }
                } else {
                    m.push(b);
                }
            } else if b == MARK {
                self.marker = Some(Vec::new());
            } else if self.swallow == 0 {
                io.to_client.push(b);
            }
        }
        io
    }

    fn prompt_seen(&mut self, marker: &[u8]) -> Io {
        let text = String::from_utf8_lossy(marker);
        let (code, dir) = text.split_once(SEP as char).unwrap_or(("0", ""));
        if !dir.is_empty() {
            self.cwd = PathBuf::from(dir);
        }
        if self.swallow > 0 {
            // The prompt after a built-in's own command: cmd's prompt is already shown.
            self.swallow -= 1;
            if self.swallow > 0 {
                return Io::default();
            }
            self.at_prompt = true;
            return self.drain();
        }
        self.errorlevel = match code.trim().parse::<i32>() {
            // bash's "command not found"; cmd says 9009.
            Ok(127) => 9009,
            Ok(c) => c,
            Err(_) => self.errorlevel,
        };
        self.at_prompt = true;
        let mut io = Io {
            to_shell: Vec::new(),
            to_client: self.prompt().into_bytes(),
        };
        io.append(self.drain());
        io
    }

    /// Answers the complete lines waiting while bash is at its prompt.
    fn drain(&mut self) -> Io {
        let mut io = Io::default();
        while self.at_prompt && self.swallow == 0 {
            let line = match self.queued.pop_front() {
                Some(line) => line,
                None => match self.pending.iter().position(|&b| b == b'\n') {
                    Some(i) => self.pending.drain(..=i).collect(),
                    None => break,
                },
            };
            io.append(self.line(&line));
        }
        if self.swallow > 0 {
            // Complete lines wait for the built-in's command to finish.
            while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                self.queued.push_back(self.pending.drain(..=i).collect());
            }
        } else if !self.at_prompt {
            // bash is busy with a line just sent: the rest is typed ahead, bash's to read.
            for line in self.queued.drain(..) {
                io.to_shell.extend(line);
            }
            io.to_shell.append(&mut self.pending);
        }
        io
    }

    /// One line (with its `\n`) typed at the prompt.
    fn line(&mut self, raw: &[u8]) -> Io {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end_matches(['\n', '\r']);
        if let Some(chain) = split_chain(text) {
            return self.chain(text, chain);
        }
        let Some(builtin) = Builtin::parse(text) else {
            self.at_prompt = false;
            return Io {
                to_shell: raw.to_vec(),
                to_client: Vec::new(),
            };
        };
        // cmd echoes the line it read after its prompt; the relay relies on that.
        let mut out = String::new();
        out.push_str(text);
        out.push_str("\r\n");
        let mut to_shell = String::new();
        let code = self.run(builtin, &mut out, &mut to_shell);
        self.errorlevel = code;
        if to_shell.is_empty() {
            out.push_str(&self.prompt());
        } else {
            self.swallow += 1;
            if !to_shell.starts_with("exit ") {
                // The prompt follows now; bash's after the command is swallowed.
                out.push_str(&self.prompt());
            }
        }
        Io {
            to_shell: to_shell.into_bytes(),
            to_client: out.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes(),
        }
    }

    /// Built-ins joined by `&`, `&&`, `||` (see [`split_chain`]), run in order as cmd runs
    /// them: the line's echo, each one's output, one prompt. `exit` ends the chain.
    fn chain(&mut self, text: &str, chain: Vec<(Then, Builtin)>) -> Io {
        let mut out = format!("{text}\n");
        let mut to_shell = String::new();
        let mut code = self.errorlevel;
        let mut exited = false;
        for (i, (then, builtin)) in chain.into_iter().enumerate() {
            let runs = i == 0
                || match then {
                    Then::Always => true,
                    Then::IfOk => code == 0,
                    Then::IfFailed => code != 0,
                };
            if !runs {
                continue;
            }
            let mut for_shell = String::new();
            code = self.run(builtin, &mut out, &mut for_shell);
            self.errorlevel = code;
            if !for_shell.is_empty() {
                // Each command sent to bash ends with a prompt of bash's, swallowed.
                self.swallow += 1;
                exited = for_shell.starts_with("exit ");
                to_shell.push_str(&for_shell);
                if exited {
                    break;
                }
            }
        }
        if !exited {
            out.push_str(&self.prompt());
        }
        Io {
            to_shell: to_shell.into_bytes(),
            to_client: out.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes(),
        }
    }

    /// Runs a built-in: output into `out`, bash's command (if any) into `to_shell`; returns the
    /// new ERRORLEVEL.
    fn run(&mut self, builtin: Builtin, out: &mut String, to_shell: &mut String) -> i32 {
        let args = self.expand(&builtin.args);
        match builtin.name {
            Name::Cd => self.cd(&args, out, to_shell),
            Name::Dir => self.dir(&args, out),
            Name::Type => self.type_(&args, out),
            Name::Cls => {
                out.push_str("\x1b[H\x1b[2J\x1b[3J");
                0
            }
            Name::Ver => {
                let _ = writeln!(out, "\n{VERSION}");
                0
            }
            Name::Echo => {
                if args.trim().is_empty() {
                    out.push_str("ECHO is on.\n");
                } else {
                    out.push_str(&args);
                    out.push('\n');
                }
                self.errorlevel
            }
            Name::EchoDot => {
                out.push('\n');
                self.errorlevel
            }
            Name::Set => self.set(&args, out, to_shell),
            Name::Exit => {
                let mut words = args.split_whitespace().peekable();
                if words.peek().is_some_and(|w| w.eq_ignore_ascii_case("/b")) {
                    words.next();
                }
                let code = match words.next() {
                    Some(w) => w.parse::<i32>().unwrap_or(0),
                    None => self.errorlevel,
                };
                let _ = writeln!(to_shell, "exit {}", code & 0xff);
                code
            }
        }
    }

    /// `%NAME%` replaced by the variable (any case); `%ERRORLEVEL%`; unknown names stay.
    fn expand(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            let after = &rest[start + 1..];
            let Some(len) = after.find('%') else { break };
            let name = &after[..len];
            out.push_str(&rest[..start]);
            if name.is_empty() {
                out.push('%');
                rest = after;
                continue;
            }
            if name.eq_ignore_ascii_case("errorlevel") {
                let _ = write!(out, "{}", self.errorlevel);
            } else if let Some(v) = self.var(name) {
                out.push_str(v);
            } else {
                out.push('%');
                out.push_str(name);
                out.push('%');
            }
            rest = &after[len + 1..];
        }
        out.push_str(rest);
        out
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn cd(&mut self, args: &str, out: &mut String, to_shell: &mut String) -> i32 {
        let mut arg = args.trim();
        if arg.len() >= 2 && arg[..2].eq_ignore_ascii_case("/d") {
            arg = arg[2..].trim_start();
        }
        if arg.is_empty() {
            let _ = writeln!(out, "{}", self.win_path(&self.cwd));
            return 0;
        }
        match self.resolve(arg) {
            Err(e) => {
                let _ = writeln!(out, "{e}");
                1
            }
            Ok(p) if p.is_dir() => {
                let _ = writeln!(to_shell, "builtin cd -- {}", sh_quote(&p.to_string_lossy()));
                self.cwd = p;
                0
            }
            Ok(_) => {
                out.push_str("The system cannot find the path specified.\n");
                1
            }
        }
    }

    fn dir(&self, args: &str, out: &mut String) -> i32 {
        let mut bare = false;
        let mut paths = Vec::new();
        for word in split_words(args) {
            if word.eq_ignore_ascii_case("/b") {
                bare = true;
            } else if !word.starts_with('/') {
                paths.push(word);
            }
        }
        let mut target = self.cwd.clone();
        let mut pattern = None;
        if let Some(p) = paths.first() {
            let p = p.replace('/', "\\");
            let (folder, last) = match p.rsplit_once('\\') {
                Some((f, l)) => (if f.is_empty() { "\\" } else { f }, l),
                None => (".", p.as_str()),
            };
            let wild = last.contains(['*', '?']);
            let path = if wild { folder } else { p.as_str() };
            if wild {
                pattern = Some(last.to_string());
            }
            match self.resolve(path) {
                Ok(t) => target = t,
                Err(e) => {
                    let _ = writeln!(out, "{e}");
                    return 1;
                }
            }
        }
        let header = " Volume in drive C has no label.\n Volume Serial Number is 5A1E-0C3D\n\n";
        if !target.exists() {
            if !bare {
                out.push_str(header);
            }
            out.push_str("File Not Found\n");
            return 1;
        }
        let (folder, entries): (PathBuf, Vec<(String, PathBuf)>) = if target.is_dir() {
            let mut list: Vec<(String, PathBuf)> = match std::fs::read_dir(&target) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok().map(|e| (name_of(&e.path()), e.path())))
                    .collect(),
                Err(_) => {
                    out.push_str("Access is denied.\n");
                    return 1;
                }
            };
            list.retain(|(n, _)| !n.starts_with('.'));
            if let Some(pat) = &pattern {
                list.retain(|(n, _)| wildcard(pat, n));
            }
            list.sort_by_key(|(n, _)| n.to_lowercase());
            if pattern.is_none() && target != self.drive {
                let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
                list.insert(0, ("..".to_string(), parent));
                list.insert(0, (".".to_string(), target.clone()));
            }
            (target.clone(), list)
        } else {
            let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
            (parent, vec![(name_of(&target), target.clone())])
        };
        if bare {
            for (name, _) in &entries {
                if name != "." && name != ".." {
                    let _ = writeln!(out, "{name}");
                }
            }
            return if entries.is_empty() { 1 } else { 0 };
        }
        out.push_str(header);
        let _ = writeln!(out, " Directory of {}\n", self.win_path(&folder));
        if entries.is_empty() {
            out.push_str("File Not Found\n");
            return 1;
        }
        let (mut files, mut dirs, mut bytes) = (0u64, 0u64, 0u64);
        for (name, e) in &entries {
            let meta = std::fs::metadata(e).ok();
            let when = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let when = cmd_time(when);
            if meta.as_ref().is_some_and(|m| m.is_dir()) {
                dirs += 1;
                let _ = writeln!(out, "{when}    {:<14} {name}", "<DIR>");
            } else {
                let size = meta.map_or(0, |m| m.len());
                files += 1;
                bytes += size;
                let _ = writeln!(out, "{when} {:>17} {name}", thousands(size));
            }
        }
        let _ = writeln!(out, "{files:>16} File(s) {:>14} bytes", thousands(bytes));
        let _ = writeln!(
            out,
            "{dirs:>16} Dir(s) {:>15} bytes free",
            thousands(free_bytes(&folder))
        );
        0
    }

    fn type_(&self, args: &str, out: &mut String) -> i32 {
        let words = split_words(args);
        if words.is_empty() {
            out.push_str("The syntax of the command is incorrect.\n");
            return 1;
        }
        let mut code = 0;
        for w in words {
            match self.resolve(&w) {
                Ok(p) if p.is_dir() => {
                    out.push_str("Access is denied.\n");
                    code = 1;
                }
                Ok(p) => match std::fs::read(&p) {
                    Ok(bytes) => {
                        let text = String::from_utf8_lossy(&bytes);
                        out.push_str(&text);
                        if words_need_break(&text) {
                            out.push('\n');
                        }
                    }
                    Err(_) => {
                        out.push_str("The system cannot find the file specified.\n");
                        code = 1;
                    }
                },
                Err(e) => {
                    let _ = writeln!(out, "{e}");
                    code = 1;
                }
            }
        }
        code
    }

    fn set(&mut self, args: &str, out: &mut String, to_shell: &mut String) -> i32 {
        let text = args.trim();
        let Some((name, value)) = text.split_once('=') else {
            let mut vars: Vec<&(String, String)> = self
                .env
                .iter()
                .filter(|(k, _)| {
                    k.len() >= text.len() && k[..text.len()].eq_ignore_ascii_case(text)
                })
                .filter(|(k, _)| !hidden_var(k))
                .collect();
            vars.sort_by_key(|(k, _)| k.to_lowercase());
            if vars.is_empty() {
                let _ = writeln!(out, "Environment variable {text} not defined");
                return 1;
            }
            for (k, v) in vars {
                let _ = writeln!(out, "{k}={v}");
            }
            return 0;
        };
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            // cmd allows more names than bash can hold; say so rather than half-set it.
            out.push_str("The syntax of the command is incorrect.\n");
            return 1;
        }
        let name = self
            .env
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or_else(|| name.to_string(), |(k, _)| k.clone());
        self.env.retain(|(k, _)| *k != name);
        if value.is_empty() {
            let _ = writeln!(to_shell, "unset {name}");
        } else {
            let _ = writeln!(to_shell, "export {name}={}", sh_quote(value));
            self.env.push((name, value.to_string()));
        }
        0
    }

    /// A cmd path (`C:\x`, `\x`, `x\y`, `..`, quoted; any case) as a path of this machine,
    /// never above `C:\`.
    fn resolve(&self, path: &str) -> Result<PathBuf, &'static str> {
        let p = path.trim().trim_matches('"').replace('/', "\\");
        let (mut base, rest) = match p.as_bytes() {
            [d, b':', ..] if d.is_ascii_alphabetic() => {
                if !d.eq_ignore_ascii_case(&b'c') {
                    return Err("The system cannot find the drive specified.");
                }
                let rest = &p[2..];
                if rest.starts_with('\\') {
                    (self.drive.clone(), rest.to_string())
                } else {
                    (self.cwd.clone(), rest.to_string())
                }
            }
            [b'\\', ..] => (self.drive.clone(), p.clone()),
            _ => (self.cwd.clone(), p.clone()),
        };
        for part in rest.split('\\') {
            if part.is_empty() || part == "." {
                continue;
            }
            if part.len() >= 2 && part.chars().all(|c| c == '.') {
                // `..` (and cmd's `...`): up, never above C:\.
                if base != self.drive {
                    base.pop();
                }
                continue;
            }
            let exact = base.join(part);
            base = if exact.exists() {
                exact
            } else {
                std::fs::read_dir(&base)
                    .ok()
                    .and_then(|rd| {
                        rd.filter_map(Result::ok)
                            .map(|e| e.path())
                            .find(|e| name_of(e).eq_ignore_ascii_case(part))
                    })
                    .unwrap_or(exact)
            };
        }
        Ok(base)
    }

    /// `/tmp/winrs-sim-x/C/Users/demo` → `C:\Users\demo`; a folder outside the sandbox as is.
    fn win_path(&self, p: &Path) -> String {
        match p.strip_prefix(&self.drive) {
            Ok(rel) => {
                let parts: Vec<String> = rel
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                        _ => None,
                    })
                    .collect();
                format!("C:\\{}", parts.join("\\"))
            }
            Err(_) => p.to_string_lossy().into_owned(),
        }
    }
}

/// The built-ins answered here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Cd,
    Dir,
    Type,
    Cls,
    Ver,
    Echo,
    EchoDot,
    Set,
    Exit,
}

#[derive(Debug)]
struct Builtin {
    name: Name,
    args: String,
}

impl Builtin {
    /// The built-in a typed line runs, if it is one and uses none of bash's own syntax.
    fn parse(line: &str) -> Option<Builtin> {
        let line = line.trim_start();
        if line.contains(['$', '`', ';', '|', '&', '<', '>', '\'', '(', ')']) {
            return None;
        }
        let end = line
            .find(|c: char| c.is_whitespace() || c == '\\' || c == '/')
            .unwrap_or(line.len());
        let (word, args) = line.split_at(end);
        let lower = word.to_ascii_lowercase();
        let (name, args) = match lower.as_str() {
            "cd" | "chdir" => (Name::Cd, args),
            "cd.." => (Name::Cd, ".."),
            "dir" => (Name::Dir, args),
            "type" => (Name::Type, args),
            "cls" => (Name::Cls, args),
            "ver" => (Name::Ver, args),
            "echo" => (Name::Echo, args.strip_prefix(' ').unwrap_or(args)),
            "echo." => (Name::EchoDot, args),
            // `set -x` and friends are bash's.
            "set" if !args.trim_start().starts_with(['-', '+']) => (Name::Set, args),
            "exit" => (Name::Exit, args),
            _ => return None,
        };
        Some(Builtin {
            name,
            args: args.to_string(),
        })
    }
}

/// When a built-in of a chain runs, after the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// `&`: always.
    Always,
    /// `&&`: if the one before succeeded.
    IfOk,
    /// `||`: if the one before failed.
    IfFailed,
}

/// A line of cmd built-ins joined by `&`, `&&` or `||` outside double quotes (`cd .. & ver`,
/// `dir x && type x`), each with the condition it runs under. `None` when the line has no such
/// operator, has an empty part, a single `|` (a pipe), or a part that is not a built-in
/// [`Builtin::parse`] takes: such a line is bash's, as it was typed. Parts are trimmed.
/// Unlike cmd, `%VAR%` in a part is expanded when that part runs, not when the line is read.
fn split_chain(line: &str) -> Option<Vec<(Then, Builtin)>> {
    let bytes = line.as_bytes();
    let mut parts: Vec<(Then, &str)> = Vec::new();
    let (mut start, mut then, mut quoted, mut i) = (0, Then::Always, false, 0);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => quoted = !quoted,
            // cmd's escape: the next character is literal (and the part is then bash's).
            b'^' if !quoted => i += 1,
            b'&' | b'|' if !quoted => {
                let double = bytes.get(i + 1) == Some(&b);
                let next = match (b, double) {
                    (b'&', false) => Then::Always,
                    (b'&', true) => Then::IfOk,
                    (b'|', true) => Then::IfFailed,
                    _ => return None,
                };
                parts.push((then, &line[start..i]));
                then = next;
                i += if double { 2 } else { 1 };
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if parts.is_empty() {
        return None;
    }
    parts.push((then, &line[start.min(line.len())..]));
    parts
        .into_iter()
        .map(|(then, part)| {
            let part = part.trim();
            if part.is_empty() {
                return None;
            }
            Builtin::parse(part).map(|b| (then, b))
        })
        .collect()
}

/// Variables of the simulator's plumbing, not shown by `set`.
fn hidden_var(name: &str) -> bool {
    matches!(
        name,
        "PS1" | "PS2" | "PROMPT_COMMAND" | "_" | "SHLVL" | "OLDPWD"
    )
}

/// Words split at spaces, `"..."` kept together (quotes removed).
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn words_need_break(text: &str) -> bool {
    !text.is_empty() && !text.ends_with('\n')
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.to_string_lossy().into_owned())
}

/// cmd's wildcards, case-insensitively: `*` any run, `?` one character.
fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds since 1970 (UTC) as cmd's `dir` shows them: `11/29/2026  03:40 AM`.
fn cmd_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute) = (rem / 3600, rem % 3600 / 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h12, ampm) = match hour {
        0 => (12, "AM"),
        1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        _ => (hour - 12, "PM"),
    };
    format!("{month:02}/{day:02}/{year}  {h12:02}:{minute:02} {ampm}")
}

fn free_bytes(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: statvfs writes into the zeroed struct we own and reads the NUL-terminated path.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return 0;
        }
        (st.f_bavail as u64).saturating_mul(st.f_frsize as u64)
    }
}

/// `it's` → `'it'\''s'`, for bash.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cmd on a fresh sandbox, bash's first prompt seen.
    fn cmd() -> (Sandbox, CmdFront) {
        let sandbox = Sandbox::create("demo").unwrap();
        let env = vec![
            ("USERNAME".to_string(), "demo".to_string()),
            ("Path".to_string(), r"C:\Windows\System32".to_string()),
        ];
        let mut f = CmdFront::new(sandbox.drive(), sandbox.home().to_path_buf(), env);
        let home = sandbox.home().to_string_lossy().into_owned();
        let io = f.shell_output(marker(0, &home).as_bytes());
        assert_eq!(text(&io.to_client), r"C:\Users\demo>");
        (sandbox, f)
    }

    fn marker(code: i32, dir: &str) -> String {
        format!("\x1e{code}\x1f{dir}\x1e")
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    /// Types a line; when the built-in sent bash a command, plays bash's answer (its echo
    /// and prompt, both swallowed) and checks that nothing of it shows.
    fn typed(f: &mut CmdFront, line: &str) -> String {
        let io = f.client_input(format!("{line}\n").as_bytes());
        let mut shown = text(&io.to_client);
        if !io.to_shell.is_empty() && !text(&io.to_shell).starts_with("exit") {
            let dir = f.cwd.to_string_lossy().into_owned();
            let back =
                f.shell_output(format!("{}{}", text(&io.to_shell), marker(0, &dir)).as_bytes());
            assert_eq!(text(&back.to_client), "", "bash's side is swallowed");
            shown.push_str(&text(&back.to_client));
        }
        shown
    }

    #[test]
    fn cd_moves_on_drive_paths_and_the_prompt_follows() {
        let (_s, mut f) = cmd();
        assert_eq!(
            typed(&mut f, "cd"),
            "cd\r\nC:\\Users\\demo\r\nC:\\Users\\demo>"
        );
        assert_eq!(typed(&mut f, "cd .."), "cd ..\r\nC:\\Users>");
        let io = f.client_input(b"cd C:\\Windows\\System32\n");
        assert!(
            text(&io.to_shell).starts_with("builtin cd -- '")
                && text(&io.to_shell).ends_with("/C/Windows/System32'\n"),
            "bash follows: {:?}",
            text(&io.to_shell)
        );
        assert_eq!(
            text(&io.to_client),
            "cd C:\\Windows\\System32\r\nC:\\Windows\\System32>"
        );
        let dir = f.cwd.to_string_lossy().into_owned();
        f.shell_output(format!("builtin cd\n{}", marker(0, &dir)).as_bytes());
        // cd /d, chdir, any case, forward slashes, cd.. and cd \.
        assert!(
            typed(&mut f, r"cd /d c:\users\DEMO\documents").ends_with(r"C:\Users\demo\Documents>")
        );
        assert!(typed(&mut f, "chdir ../Desktop").ends_with(r"C:\Users\demo\Desktop>"));
        assert!(typed(&mut f, "cd..").ends_with(r"C:\Users\demo>"));
        assert!(typed(&mut f, r"cd \").ends_with("\r\nC:\\>"));
        assert!(
            typed(&mut f, "cd ..").ends_with("\r\nC:\\>"),
            "never above C:\\"
        );
        assert!(typed(&mut f, r#"cd "Program Files""#).ends_with(r"C:\Program Files>"));
    }

    #[test]
    fn cd_says_what_cmd_says_when_it_cannot() {
        let (_s, mut f) = cmd();
        assert_eq!(
            typed(&mut f, r"cd D:\"),
            "cd D:\\\r\nThe system cannot find the drive specified.\r\nC:\\Users\\demo>"
        );
        assert_eq!(
            typed(&mut f, r"cd C:\Nowhere"),
            "cd C:\\Nowhere\r\nThe system cannot find the path specified.\r\nC:\\Users\\demo>"
        );
        assert!(typed(&mut f, "echo %ERRORLEVEL%").contains("\r\n1\r\n"));
    }

    #[test]
    fn dir_has_cmds_layout() {
        let (s, mut f) = cmd();
        std::fs::write(s.home().join("notes.txt"), vec![b'x'; 1234]).unwrap();
        std::fs::write(s.home().join("b.log"), b"12").unwrap();
        let out = typed(&mut f, "dir");
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(lines[0], "dir");
        assert_eq!(lines[1], " Volume in drive C has no label.");
        assert!(lines[2].starts_with(" Volume Serial Number is "));
        assert_eq!(lines[4], r" Directory of C:\Users\demo");
        // Date, time, then <DIR> or the size, the name in column 39; sorted by name.
        let rows: Vec<&str> = lines[6..12].to_vec();
        let names: Vec<&str> = rows.iter().map(|r| &r[39..]).collect();
        assert_eq!(
            names,
            [".", "..", "b.log", "Desktop", "Documents", "notes.txt"]
        );
        for r in &rows {
            assert_eq!(&r[2..3], "/", "{r:?}");
            assert!(r[18..20] == *"AM" || r[18..20] == *"PM", "{r:?}");
        }
        assert_eq!(&rows[3][20..39], "    <DIR>          ");
        assert_eq!(&rows[5][20..39], "             1,234 ");
        assert_eq!(lines[12], "               2 File(s)          1,236 bytes");
        assert!(
            lines[13].starts_with("               4 Dir(s) "),
            "{:?}",
            lines[13]
        );
        assert!(lines[13].ends_with(" bytes free"));
        assert_eq!(lines[14], r"C:\Users\demo>");
    }

    #[test]
    fn dir_with_a_path_a_wildcard_or_bare() {
        let (s, mut f) = cmd();
        std::fs::write(s.home().join("Notes.TXT"), b"hi").unwrap();
        std::fs::write(s.home().join("other.log"), b"").unwrap();
        let out = typed(&mut f, "dir *.txt");
        assert!(out.contains(" Directory of C:\\Users\\demo\r\n"), "{out}");
        assert!(
            out.contains(" Notes.TXT\r\n") && !out.contains("other.log"),
            "{out}"
        );
        assert!(out.contains("1 File(s)"));
        assert_eq!(
            typed(&mut f, r"dir /b C:\Users"),
            "dir /b C:\\Users\r\ndemo\r\nPublic\r\nC:\\Users\\demo>"
        );
        let out = typed(&mut f, "dir nothing-here");
        assert!(out.ends_with("File Not Found\r\nC:\\Users\\demo>"), "{out}");
        assert!(typed(&mut f, "echo %errorlevel%").contains("\r\n1\r\n"));
    }

    #[test]
    fn type_prints_a_file_or_says_why_not() {
        let (s, mut f) = cmd();
        std::fs::write(s.home().join("a.txt"), b"line one\nline two").unwrap();
        assert_eq!(
            typed(&mut f, "type A.TXT"),
            "type A.TXT\r\nline one\r\nline two\r\nC:\\Users\\demo>"
        );
        assert!(typed(&mut f, r"type Documents\about-this-demo.txt").contains("not Windows"));
        assert_eq!(
            typed(&mut f, "type missing.txt"),
            "type missing.txt\r\nThe system cannot find the file specified.\r\nC:\\Users\\demo>"
        );
        assert!(typed(&mut f, "type Documents").contains("Access is denied."));
    }

    #[test]
    fn set_and_echo_with_variables() {
        let (_s, mut f) = cmd();
        let io = f.client_input(b"set Greeting=hello there\n");
        assert_eq!(text(&io.to_shell), "export Greeting='hello there'\n");
        f.shell_output(format!("export\n{}", marker(0, "")).as_bytes());
        assert_eq!(
            typed(&mut f, "echo [%GREETING%] %username% %nope% 100%"),
            "echo [%GREETING%] %username% %nope% 100%\r\n[hello there] demo %nope% 100%\r\nC:\\Users\\demo>"
        );
        assert_eq!(
            typed(&mut f, "set gr"),
            "set gr\r\nGreeting=hello there\r\nC:\\Users\\demo>"
        );
        let all = typed(&mut f, "set");
        assert!(
            all.contains("\r\nPath=C:\\Windows\\System32\r\n")
                && all.contains("\r\nUSERNAME=demo\r\n")
        );
        let io = f.client_input(b"set greeting=\n");
        assert_eq!(text(&io.to_shell), "unset Greeting\n");
        f.shell_output(marker(0, "").as_bytes());
        assert!(typed(&mut f, "set gr").contains("Environment variable gr not defined"));
        assert!(typed(&mut f, "echo %ERRORLEVEL%").contains("\r\n1\r\n"));
        assert_eq!(
            typed(&mut f, "echo"),
            "echo\r\nECHO is on.\r\nC:\\Users\\demo>"
        );
        assert_eq!(typed(&mut f, "echo."), "echo.\r\n\r\nC:\\Users\\demo>");
    }

    #[test]
    fn ver_cls_and_exit() {
        let (_s, mut f) = cmd();
        assert_eq!(
            typed(&mut f, "ver"),
            format!("ver\r\n\r\n{VERSION}\r\nC:\\Users\\demo>")
        );
        assert_eq!(
            typed(&mut f, "cls"),
            "cls\r\n\x1b[H\x1b[2J\x1b[3JC:\\Users\\demo>"
        );
        let io = f.client_input(b"exit /b 3\n");
        assert_eq!(text(&io.to_shell), "exit 3\n");
        assert_eq!(text(&io.to_client), "exit /b 3\r\n", "no prompt after exit");
    }

    #[test]
    fn other_lines_go_to_bash_as_typed_and_errorlevel_follows() {
        let (_s, mut f) = cmd();
        for line in [
            "echo $((6*7))",
            "echo hel''lo",
            "ls -l",
            "x=6; echo $x",
            "set -x",
            "dir > f",
        ] {
            let io = f.client_input(format!("{line}\n").as_bytes());
            assert_eq!(text(&io.to_shell), format!("{line}\n"));
            assert!(io.to_client.is_empty());
            // While it runs, input is the program's.
            let io = f.client_input(b"dir\n");
            assert_eq!(text(&io.to_shell), "dir\n");
            let io =
                f.shell_output(format!("{line}\noutput\n{}", marker(0, "/somewhere")).as_bytes());
            assert_eq!(text(&io.to_client), format!("{line}\noutput\n/somewhere>"));
        }
        let io = f.shell_output(format!("nosuch\n{}", marker(127, "/x")).as_bytes());
        assert_eq!(text(&io.to_client), "nosuch\n/x>");
        assert!(typed(&mut f, "echo %ERRORLEVEL%").contains("\r\n9009\r\n"));
    }

    #[test]
    fn a_pasted_block_runs_in_order_and_waits_for_bashs_side_of_cd() {
        let (s, mut f) = cmd();
        let io = f.client_input(b"cd ..\ndir /b\necho $((1+1))\necho done\n");
        // cd is answered; dir waits until bash has followed the cd.
        assert_eq!(text(&io.to_client), "cd ..\r\nC:\\Users>");
        assert_eq!(
            text(&io.to_shell),
            format!("builtin cd -- '{}'\n", s.drive().join("Users").display())
        );
        let users = s.drive().join("Users").to_string_lossy().into_owned();
        let io = f.shell_output(format!("builtin cd -- x\n{}", marker(0, &users)).as_bytes());
        assert_eq!(
            text(&io.to_client),
            "dir /b\r\ndemo\r\nPublic\r\nC:\\Users>"
        );
        // Then bash's line goes to bash, and what follows it too (typed ahead).
        assert_eq!(text(&io.to_shell), "echo $((1+1))\necho done\n");
        // A prompt split across reads.
        let m = marker(0, &users);
        let io1 = f.shell_output(format!("echo $((1+1))\n2\n{}", &m[..3]).as_bytes());
        let io2 = f.shell_output(&m.as_bytes()[3..]);
        assert_eq!(
            text(&io1.to_client) + &text(&io2.to_client),
            "echo $((1+1))\n2\nC:\\Users>"
        );
    }

    #[test]
    fn built_ins_joined_by_and_or_run_in_order_with_cmds_conditions() {
        let (_s, mut f) = cmd();
        // `&` always; cd's bash side is swallowed; one echo, one prompt.
        let out = typed(&mut f, "cd .. & ver");
        assert_eq!(
            out,
            format!("cd .. & ver\r\n\r\n{VERSION}\r\nC:\\Users>"),
            "{out:?}"
        );
        // `&&` only after success, `||` only after failure.
        let out = typed(&mut f, "dir nosuch && ver");
        assert!(out.ends_with("File Not Found\r\nC:\\Users>"), "{out:?}");
        assert!(!out.contains(VERSION), "{out:?}");
        assert!(typed(&mut f, "echo %ERRORLEVEL%").contains("\r\n1\r\n"));
        let out = typed(&mut f, "dir nosuch || echo fallback");
        assert!(
            out.ends_with("File Not Found\r\nfallback\r\nC:\\Users>"),
            "{out:?}"
        );
        let out = typed(&mut f, "ver && echo ok || echo no");
        assert!(out.ends_with("\r\nok\r\nC:\\Users>"), "{out:?}");
        let out = typed(
            &mut f,
            "cd nosuch && echo moved || echo stayed & echo always",
        );
        assert!(
            out.ends_with("\r\nstayed\r\nalways\r\nC:\\Users>"),
            "{out:?}"
        );
        // `exit` ends the chain and the shell.
        let io = f.client_input(b"echo bye & exit /b 3 & echo never\n");
        assert_eq!(text(&io.to_shell), "exit 3\n");
        assert_eq!(
            text(&io.to_client),
            "echo bye & exit /b 3 & echo never\r\nbye\r\n"
        );
    }

    #[test]
    fn a_chain_with_anything_else_is_bashs_as_typed() {
        for line in [
            "echo a & ls",
            "ver && uname -a",
            "echo \"a & b\"",
            "echo a | more",
            "ver &",
            "& ver",
            "ver & & ver",
            "echo a ^& ver",
            "dir > f & ver",
        ] {
            let (_s, mut f) = cmd();
            let io = f.client_input(format!("{line}\n").as_bytes());
            assert_eq!(text(&io.to_shell), format!("{line}\n"), "{line}");
            assert!(io.to_client.is_empty(), "{line}: bash echoes it");
        }
        assert!(split_chain("ver").is_none());
        let chain = split_chain("cd \"a b\"&&dir||ver&echo x").unwrap();
        let thens: Vec<Then> = chain.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            thens,
            [Then::Always, Then::IfOk, Then::IfFailed, Then::Always]
        );
        assert_eq!(chain[0].1.args, " \"a b\"");
    }

    #[test]
    fn end_of_input_hands_what_waits_to_bash() {
        let (_s, mut f) = cmd();
        let io = f.client_input(b"echo partial");
        assert!(io.to_shell.is_empty() && io.to_client.is_empty());
        assert_eq!(text(&f.end_of_input().to_shell), "echo partial");
    }

    #[test]
    fn the_sandbox_is_removed_with_its_shell() {
        let s = Sandbox::create("demo").unwrap();
        let root = s.drive();
        assert!(root.join("Users/demo/Documents").is_dir());
        assert!(root.join("Windows/System32").is_dir());
        drop(s);
        assert!(!root.exists());
        // A user name cannot lead out of the sandbox.
        let s = Sandbox::create("../../etc").unwrap();
        assert!(s.home().starts_with(s.drive()));
        assert!(s.home().ends_with("Users/demo"));
    }

    #[test]
    fn sandboxes_of_simulators_that_are_gone_are_swept() {
        let tmp =
            std::env::temp_dir().join(format!("winrs-sweep-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&tmp).unwrap();
        // A pid that is not running (a child that has exited and been waited for).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = tmp.join(format!("{PREFIX}{dead}-abc"));
        let ours = tmp.join(format!("{PREFIX}{}-def", std::process::id()));
        let other = tmp.join("winrs-sim-notapid");
        for d in [&stale, &ours, &other] {
            std::fs::create_dir_all(d.join("C")).unwrap();
        }
        sweep_stale(&tmp);
        assert!(!stale.exists(), "a killed simulator's folder goes");
        assert!(
            ours.exists() && other.exists(),
            "a live one's, and anything else, stay"
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(cmd_time(0), "01/01/1970  12:00 AM");
        assert_eq!(cmd_time(1_795_964_700), "11/29/2026  03:05 PM");
        assert!(wildcard("*.txt", "Notes.TXT"));
        assert!(wildcard("n?tes.*", "notes.md"));
        assert!(!wildcard("*.txt", "notes.txt.bak"));
        assert_eq!(split_words(r#"a "b c" d"#), ["a", "b c", "d"]);
        assert!(Builtin::parse("DIR").is_some());
        assert!(Builtin::parse("dir\\").is_some());
        assert!(Builtin::parse("directory").is_none());
        assert!(Builtin::parse("echo $HOME").is_none());
    }
}
