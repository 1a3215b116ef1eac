//! The `winrelay` command.

use clap::{Parser, Subcommand};

/// Browser terminals for Windows containers, over WinRM.
#[derive(Parser)]
#[command(name = "winrelay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay (without --config: with the built-in demo target).
    Serve(winrelay::commands::serve::ServeArgs),
    /// Run the WinRS simulator: a WinRM server for Linux that runs local processes.
    Sim(winrelay::commands::sim::SimArgs),
    /// Run a command on a WinRM host and stream its output.
    Exec(winrelay::commands::exec::ExecArgs),
    /// Check a WinRM endpoint: certificate fingerprint, authentication, shell timing.
    Probe(winrelay::commands::exec::ProbeArgs),
    /// Check a configuration file and print what the relay would serve.
    CheckConfig(winrelay::commands::check::CheckArgs),
    /// Exit 0 when the relay on this machine is ready (for container health checks).
    Healthcheck(winrelay::commands::healthcheck::HealthcheckArgs),
    /// Hash a password for a `[[user]]` entry: reads it from stdin, prints the argon2 string.
    HashPassword,
}

#[tokio::main]
async fn main() {
    // Logs go to stderr (stdout carries the URLs scripts read); WINRELAY_LOG_FORMAT=json
    // gives one JSON object per line for log collectors.
    let filter = tracing_subscriber::EnvFilter::try_from_env("WINRELAY_LOG")
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("WINRELAY_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => winrelay::commands::serve::serve(a).await,
        Command::Sim(a) => winrelay::commands::sim::run(a).await,
        Command::Exec(a) => match winrelay::commands::exec::exec(a).await {
            Ok(code) => std::process::exit(code),
            Err(e) => Err(e),
        },
        Command::Probe(a) => winrelay::commands::exec::probe(a).await,
        Command::CheckConfig(a) => winrelay::commands::check::check_config(a),
        Command::Healthcheck(a) => winrelay::commands::healthcheck::run(a).await,
        Command::HashPassword => winrelay::commands::hash_password(),
    };
    if let Err(e) = result {
        eprintln!("winrelay: {e:#}");
        std::process::exit(1);
    }
}
