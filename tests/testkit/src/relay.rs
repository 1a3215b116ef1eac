//! The relay and the simulator as child processes.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::user::User;

/// The `winrelay` binary: `$WINRELAY_BIN`, else the one cargo built next to the running
/// program (`target/debug/winrelay` for a test in `target/debug/deps/`).
pub fn bin() -> PathBuf {
    if let Some(b) = std::env::var_os("WINRELAY_BIN") {
        return b.into();
    }
    let exe = std::env::current_exe().expect("the running program's path");
    let name = format!("winrelay{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no winrelay binary next to {}: build it (cargo build -p winrelay --bins) or set \
                 WINRELAY_BIN",
                exe.display()
            )
        })
}

/// A fresh path under the temporary directory (nothing is created), unique to this process.
pub fn temp_path(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "winrelay-{what}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes a relay configuration into a fresh directory and returns its path.
pub fn config_file(text: &str) -> PathBuf {
    let dir = temp_path("cfg");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("relay.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Sends signal `sig` to process `pid` (with kill(1): no unsafe code).
pub fn kill(pid: i32, sig: i32) {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

/// Reads `prefix: value` lines from a child's stdout until every prefix was seen, then keeps
/// draining stdout so the child never blocks on a full pipe.
fn read_prefixed(child: &mut Child, prefixes: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut lines = BufReader::new(child.stdout.take().context("no stdout pipe")?).lines();
    let mut found = vec![None; prefixes.len()];
    while found.iter().any(Option::is_none) {
        let line = lines
            .next()
            .with_context(|| format!("the process ended before printing {prefixes:?}"))??;
        for (i, p) in prefixes.iter().enumerate() {
            if let Some(v) = line.strip_prefix(p) {
                found[i] = Some(v.to_string());
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok(found.into_iter().map(Option::unwrap).collect())
}

/// How to start a relay: `winrelay serve --listen 127.0.0.1:0` and what is added here.
#[derive(Debug, Clone)]
pub struct RelayBuilder {
    bin: Option<PathBuf>,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    log: String,
    log_file: Option<PathBuf>,
    state_dir: Option<PathBuf>,
}

impl RelayBuilder {
    /// The binary (default: [`bin()`]).
    pub fn bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.bin = Some(path.into());
        self
    }

    /// One more argument after `serve --listen 127.0.0.1:0`.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// More arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--config PATH`.
    pub fn config(self, path: impl AsRef<Path>) -> Self {
        self.arg("--config").arg(path.as_ref())
    }

    /// An environment variable of the relay's process.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// `WINRELAY_LOG` (default `debug`).
    pub fn log(mut self, filter: &str) -> Self {
        self.log = filter.into();
        self
    }

    /// Where the relay's stderr (its log) goes (default: a fresh file under the temporary
    /// directory, kept after the relay stops; see [`Relay::log`]).
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// Keeps sign-ins in `dir`, which the caller owns (to restart a relay on the same
    /// state). Without it the relay gets a fresh directory of its own, removed on drop.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Starts the relay and waits for its URLs; panics if it does not start.
    pub fn start(self) -> Relay {
        self.try_start().unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts the relay and waits for its URLs.
    pub fn try_start(self) -> anyhow::Result<Relay> {
        let sandbox = temp_path("relay");
        let (state_dir, owned) = match self.state_dir {
            Some(dir) => (dir, None),
            None => (sandbox.join("state"), Some(sandbox.clone())),
        };
        let log_path = self
            .log_file
            .unwrap_or_else(|| temp_path("test").with_extension("log"));
        let stderr = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let bin = self.bin.unwrap_or_else(bin);
        let mut child = Command::new(&bin)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&self.args)
            .env("WINRELAY_LOG", &self.log)
            .env("WINRELAY_STATE_DIR", &state_dir)
            // Should the flag ever be ignored, the XDG fallback is a sandbox too.
            .env("XDG_STATE_HOME", sandbox.join("xdg-state"))
            .envs(self.envs)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {} serve", bin.display()))?;
        let urls = match read_prefixed(&mut child, &["listening: ", "open: "]) {
            Ok(urls) => urls,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(e.context(format!("the relay did not start; its log:\n{log}")));
            }
        };
        Ok(Relay {
            child,
            base: urls[0].clone(),
            login: urls[1].clone(),
            stderr_path: log_path,
            state_dir,
            owned,
        })
    }
}

/// A running `winrelay serve`, killed on drop (its own state directory removed with it).
pub struct Relay {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT` (or `https://` with TLS configured).
    pub base: String,
    /// The one-time login link the relay printed.
    pub login: String,
    /// The relay's stderr (its log).
    pub stderr_path: PathBuf,
    state_dir: PathBuf,
    /// The sandbox to remove on drop, when the kit made it.
    owned: Option<PathBuf>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.owned {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Relay {
    /// A builder: `Relay::builder().config(path).log("trace").start()`.
    pub fn builder() -> RelayBuilder {
        RelayBuilder {
            bin: None,
            args: Vec::new(),
            envs: Vec::new(),
            log: "debug".into(),
            log_file: None,
            state_dir: None,
        }
    }

    /// Starts the relay with the demo target (no configuration).
    pub fn demo() -> Relay {
        Relay::builder().start()
    }

    /// Starts the relay with extra arguments after `serve --listen 127.0.0.1:0`.
    pub fn start(extra: &[&str]) -> Relay {
        Relay::builder().args(extra).start()
    }

    /// Starts the relay with its state (sign-ins) in `state`, which the caller owns.
    pub fn start_with_state(extra: &[&str], state: &Path) -> Relay {
        Relay::builder().args(extra).state_dir(state).start()
    }

    /// The directory the relay keeps its sign-ins in (`WINRELAY_STATE_DIR`).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The WebSocket base URL (`ws://127.0.0.1:PORT`).
    pub fn ws_base(&self) -> String {
        ws_base(&self.base)
    }

    /// The relay's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Signs in with the one-time link; panics if that fails.
    pub async fn sign_in(&self) -> User {
        self.try_sign_in().await.unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Signs in with the one-time link.
    pub async fn try_sign_in(&self) -> anyhow::Result<User> {
        let mut user = User::sign_in(&self.login).await?;
        user.base = self.base.clone();
        user.ws = self.ws_base();
        Ok(user)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        kill(self.child.id() as i32, 15);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "relay did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `http://` to `ws://`, `https://` to `wss://`.
pub(crate) fn ws_base(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        base.replacen("http://", "ws://", 1)
    }
}

/// A running `winrelay sim`, killed on drop.
pub struct Sim {
    /// The process.
    pub child: Child,
    /// Its WS-Management endpoint (`https://127.0.0.1:PORT/wsman`).
    pub endpoint: String,
    /// Its certificate's fingerprint, to pin.
    pub fingerprint: String,
    /// Its port.
    pub port: u16,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    /// Starts a simulator on loopback that accepts `user` with `password`; panics if it
    /// does not start.
    pub fn start(user: &str, password: &str) -> Sim {
        Sim::try_start(None, "127.0.0.1:0", user, password, &[]).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts a simulator on a given loopback port (so that a restart comes back at the same
    /// address); panics if it does not start.
    pub fn start_on(port: u16, user: &str, password: &str) -> Sim {
        Sim::try_start(None, &format!("127.0.0.1:{port}"), user, password, &[])
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts a simulator listening on `listen`, with `bin` (default [`bin()`]) and `extra`
    /// arguments.
    pub fn try_start(
        bin: Option<&Path>,
        listen: &str,
        user: &str,
        password: &str,
        extra: &[&str],
    ) -> anyhow::Result<Sim> {
        let bin = bin.map(Path::to_path_buf).unwrap_or_else(self::bin);
        let mut child = Command::new(&bin)
            .args(["sim", "--listen", listen, "--user", user])
            .args(["--password-env", "SIM_PW"])
            .args(extra)
            .env("SIM_PW", password)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} sim", bin.display()))?;
        let v = match read_prefixed(&mut child, &["endpoint: ", "fingerprint: "]) {
            Ok(v) => v,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e.context("the simulator did not start"));
            }
        };
        let port = v[0]
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .trim_end_matches("/wsman")
            .parse();
        let Ok(port) = port else {
            bail!("no port in the simulator's endpoint {}", v[0]);
        };
        Ok(Sim {
            child,
            endpoint: v[0].clone(),
            fingerprint: v[1].clone(),
            port,
        })
    }

    /// Process ids of the shells' processes (children of the simulator).
    pub fn children(&self) -> Vec<u32> {
        let out = Command::new("pgrep")
            .args(["-P", &self.child.id().to_string()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}
