//! `winrelay check-config`: validates a configuration the way `serve` would (parsing,
//! targets, secrets it can read, certificate files) and prints what the relay would serve,
//! without starting anything or writing any file.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use crate::config::{CertCheck, Config, Credentials, PasswordSource, Roles};

/// Options of `winrelay check-config`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The configuration file to check.
    #[arg(long, env = "WINRELAY_CONFIG")]
    pub config: PathBuf,
}

fn roles(r: &Roles) -> String {
    let list =
        |name: &str, v: &[String]| (!v.is_empty()).then(|| format!("{name} {}", v.join(", ")));
    [
        list("owners", &r.owners),
        list("writers", &r.writers),
        list("viewers", &r.viewers),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ")
}

fn credentials(c: &Credentials) -> anyhow::Result<String> {
    Ok(match c {
        Credentials::Ask => "asked from the person (ask_credentials)".into(),
        Credentials::Fixed { user, password } => {
            // Read it now, as serve would when the first session opens: a missing variable
            // or file is reported here. The value is never printed.
            password.read()?;
            let from = match password {
                PasswordSource::Env(v) => format!("environment variable {v}"),
                PasswordSource::File(p) => format!("file {}", p.display()),
                PasswordSource::Inline(_) => "built in".into(),
            };
            format!("user {user}, password from {from}")
        }
    })
}

fn cert(c: &CertCheck) -> String {
    match c {
        CertCheck::System => "system roots".into(),
        CertCheck::CaFile(p) => format!("CA file {}", p.display()),
        CertCheck::Pin(p) => format!("pinned SHA-256 {}...", &p[..16.min(p.len())]),
        CertCheck::Insecure => "NOT CHECKED (insecure = true)".into(),
    }
}

/// What `config` would serve, as text; an error for anything `serve` would refuse.
pub fn describe(config: &Config) -> anyhow::Result<String> {
    let mut out = String::new();
    let w = &mut out;
    let listen = config
        .listen
        .as_deref()
        .unwrap_or("127.0.0.1:8080 (or the next free port)");
    writeln!(w, "listen: {listen}")?;
    if let Some(u) = &config.public_url {
        writeln!(w, "public URL: {u}")?;
    }
    if !config.allowed_hosts.is_empty() {
        writeln!(w, "host names: {}", config.allowed_hosts.join(", "))?;
    }
    if !config.allowed_origins.is_empty() {
        writeln!(
            w,
            "other allowed origins: {}",
            config.allowed_origins.join(", ")
        )?;
    }
    match &config.tls {
        Some(t) if t.generate => writeln!(w, "tls: a self-signed certificate generated at start")?,
        Some(t) => {
            let ip = "127.0.0.1".parse().expect("an address");
            let loaded = crate::http::tls::load(t, ip).context("tls")?;
            writeln!(w, "tls: certificate SHA-256 {}", loaded.fingerprint)?;
        }
        None => writeln!(
            w,
            "tls: none (plain HTTP; put a TLS proxy in front, or add [tls])"
        )?,
    }
    let targets = config.targets()?;
    writeln!(w, "targets ({}):", targets.len())?;
    for t in &targets {
        writeln!(
            w,
            "  {}  {}  {:?}  {}; certificate: {}{}{}",
            t.name,
            t.endpoint,
            t.shell,
            credentials(&t.credentials).with_context(|| format!("target {}", t.name))?,
            cert(&t.cert),
            match roles(&t.roles) {
                r if r.is_empty() => String::new(),
                r => format!("; {r}"),
            },
            if t.record { "; recorded" } else { "" },
        )?;
    }
    for p in &config.patterns {
        writeln!(
            w,
            "  {}/HOST  HOST ending in {:?}, resolving into {}; port {}",
            p.name,
            p.host_suffix,
            p.allow_networks
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            p.port
        )?;
    }
    if config.demo {
        writeln!(w, "  demo  (the built-in simulator on loopback)")?;
    }
    let users: Vec<String> = config
        .users
        .iter()
        .map(|u| match u.groups.is_empty() {
            true => u.name.clone(),
            false => format!("{} [{}]", u.name, u.groups.join(", ")),
        })
        .collect();
    writeln!(
        w,
        "local users: {}",
        if users.is_empty() {
            "none".into()
        } else {
            users.join(", ")
        }
    )?;
    let tokens: Vec<String> = config
        .tokens
        .iter()
        .map(|t| format!("{} (as {})", t.name, t.user))
        .collect();
    writeln!(
        w,
        "API tokens: {}",
        if tokens.is_empty() {
            "none".into()
        } else {
            tokens.join(", ")
        }
    )?;
    if let Some(p) = &config.proxy_auth {
        writeln!(
            w,
            "single sign-on: {} / {} from {}",
            p.user_header,
            p.groups_header,
            p.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    if !config.trusted_proxies.is_empty() {
        writeln!(
            w,
            "reverse proxies (X-Forwarded-For/-Proto believed): {}",
            config
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    if let Some(e) = &config.embed {
        crate::access::embed::Embed::from_config(e).context("embed")?;
        writeln!(
            w,
            "embed tokens: accepted (audience {}, at most {})",
            e.audience.as_deref().unwrap_or("any"),
            humantime::format_duration(e.max_ttl)
        )?;
    }
    if let Some(a) = &config.audit {
        writeln!(
            w,
            "audit log: {}{}",
            a.path.display(),
            if a.log_input {
                " (with every input line)"
            } else {
                ""
            }
        )?;
    }
    if let Some(r) = &config.recordings {
        writeln!(
            w,
            "recordings: {} (kept {}, at most {} bytes)",
            r.dir.display(),
            humantime::format_duration(r.max_age),
            r.max_bytes
        )?;
    }
    let s = &config.sessions;
    let l = &config.limits;
    writeln!(
        w,
        "sessions: at most {} ({} per person, {} per target), idle end after {}",
        s.max_sessions,
        s.max_per_user.map_or("no limit".into(), |n| n.to_string()),
        s.max_per_target
            .map_or("no limit".into(), |n| n.to_string()),
        humantime::format_duration(s.idle_timeout)
    )?;
    writeln!(
        w,
        "connections: at most {} ({} per address); headers within {}, bodies within {}, idle {}",
        l.max_connections,
        l.max_connections_per_address,
        humantime::format_duration(l.header_timeout),
        humantime::format_duration(l.body_timeout),
        humantime::format_duration(l.idle_timeout)
    )?;
    writeln!(
        w,
        "metrics: {}",
        match (&config.metrics.listen, &config.metrics.token_hash) {
            (Some(a), _) => format!("on {a}"),
            (None, Some(_)) => "on the main port, with the metrics token".into(),
            (None, None) => "off".into(),
        }
    )?;
    writeln!(
        w,
        "login link at start: {}",
        if config.login_link {
            format!(
                "printed, valid {}",
                humantime::format_duration(config.login_link_ttl)
            )
        } else {
            "off".into()
        }
    )?;
    Ok(out)
}

/// Runs the check; prints the description, or fails with the reason.
pub fn check_config(args: CheckArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)
        .with_context(|| format!("checking {}", args.config.display()))?;
    let text = describe(&config).with_context(|| format!("checking {}", args.config.display()))?;
    println!("{}: OK", args.config.display());
    print!("{text}");
    Ok(())
}
