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
    Serve(winrelay::server::ServeArgs),
    /// Run the WinRS simulator: a WinRM server for Linux that runs local processes.
    Sim(winrelay::sim_cmd::SimArgs),
    /// Run a command on a WinRM host and stream its output.
    Exec(winrelay::exec_cmd::ExecArgs),
    /// Check a WinRM endpoint: certificate fingerprint, authentication, shell timing.
    Probe(winrelay::exec_cmd::ProbeArgs),
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
        Command::Serve(a) => winrelay::server::serve(a).await,
        Command::Sim(a) => winrelay::sim_cmd::run(a).await,
        Command::Exec(a) => match winrelay::exec_cmd::exec(a).await {
            Ok(code) => std::process::exit(code),
            Err(e) => Err(e),
        },
        Command::Probe(a) => winrelay::exec_cmd::probe(a).await,
        Command::HashPassword => hash_password(),
    };
    if let Err(e) = result {
        eprintln!("winrelay: {e:#}");
        std::process::exit(1);
    }
}

/// `winrelay hash-password`: one line from stdin (a prompt on stderr when it is a terminal).
fn hash_password() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("password (shown as you type; pipe it in to hide it): ");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "no password given on stdin");
    println!("{}", winrelay::users::hash_password(password)?);
    Ok(())
}
