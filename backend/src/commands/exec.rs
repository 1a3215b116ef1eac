//! `winrelay exec` and `winrelay probe`: the WinRM client on the command line.
//!
//! `exec` runs one command in a fresh shell, streams its stdout and stderr live, forwards this
//! process's stdin and Ctrl+C, and returns the remote exit code. `exec --powershell` runs a
//! script in a PowerShell pipeline instead (PSRP): output formatted by the remote side
//! (`Out-String -Stream`), error records on stderr as the console shows them, and the exit
//! code of `exit N`, else 1 if the pipeline failed or wrote errors, else 0. `probe` is the first thing to
//! run when a container cannot be reached: it shows the certificate fingerprint to pin, whether
//! the password works, and how long a shell takes to create and delete.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use winrm_client::{Client, ClientConfig, Error, Output, Password, ShellOptions, TlsMode};

// What probe says is wrong (its own file; a path so that winrm-client's CLI tests, which
// include this file, find it too).
#[path = "diagnose.rs"]
mod diagnose;

/// How to reach and authenticate to a WinRM endpoint (shared by `exec` and `probe`).
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// WinRM endpoint URL, e.g. https://HOST:5986/wsman
    #[arg(long, value_name = "URL")]
    pub endpoint: String,
    /// Account name (a local account with Basic auth enabled)
    #[arg(long, short = 'u', value_name = "USER")]
    pub user: String,
    /// Read the password from this environment variable
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// Read the password from this file (one trailing newline is ignored)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Trust only the certificate with this SHA-256 fingerprint (hex, colons allowed;
    /// `winrelay probe` prints it)
    #[arg(long, value_name = "SHA256", conflicts_with_all = ["ca", "insecure"])]
    pub pin: Option<String>,
    /// Trust certificates issued by the CA(s) in this PEM file (default: the system roots)
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// Do not check the certificate at all (anyone on the path can read the password)
    #[arg(long)]
    pub insecure: bool,
    /// Allow a plain http:// endpoint (sends the password in clear)
    #[arg(long)]
    pub allow_http: bool,
    /// Seconds the server may hold a request (WinRM OperationTimeout)
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub operation_timeout: u64,
}

impl ConnectArgs {
    /// The TLS mode the flags ask for.
    pub fn tls_mode(&self) -> anyhow::Result<TlsMode> {
        Ok(if let Some(pin) = &self.pin {
            TlsMode::Pin(winrm_client::parse_fingerprint(pin)?)
        } else if let Some(ca) = &self.ca {
            TlsMode::CaFile(ca.clone())
        } else if self.insecure {
            TlsMode::Insecure
        } else {
            TlsMode::SystemRoots
        })
    }

    /// Reads the password from where the flags say.
    pub fn password(&self) -> anyhow::Result<Password> {
        if let Some(var) = &self.password_env {
            let value = std::env::var(var).with_context(|| {
                format!("the environment variable {var} (--password-env) is not set")
            })?;
            return Ok(Password::new(value));
        }
        if let Some(path) = &self.password_file {
            let mut value = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the password file {}", path.display()))?;
            if value.ends_with('\n') {
                value.pop();
                if value.ends_with('\r') {
                    value.pop();
                }
            }
            return Ok(Password::new(value));
        }
        bail!("give the password with --password-env VAR or --password-file FILE (never on the command line)")
    }

    /// The client configuration.
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let mut config = ClientConfig::new(
            &self.endpoint,
            &self.user,
            self.password()?,
            self.tls_mode()?,
        );
        config.allow_http = self.allow_http;
        config.operation_timeout = Duration::from_secs(self.operation_timeout.max(1));
        Ok(config)
    }
}

/// `winrelay exec`: run a command remotely.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Working directory of the command
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Environment variable for the command (repeatable)
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Do not forward this process's stdin (the command's stdin is closed at once)
    #[arg(long)]
    pub no_stdin: bool,
    /// Run the words after `--` as a PowerShell script over PSRP (Read-Host reads lines of
    /// this process's stdin)
    #[arg(long, conflicts_with_all = ["cwd", "env"])]
    pub powershell: bool,
    /// PowerShell session configuration (JEA endpoint) for --powershell
    #[arg(
        long,
        value_name = "NAME",
        default_value = "Microsoft.PowerShell",
        requires = "powershell"
    )]
    pub configuration: String,
    /// The command and its arguments (put them after `--`)
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// `winrelay probe`: check that an endpoint is reachable and usable.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Runs `winrelay exec` on this process's stdio and returns the remote exit code.
pub async fn exec(args: ExecArgs) -> anyhow::Result<i32> {
    let input = if args.no_stdin {
        None
    } else {
        Some(stdin_chunks())
    };
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    exec_with(args, input, &mut stdout, &mut stderr, true).await
}

/// Reads stdin on a plain thread: tokio's stdin would keep the runtime from shutting down
/// while a terminal read is pending. `None` marks end of input.
fn stdin_chunks() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// `exec` with its input and outputs given, so that tests can drive it. `input` yields
/// chunks for the command's stdin and ends with the channel closing (then stdin is closed);
/// `None` closes stdin at once.
pub async fn exec_with<O, E>(
    args: ExecArgs,
    input: Option<mpsc::Receiver<Vec<u8>>>,
    stdout: &mut O,
    stderr: &mut E,
    forward_ctrl_c: bool,
) -> anyhow::Result<i32>
where
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    if args.powershell {
        return exec_powershell(args, input, stdout, stderr, forward_ctrl_c).await;
    }
    let client = Client::new(args.connect.client_config()?)?;
    let shell = client
        .open_shell(ShellOptions {
            working_directory: args.cwd.clone(),
            env: args.env.clone(),
            ..ShellOptions::default()
        })
        .await
        .context("cannot open a shell")?;
    let (program, rest) = args.command.split_first().context("no command given")?;
    let command = shell
        .start(program, rest.iter().cloned())
        .await
        .with_context(|| format!("cannot start {program:?}"))?;
    let (stdin_handle, mut output) = command.into_split();

    let feeder = {
        let handle = stdin_handle.clone();
        tokio::spawn(async move {
            if let Some(mut rx) = input {
                while let Some(chunk) = rx.recv().await {
                    handle.send(&chunk).await?;
                }
            }
            handle.close_stdin().await
        })
    };

    let ctrl_c = forward_ctrl_c.then(|| {
        let handle = stdin_handle.clone();
        tokio::spawn(async move {
            let mut presses = 0u32;
            while tokio::signal::ctrl_c().await.is_ok() {
                presses += 1;
                // A command that ignores Ctrl+C can still be stopped: the third press ends it.
                let res = if presses >= 3 {
                    handle.terminate().await
                } else {
                    handle.ctrl_c().await
                };
                if let Err(e) = res {
                    tracing::warn!(error = %e, "could not forward Ctrl+C");
                }
            }
        })
    });

    let result = async {
        while let Some(item) = output.recv().await {
            match item? {
                Output::Stdout(b) => {
                    stdout.write_all(&b).await?;
                    stdout.flush().await?;
                }
                Output::Stderr(b) => {
                    stderr.write_all(&b).await?;
                    stderr.flush().await?;
                }
                Output::Exited(code) => return Ok(code),
            }
        }
        bail!("the output of the command ended without an exit code")
    }
    .await;

    feeder.abort();
    if let Some(task) = ctrl_c {
        task.abort();
    }
    drop(output);
    drop(stdin_handle);
    let closed = shell.close().await;
    let code = result?;
    if let Err(e) = closed {
        tracing::warn!(error = %e, "could not delete the shell");
    }
    Ok(code)
}

/// Lines of `input` for Read-Host, one at a time.
struct Lines {
    input: Option<mpsc::Receiver<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Lines {
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            match self.input.as_mut()?.recv().await {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => {
                    self.input = None;
                    if self.buf.is_empty() {
                        return None;
                    }
                    let rest = std::mem::take(&mut self.buf);
                    return Some(String::from_utf8_lossy(&rest).into_owned());
                }
            }
        }
    }
}

/// `exec --powershell`: the script in a pipeline `SCRIPT | Out-String -Stream` with a host
/// (Write-Host and Read-Host work), streams printed as they arrive.
async fn exec_powershell<O, E>(
    args: ExecArgs,
    input: Option<mpsc::Receiver<Vec<u8>>>,
    stdout: &mut O,
    stderr: &mut E,
    forward_ctrl_c: bool,
) -> anyhow::Result<i32>
where
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    use winrm_client::psrp::clixml::Value;
    use winrm_client::psrp::host::{HostMethodId, HostRequest, HostResponse};
    use winrm_client::psrp::messages::{Command, CreatePipeline};
    use winrm_client::psrp::records::{HostInfo, PipelineState};
    use winrm_client::{PoolOptions, PsEvent};

    let client = Client::new(args.connect.client_config()?)?;
    let host = HostInfo::console(120, 50);
    let pool = client
        .open_pool(PoolOptions {
            configuration: args.configuration.clone(),
            host: host.clone(),
        })
        .await
        .context("cannot open a PowerShell session")?;
    let script = args.command.join(" ");
    let create = CreatePipeline::new(
        vec![
            Command::script(script),
            Command::cmdlet("Out-String").arg("Stream", Value::Bool(true)),
        ],
        host,
    );
    let mut lines = Lines {
        input,
        buf: Vec::new(),
    };
    let result = async {
        let mut pipeline = pool.start(create, Vec::new()).await?;
        let ctrl_c = forward_ctrl_c.then(|| {
            let stopper = pipeline.stopper();
            tokio::spawn(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    if let Err(e) = stopper.stop().await {
                        tracing::warn!(error = %e, "could not stop the pipeline");
                    }
                }
            })
        });
        let mut exit = None;
        let mut wrote_errors = false;
        let mut state = None;
        while let Some(ev) = pipeline.next().await {
            match ev? {
                PsEvent::Output(v) => {
                    stdout
                        .write_all(format!("{}\n", v.display()).as_bytes())
                        .await?;
                }
                PsEvent::Error(e) => {
                    wrote_errors = true;
                    stderr
                        .write_all(format!("{}\n", e.console_text()).as_bytes())
                        .await?;
                }
                PsEvent::Warning(m) => {
                    stderr
                        .write_all(format!("WARNING: {m}\n").as_bytes())
                        .await?
                }
                PsEvent::Verbose(m) => {
                    stderr
                        .write_all(format!("VERBOSE: {m}\n").as_bytes())
                        .await?
                }
                PsEvent::Debug(m) => stderr.write_all(format!("DEBUG: {m}\n").as_bytes()).await?,
                PsEvent::Information(_) | PsEvent::Progress(_) => {}
                PsEvent::HostCall(call) => {
                    if call.method == HostMethodId::SET_SHOULD_EXIT {
                        exit = call.params.first().and_then(Value::as_i32);
                    }
                    let request = call.request();
                    let answer = match &request {
                        HostRequest::Write(w) => {
                            let text = format!("{}{}", w.text, if w.newline { "\n" } else { "" });
                            if call.method == HostMethodId::WRITE_ERROR_LINE {
                                stderr.write_all(text.as_bytes()).await?;
                            } else {
                                stdout.write_all(text.as_bytes()).await?;
                            }
                            None
                        }
                        HostRequest::ReadLine => {
                            Some(Value::str(lines.next().await.unwrap_or_default()))
                        }
                        HostRequest::ReadLineAsSecureString => {
                            let line = lines.next().await.unwrap_or_default();
                            Some(pool.secure_string(&line).await?)
                        }
                        HostRequest::Prompt { fields, .. } => {
                            let mut entries = Vec::new();
                            for f in fields {
                                stdout.write_all(format!("{}: ", f.name).as_bytes()).await?;
                                stdout.flush().await?;
                                let line = lines.next().await.unwrap_or_default();
                                let v = if f.type_full_name == "System.Security.SecureString" {
                                    pool.secure_string(&line).await?
                                } else {
                                    Value::str(line)
                                };
                                entries.push((Value::str(f.name.clone()), v));
                            }
                            Some(winrm_client::psrp::clixml::hashtable_value(entries))
                        }
                        _ => None,
                    };
                    if call.wants_reply() {
                        pipeline.respond(&HostResponse::ok(&call, answer)).await?;
                    }
                }
                PsEvent::Finished { state: s, error } => {
                    if let Some(e) = error.filter(|_| s != PipelineState::Completed) {
                        stderr
                            .write_all(format!("{}\n", e.console_text()).as_bytes())
                            .await?;
                    }
                    state = Some(s);
                    break;
                }
            }
            stdout.flush().await?;
            stderr.flush().await?;
        }
        stdout.flush().await?;
        stderr.flush().await?;
        if let Some(task) = ctrl_c {
            task.abort();
        }
        let Some(state) = state else {
            bail!("the pipeline's output ended without its final state");
        };
        Ok(match exit {
            Some(n) => n,
            None if state != PipelineState::Completed || wrote_errors => 1,
            None => 0,
        })
    }
    .await;
    let closed = pool.close().await;
    let code = result?;
    if let Err(e) = closed {
        tracing::warn!(error = %e, "could not close the PowerShell session");
    }
    Ok(code)
}

/// Runs `winrelay probe` and prints its findings to stdout.
pub async fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    let mut out = String::new();
    let res = probe_into(&args, &mut out).await;
    print!("{out}");
    res
}

/// `probe` writing its report into a string.
pub async fn probe_into(args: &ProbeArgs, out: &mut String) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let config = args.connect.client_config()?;
    let tls = match &config.tls {
        TlsMode::Pin(_) => "checked against the pin",
        TlsMode::CaFile(_) => "checked against the CA file",
        TlsMode::SystemRoots => "checked against the system roots",
        TlsMode::Insecure => "NOT checked: --insecure",
    };
    let client = Client::new(config)?;
    writeln!(out, "endpoint:     {}", client.endpoint())?;
    let started = Instant::now();
    let opened = client.open_shell(ShellOptions::default()).await;
    let create = started.elapsed();
    match client.seen_fingerprint() {
        Some(fp) => writeln!(out, "certificate:  sha256 {fp} ({tls})")?,
        None if client.endpoint().starts_with("http:") => {
            writeln!(out, "certificate:  none (plain HTTP)")?
        }
        None => writeln!(out, "certificate:  none seen (no TLS handshake completed)")?,
    }
    let shell = match opened {
        Ok(shell) => shell,
        Err(e) => {
            let auth = match &e {
                Error::WrongCredentials { .. } => "REFUSED (wrong user name or password)",
                Error::ShellGone { .. } | Error::QuotaReached { .. } | Error::Fault { .. } => {
                    "ok (but the server refused the shell)"
                }
                _ => "not reached",
            };
            writeln!(out, "auth:         {auth}")?;
            for line in diagnose::diagnosis(&e, &diagnose::look(client.endpoint()).await) {
                writeln!(out, "diagnosis:    {line}")?;
            }
            writeln!(out, "result:       FAILED")?;
            return Err(e.into());
        }
    };
    writeln!(out, "auth:         ok (user {})", args.connect.user)?;
    let started = Instant::now();
    let closed = shell.close().await;
    let delete = started.elapsed();
    writeln!(
        out,
        "shell:        created in {:.1} ms (including connect and TLS), deleted in {:.1} ms",
        create.as_secs_f64() * 1e3,
        delete.as_secs_f64() * 1e3
    )?;
    closed.context("the shell was created but could not be deleted")?;
    let started = Instant::now();
    match client.open_pool(winrm_client::PoolOptions::default()).await {
        Ok(pool) => {
            let opened = started.elapsed();
            let version = pool.ps_version().unwrap_or_else(|| "unknown".into());
            let protocol = pool
                .protocol_version()
                .map_or("unknown".to_string(), |(a, b)| format!("{a}.{b}"));
            let closed = pool.close().await;
            writeln!(
                out,
                "powershell:   answers: PowerShell {version}, protocol {protocol} (pool opened in {:.1} ms)",
                opened.as_secs_f64() * 1e3
            )?;
            closed.context("the PowerShell pool was opened but could not be closed")?;
        }
        Err(e) => writeln!(out, "powershell:   not available ({e})")?,
    }
    writeln!(out, "result:       ok")?;
    Ok(())
}
