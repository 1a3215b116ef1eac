//! `winrelay serve`: the demo target, the housekeeping, and the server's life from start to SIGTERM.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tracing::{info, warn};

use crate::access::signins::Signins;
use crate::config::{
    CertCheck, Config, Credentials, PasswordSource, Roles, Secret, ShellKind, Target,
};
use crate::http::AppState;
use crate::ops::metrics::Metrics;
use crate::session::Registry;
use crate::targets::Targets;

/// Options of `winrelay serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; without it 127.0.0.1:8080, or the next free port.
    #[arg(long)]
    pub listen: Option<String>,
    /// Configuration file (TOML). Without one, the built-in demo target is started.
    #[arg(long, env = "WINRELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for state that survives restarts (sign-ins); default
    /// `$XDG_STATE_HOME/winrelay` or `~/.local/state/winrelay`.
    #[arg(long, env = "WINRELAY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// The state directory: the flag, else the XDG location.
fn state_dir(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var_os("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("winrelay")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/winrelay"))
        })
}

/// Runs the relay until SIGINT or SIGTERM, then ends every shell.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path).with_context(|| format!("loading {}", path.display()))?,
        None => Config::default(),
    };
    let mut targets = Targets::from_config(&config)?;
    let metrics = Metrics::new();
    let registry = Registry::new(config.sessions.clone());
    let discovery = crate::discovery::start(&config, targets.discovered())?;
    let lost_watch = tokio::spawn(end_sessions_of_lost_targets(
        targets.discovered().clone(),
        registry.clone(),
    ));

    // The demo: the simulator on loopback, fresh credentials, its certificate pinned.
    let demo = if args.config.is_none() || config.demo {
        let password = crate::access::new_token();
        let mut sim = winrs_sim::SimConfig::new("demo", password.clone());
        sim.listen = "127.0.0.1:0".parse().expect("valid address");
        // Interactive use: answer with the first output at once rather than batching 20 ms.
        sim.coalesce_window = Duration::from_millis(2);
        // A PowerShell client idle this long (pypsrp between commands) keeps its pool
        // connected, as on Windows.
        sim.pool_disconnect_after = Some(Duration::from_secs(120));
        let handle = winrs_sim::start(sim)
            .await
            .context("starting the built-in demo target")?;
        let pin = handle
            .fingerprint()
            .context("the demo target has no certificate")?;
        let demo_target = Target {
            name: "demo".into(),
            description: "A shell on this machine through the built-in WinRS simulator".into(),
            endpoint: handle.endpoint(),
            shell: ShellKind::Cmd,
            configuration: None,
            credentials: Credentials::Fixed {
                user: "demo".into(),
                password: PasswordSource::Inline(Secret(password)),
            },
            cert: CertCheck::Pin(pin),
            allow_http: false,
            roles: Roles::everyone(),
            record: false,
        };
        targets.add(demo_target.clone());
        // The same simulator's PowerShell remoting endpoint, with the relay as the console.
        let demo_ps = Target {
            name: "demo-ps".into(),
            description: "PowerShell on this machine through the built-in simulator's PowerShell remoting endpoint".into(),
            shell: ShellKind::Powershell,
            ..demo_target.clone()
        };
        targets.add(demo_ps.clone());
        Some((handle, demo_target, demo_ps))
    } else {
        None
    };

    let listener = bind(args.listen.as_deref().or(config.listen.as_deref())).await?;
    let addr = listener.local_addr()?;
    let tls = config
        .tls
        .as_ref()
        .map(|t| crate::http::tls::load(t, addr.ip()))
        .transpose()?;
    let signins = match state_dir(args.state_dir.clone()) {
        Some(dir) => Signins::persistent(dir.join("signins.json")),
        None => Signins::default(),
    };
    let node = match &config.cluster {
        Some(c) => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| crate::config::valid_name(h))
                .unwrap_or_else(|| "relay".into());
            let node = crate::cluster::Node::connect(
                c,
                format!("{host}-{}", addr.port()),
                config.sessions.log_bytes,
                metrics.cluster.clone(),
            )
            .await?;
            node.claim_name().await?;
            tracing::info!(node = %node.name, "cluster: connected to Redis");
            Some(node)
        }
        None => None,
    };
    let state = Arc::new(
        AppState::new(
            &config,
            targets,
            registry.clone(),
            metrics,
            signins,
            tls.is_some(),
        )?
        .listening_on(addr)
        .in_cluster(node)
        .keeping_target(demo.as_ref().map(|(_, t, _)| t.clone()))
        .keeping_target(demo.as_ref().map(|(_, _, t)| t.clone())),
    );
    // Sign-ins came back from the state directory: only those whose account is unchanged
    // stay (issue 17, item 6).
    state.revalidate_sign_ins();
    let app = crate::http::app(state.clone());

    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = if addr.is_ipv6() {
        format!("{scheme}://[{host}]:{}", addr.port())
    } else {
        format!("{scheme}://{host}:{}", addr.port())
    };
    println!("listening: {base}");
    if let Some(t) = &tls {
        println!("tls fingerprint: {}", t.fingerprint);
    }
    // The person who started the relay signs in with a one-time link printed here (on
    // stdout, never in the log); short-lived, and off with `login_link = false` where
    // stdout lands in shared logs (issue 17, item 16).
    if config.login_link {
        let login_user = if args.config.is_none() {
            "demo"
        } else {
            "admin"
        };
        let token = crate::http::caller::shared(&state)
            .login_link(login_user, config.login_link_ttl)
            .await;
        println!("open: {base}/login?token={token}");
        // Someone on this machine may ask for another one later (signed out of the demo).
        let _ = state.login_links.set(crate::http::LoginLinks {
            base: base.clone(),
            user: login_user.to_string(),
            ttl: config.login_link_ttl,
        });
        println!(
            "(the link works once, for {})",
            humantime::format_duration(config.login_link_ttl)
        );
    } else {
        println!("login link: off (login_link = false)");
    }
    // Metrics on an address of their own (issue 17, item 16).
    let metrics_server = match &config.metrics.listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for metrics"))?;
            println!("metrics: http://{}/metrics", l.local_addr()?);
            let app = crate::http::metrics_app(state.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(l, app).await;
            }))
        }
        None => None,
    };
    // A cluster node: heartbeats and adopting sessions whose relay stopped.
    let cluster_task = state
        .cluster
        .clone()
        .map(|node| tokio::spawn(node.run(state.clone())));
    state.ready.store(true, Ordering::Release);

    // Housekeeping: idle sessions, expired tokens.
    // Often enough that a short idle timeout is honoured to within a quarter of itself.
    let every =
        (config.sessions.idle_timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
    let housekeeping = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                state.registry.reap_idle();
                state.targets().check_reachability().await;
                state.targets().discovered().check_reachability().await;
                state.expire_shares();
                state.limiter.purge(std::time::Instant::now());
                if let Some(r) = &state.recordings {
                    r.enforce_retention();
                }
            }
        })
    };

    // SIGHUP: reload users, tokens, targets and roles; sessions go on; sign-ins whose
    // account changed end (issue 17).
    let reloader = {
        let state = state.clone();
        let path = args.config.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    return;
                };
                while hup.recv().await.is_some() {
                    let Some(path) = &path else {
                        info!("SIGHUP: no configuration file to reload");
                        continue;
                    };
                    match Config::load(path)
                        .map_err(anyhow::Error::from)
                        .and_then(|c| state.reload(&c))
                    {
                        Ok(()) => {
                            info!(path = %path.display(), "configuration reloaded: users, tokens, targets and roles")
                        }
                        Err(e) => {
                            warn!(error = %format!("{e:#}"), "the configuration was not reloaded; the previous one stays")
                        }
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = (state, path);
            }
        })
    };
    // Our own connection loop: timeouts and connection limits (issue 17, item 4).
    let trusted = state.trusted_proxies.clone();
    let limits = crate::http::listen::ConnLimits::new(&config.limits, trusted);
    let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config));
    crate::http::listen::serve(listener, app, acceptor, limits, shutdown_signal()).await?;
    // In a cluster with live peers, the sessions move instead of ending.
    if let Some(node) = &state.cluster {
        if let Some(t) = &cluster_task {
            t.abort();
        }
        if node.leave_cluster(&registry).await {
            info!("shutting down: the sessions were handed to the other relays");
        }
    }
    info!("shutting down: ending every shell");
    housekeeping.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    lost_watch.abort();
    discovery.iter().for_each(|t| t.abort());
    if tokio::time::timeout(Duration::from_secs(20), registry.shutdown())
        .await
        .is_err()
    {
        warn!("some shells did not end in 20 s");
    }
    reloader.abort();
    if let Some((sim, _, _)) = demo {
        sim.shutdown().await;
    }
    Ok(())
}

/// Ends the sessions of discovered targets that disappear (the container stopped, the
/// service was removed or scaled down): their shell is gone with the container.
async fn end_sessions_of_lost_targets(
    directory: crate::discovery::Directory,
    registry: Arc<Registry>,
) {
    let mut changes = directory.subscribe();
    let mut known = directory.names();
    while changes.changed().await.is_ok() {
        let now = directory.names();
        let lost: Vec<&String> = known.difference(&now).collect();
        for s in registry.list() {
            if s.state().is_final() || !lost.contains(&&s.target) {
                continue;
            }
            let message = format!(
                "the container of target {} is gone (stopped, removed or scaled down): this session has ended",
                s.target
            );
            info!(session = %s.id, target = %s.target, "ending a session: its container is gone");
            s.notice(&message);
            s.kick_all(&message, false);
            s.end_lost(winrelay_shared::api::FailureCode::ShellGone, message);
        }
        known = now;
    }
}

/// Binds the listen address; without one, 127.0.0.1:8080 or the next free port up to 8099.
async fn bind(listen: Option<&str>) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = match listen {
        Some(a) => tokio::net::TcpListener::bind(a)
            .await
            .with_context(|| format!("cannot listen on {a}"))?,
        None => {
            let mut found = None;
            for port in 8080..8100 {
                if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    found = Some(l);
                    break;
                }
            }
            found.context("ports 8080 to 8099 are all taken: pass --listen ADDR:PORT")?
        }
    };
    Ok(listener)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
