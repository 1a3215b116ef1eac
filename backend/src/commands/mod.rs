//! The `winrelay` subcommands: `serve`, `sim`, `exec`, `probe`, `healthcheck`, `hash-password`.

pub mod check;
pub mod exec;
pub mod healthcheck;
pub mod serve;
pub mod sim;

/// `winrelay hash-password`: one line from stdin (a prompt on stderr when it is a terminal).
pub fn hash_password() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("password (shown as you type; pipe it in to hide it): ");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "no password given on stdin");
    println!("{}", crate::access::users::hash_password(password)?);
    Ok(())
}
