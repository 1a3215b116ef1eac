//! winrelay's PowerShell client (`winrm_client::PowerShellPool`) doing the bench's PowerShell
//! work against a running simulator; prints one JSON object in the same shape as
//! `bench/peers/psrp_peer.py` (pypsrp).
//!
//! Latency: a pipeline `Write-Output x` on one open pool, start to PIPELINE_STATE. Throughput:
//! `1..N` (N small objects, every one deserialized), start to PIPELINE_STATE.

use std::time::Instant;

use anyhow::{ensure, Context};
use clap::Parser;
use winrelay_bench::{percentile, round3};
use winrm_client::psrp::clixml::Value;
use winrm_client::{Client, ClientConfig, PoolOptions, TlsMode};

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
    /// Objects written by the throughput pipeline.
    #[arg(long, default_value_t = 100_000)]
    objects: u32,
    /// Throughput repetitions (the median is reported).
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// `Write-Output x` pipelines timed.
    #[arg(long, default_value_t = 200)]
    latency_runs: usize,
}

async fn bench(args: &Args) -> anyhow::Result<serde_json::Value> {
    let password = std::env::var(&args.password_env)
        .with_context(|| format!("{} is not set", args.password_env))?;
    let tls = TlsMode::Pin(winrm_client::parse_fingerprint(&args.pin)?);
    let mut config = ClientConfig::new(args.endpoint.clone(), &args.user, password, tls);
    // What PowerShell itself sends to a 2.2+ server.
    config.max_envelope_size = 512_000;
    let client = Client::new(config)?;
    let pool = client.open_pool(PoolOptions::default()).await?;
    let r = pool.run_script("Write-Output x").await?;
    ensure!(
        r.output == vec![Value::str("x")],
        "unexpected {:?}",
        r.output
    );

    let mut rates = Vec::new();
    for _ in 0..args.runs {
        let t = Instant::now();
        let r = pool.run_script(&format!("1..{}", args.objects)).await?;
        let secs = t.elapsed().as_secs_f64();
        ensure!(
            r.output.len() == args.objects as usize,
            "received {} of {} objects",
            r.output.len(),
            args.objects
        );
        rates.push(args.objects as f64 / secs);
    }
    rates.sort_by(|a, b| a.total_cmp(b));

    let mut lat = Vec::with_capacity(args.latency_runs);
    for _ in 0..args.latency_runs {
        let t = Instant::now();
        let r = pool.run_script("Write-Output x").await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        ensure!(r.output.len() == 1);
    }
    pool.close().await?;
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(serde_json::json!({
        "client": "winrelay winrm-client (PowerShellPool)",
        "objects_per_s": round3(rates[rates.len() / 2]),
        "objects_runs": rates.iter().map(|r| round3(*r)).collect::<Vec<_>>(),
        "latency_p50_ms": round3(percentile(&lat, 50.0)),
        "latency_p99_ms": round3(percentile(&lat, 99.0)),
        "latency_runs": lat.len(),
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.runs > 0 && args.latency_runs > 0,
        "runs must be at least 1"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let v = rt.block_on(bench(&args))?;
    println!("{v}");
    Ok(())
}
