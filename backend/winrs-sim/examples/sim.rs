//! `winrelay sim` without the rest of winrelay: the same code (`backend/src/commands/sim.rs`),
//! for trying the simulator while working on this crate alone.
//! `cargo run -p winrs-sim --example sim -- --user demo --password-env PW --listen 127.0.0.1:0`

#[path = "../../src/commands/sim.rs"]
mod sim_cmd;

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: sim_cmd::SimArgs,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WINRELAY_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = sim_cmd::run(Cli::parse().args).await {
        eprintln!("winrelay sim: {e:#}");
        std::process::exit(1);
    }
}
