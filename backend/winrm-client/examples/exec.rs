//! `winrelay exec` / `winrelay probe` without the relay: the same code as the binary's
//! subcommands (`backend/src/commands/exec.rs`), for trying the client against a server by hand.
//!
//! ```text
//! WINRM_PASSWORD=... cargo run -p winrm-client --example exec -- exec \
//!     --endpoint https://HOST:5986/wsman --user U --password-env WINRM_PASSWORD --pin SHA256 -- ipconfig
//! ```

#[path = "../../src/commands/exec.rs"]
mod exec_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a command remotely.
    Exec(exec_cmd::ExecArgs),
    /// Check that an endpoint is reachable and usable.
    Probe(exec_cmd::ProbeArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let code = match Cli::parse().command {
        Command::Exec(args) => exec_cmd::exec(args).await?,
        Command::Probe(args) => {
            exec_cmd::probe(args).await?;
            0
        }
    };
    std::process::exit(code);
}
