//! winrelay's WinRM client (crate `winrm-client`) doing the bench's work against a running
//! simulator; prints one JSON object in the same shape as the peers' scripts.
//!
//! Throughput: `cmd /c head -c BYTES /dev/zero` in an open shell, Command request to exit
//! code (bytes counted, not kept). Latency: `Shell::run("cmd", ["/c exit 0"])` on the same
//! open shell, start to exit code.

use std::time::Instant;

use anyhow::{ensure, Context};
use clap::Parser;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use winrelay_bench::{percentile, round3};

use winrm_client::{Client, ClientConfig, Output, RequestObserver, ShellOptions, TlsMode};

/// Requests seen per action: count and summed latency (for the latency runs' profile).
type Seen = Arc<Mutex<BTreeMap<String, (u64, f64)>>>;

#[derive(Parser)]
struct Args {
    /// Endpoint of the simulator, e.g. https://127.0.0.1:5986/wsman.
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    user: String,
    /// Environment variable holding the password.
    #[arg(long)]
    password_env: String,
    /// SHA-256 pin of the simulator's certificate.
    #[arg(long)]
    pin: String,
    /// Bytes printed by the throughput command.
    #[arg(long, default_value_t = 100_000_000)]
    bytes: u64,
    /// Throughput repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Trivial commands timed.
    #[arg(long, default_value_t = 200)]
    latency_runs: usize,
}

async fn bench(args: &Args) -> anyhow::Result<serde_json::Value> {
    let password = std::env::var(&args.password_env)
        .with_context(|| format!("{} is not set", args.password_env))?;
    let tls = TlsMode::Pin(winrm_client::parse_fingerprint(&args.pin)?);
    let seen: Seen = Arc::default();
    let mut config = ClientConfig::new(args.endpoint.clone(), &args.user, password, tls);
    let log = seen.clone();
    config.observer = Some(RequestObserver(Arc::new(move |action, took, _| {
        let mut m = log.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.entry(format!("{action:?}")).or_default();
        e.0 += 1;
        e.1 += took.as_secs_f64() * 1e3;
    })));
    let client = Client::new(config)?;
    let shell = client.open_shell(ShellOptions::default()).await?;
    ensure!(shell.run("cmd", ["/c exit 0"]).await?.exit_code == 0);

    let mut rates = Vec::new();
    for _ in 0..args.runs {
        let t = Instant::now();
        let mut cmd = shell
            .start("cmd", [format!("/c head -c {} /dev/zero", args.bytes)])
            .await?;
        let mut got = 0u64;
        loop {
            match cmd.recv().await {
                Some(Ok(Output::Stdout(b))) => got += b.len() as u64,
                Some(Ok(Output::Stderr(_))) => {}
                Some(Ok(Output::Exited(code))) => {
                    ensure!(code == 0, "exit code {code}");
                    break;
                }
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("output ended without an exit code"),
            }
        }
        ensure!(got == args.bytes, "received {got} of {} bytes", args.bytes);
        rates.push(args.bytes as f64 / 1e6 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.total_cmp(b));

    let mut lat = Vec::with_capacity(args.latency_runs);
    seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    for _ in 0..args.latency_runs {
        let t = Instant::now();
        let out = shell.run("cmd", ["/c exit 0"]).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        ensure!(out.exit_code == 0);
    }
    // What one timed command cost, per action: requests per command and their mean latency.
    let profile: serde_json::Map<String, serde_json::Value> = seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(action, (n, ms))| {
            let per = *n as f64 / args.latency_runs as f64;
            (action.clone(), serde_json::json!({ "per_command": round3(per), "mean_ms": round3(ms / *n as f64) }))
        })
        .collect();
    shell.close().await?;
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(serde_json::json!({
        "client": "winrelay winrm-client",
        "throughput_mb_s": round3(rates[rates.len() / 2]),
        "throughput_runs": rates.iter().map(|r| round3(*r)).collect::<Vec<_>>(),
        "latency_p50_ms": round3(percentile(&lat, 50.0)),
        "latency_p99_ms": round3(percentile(&lat, 99.0)),
        "latency_runs": lat.len(),
        "latency_requests": profile,
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.runs > 0 && args.latency_runs > 0,
        "runs must be at least 1"
    );
    // One thread, as the winrm-rs peer (bench/winrm-rs-peer) runs: the row compares the two
    // clients, not a multi-threaded scheduler's wake-ups against a single-threaded one's.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let v = rt.block_on(bench(&args))?;
    println!("{v}");
    Ok(())
}
