//! Hands a PowerShell pool between processes: `open` opens a pool, runs a script and
//! disconnects it, printing `id: ID` and the output; `connect` connects to pool ID, runs a
//! script, prints its output and then closes the pool, or disconnects it again with
//! `--disconnect`. The conformance tests (tests/conformance/test_psrp_handover.py) use it
//! to hand pools to and from pypsrp.
//!
//! ```text
//! PW=... cargo run -p winrm-client --example pool_handover -- --endpoint URL --user U \
//!     --password-env PW --pin SHA256 open '$x = 42'
//! ```

use clap::{Parser, Subcommand};
use winrm_client::{parse_fingerprint, Client, ClientConfig, PoolOptions, TlsMode};

#[derive(Parser)]
struct Cli {
    /// The WinRM endpoint URL.
    #[arg(long)]
    endpoint: String,
    /// The account.
    #[arg(long)]
    user: String,
    /// The environment variable holding the password.
    #[arg(long)]
    password_env: String,
    /// SHA-256 of the server's certificate.
    #[arg(long)]
    pin: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open a pool, run SCRIPT, disconnect.
    Open { script: String },
    /// Connect to pool ID, run SCRIPT, close (or disconnect).
    Connect {
        id: String,
        script: String,
        #[arg(long)]
        disconnect: bool,
    },
}

fn print_output(r: &winrm_client::PipelineResult) -> anyhow::Result<()> {
    if r.had_errors() {
        anyhow::bail!("the script failed: {:?} {:?}", r.failure, r.errors);
    }
    for v in &r.output {
        println!("out: {}", v.display());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let password = std::env::var(&cli.password_env)?;
    let pin = parse_fingerprint(&cli.pin)?;
    let client = Client::new(ClientConfig::new(
        cli.endpoint,
        cli.user,
        password,
        TlsMode::Pin(pin),
    ))?;
    match cli.command {
        Command::Open { script } => {
            let pool = client.open_pool(PoolOptions::default()).await?;
            let r = pool.run_script(&script).await?;
            print_output(&r)?;
            println!("id: {}", pool.disconnect().await?);
        }
        Command::Connect {
            id,
            script,
            disconnect,
        } => {
            let pool = client.connect_pool(&id, PoolOptions::default()).await?;
            let r = pool.run_script(&script).await?;
            print_output(&r)?;
            if disconnect {
                println!("id: {}", pool.disconnect().await?);
            } else {
                pool.close().await?;
            }
        }
    }
    Ok(())
}
