//! `winrelay sim`: run the WinRS simulator (crate `winrs-sim`) as a standalone server.
//!
//! It prints `endpoint: URL` and `fingerprint: HEX` on stdout (scripts read them), serves
//! until SIGINT or SIGTERM, then deletes every shell and kills its processes.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

/// Options of `winrelay sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:5986")]
    pub listen: SocketAddr,
    /// The account clients authenticate as (Basic authentication).
    #[arg(long)]
    pub user: String,
    /// Name of the environment variable holding the password.
    #[arg(
        long,
        conflicts_with = "password_file",
        required_unless_present = "password_file"
    )]
    pub password_env: Option<String>,
    /// File whose first line is the password.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// PEM certificate chain for HTTPS (default: a self-signed one generated at start).
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long, conflicts_with_all = ["cert", "key"])]
    pub http: bool,
    /// Allow a non-loopback listen address: anyone who reaches it and knows the password
    /// runs commands as the user running this simulator.
    #[arg(long)]
    pub allow_remote: bool,
    /// Shells one user may hold open at once (Windows' MaxShellsPerUser).
    #[arg(long, default_value_t = 30)]
    pub max_shells: u32,
    /// A PowerShell pool whose client has had no request outstanding this long is marked
    /// Disconnected (another client may then connect to it), as Windows does after its own
    /// timeout (about two minutes was observed), in seconds; 0: never.
    #[arg(long, default_value_t = 2)]
    pub pool_disconnect_secs: u64,
}

fn password(args: &SimArgs) -> anyhow::Result<String> {
    let password = match (&args.password_env, &args.password_file) {
        (Some(var), _) => std::env::var(var)
            .with_context(|| format!("environment variable {var} (--password-env) is not set"))?,
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading --password-file {}", file.display()))?;
            text.lines().next().unwrap_or("").to_string()
        }
        (None, None) => bail!("give the password with --password-env VAR or --password-file FILE"),
    };
    if password.is_empty() {
        bail!("the password is empty; set a non-empty one");
    }
    Ok(password)
}

/// Starts the simulator and serves until SIGINT or SIGTERM.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let mut config = winrs_sim::SimConfig::new(&args.user, password(&args)?);
    config.listen = args.listen;
    config.allow_remote = args.allow_remote;
    config.max_shells_per_user = args.max_shells;
    config.pool_disconnect_after = (args.pool_disconnect_secs > 0)
        .then(|| std::time::Duration::from_secs(args.pool_disconnect_secs));
    config.tls = match (&args.cert, &args.key, args.http) {
        (_, _, true) => winrs_sim::Tls::Off,
        (Some(cert), Some(key), false) => winrs_sim::Tls::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => winrs_sim::Tls::Generated,
    };
    let sim = winrs_sim::start(config)
        .await
        .context("starting the WinRS simulator")?;
    println!("endpoint: {}", sim.endpoint());
    if let Some(fp) = sim.fingerprint() {
        println!("fingerprint: {fp}");
    }
    // Scripts wait for these lines; stdout may be a pipe, which Rust buffers by line only
    // when it is a terminal.
    use std::io::Write;
    std::io::stdout().flush().ok();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    tracing::info!(
        shells = sim.shell_count(),
        "shutting down: deleting every shell"
    );
    sim.shutdown().await;
    Ok(())
}
