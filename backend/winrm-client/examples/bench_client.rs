//! Measures the client against a WinRS server and prints one JSON object.
//!
//! * throughput: `cmd /c head -c BYTES /dev/zero` in an open shell, from the Command request
//!   to the exit code, in MB/s (10^6 bytes);
//! * latency: a trivial command (`cmd /c exit 0`) in an open shell, start to exit code;
//! * cycle: open a shell, run the trivial command, delete the shell (what one-shot clients
//!   such as pywinrm's `run_cmd` do per call).
//!
//! Without `--endpoint` it starts a simulator of its own on loopback (on separate threads, so
//! server and client do not share a runtime). Run it in release mode:
//!
//! ```text
//! cargo run --release -p winrm-client --example bench_client
//! cargo run --release -p winrm-client --example bench_client -- \
//!     --endpoint https://127.0.0.1:5986/wsman --user U --password-env PW --pin SHA256
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use winrm_client::{Client, ClientConfig, Output, Shell, ShellOptions, TlsMode};

#[derive(Parser)]
struct Args {
    /// Endpoint of a running server; without it a simulator is started in-process.
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long, default_value = "bench")]
    user: String,
    /// Environment variable holding the password (with --endpoint).
    #[arg(long)]
    password_env: Option<String>,
    /// SHA-256 pin of the server certificate (with --endpoint; otherwise --insecure).
    #[arg(long)]
    pin: Option<String>,
    /// Bytes printed by the throughput command.
    #[arg(long, default_value_t = 100_000_000)]
    bytes: u64,
    /// Throughput repetitions (the median and best are reported).
    #[arg(long, default_value_t = 3)]
    throughput_runs: usize,
    /// Trivial commands timed for the latency figures.
    #[arg(long, default_value_t = 200)]
    latency_runs: usize,
    /// Open/run/delete cycles timed.
    #[arg(long, default_value_t = 50)]
    cycle_runs: usize,
    /// MaxEnvelopeSize the client sends (153600 is what pywinrm and pypsrp send).
    #[arg(long, default_value_t = 153_600)]
    max_envelope_size: u32,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn stats_ms(mut samples: Vec<Duration>) -> serde_json::Value {
    let mut ms: Vec<f64> = samples.drain(..).map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    serde_json::json!({
        "runs": ms.len(),
        "p50_ms": round3(percentile(&ms, 50.0)),
        "p99_ms": round3(percentile(&ms, 99.0)),
        "mean_ms": round3(mean),
        "min_ms": round3(ms.first().copied().unwrap_or(f64::NAN)),
        "max_ms": round3(ms.last().copied().unwrap_or(f64::NAN)),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn throughput_once(shell: &Shell, bytes: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut cmd = shell
        .start("cmd", [format!("/c head -c {bytes} /dev/zero")])
        .await?;
    let mut got = 0u64;
    loop {
        match cmd.recv().await {
            Some(Ok(Output::Stdout(b))) => got += b.len() as u64,
            Some(Ok(Output::Stderr(_))) => {}
            Some(Ok(Output::Exited(code))) => {
                anyhow::ensure!(code == 0, "exit code {code}");
                break;
            }
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("output ended without an exit code"),
        }
    }
    anyhow::ensure!(got == bytes, "received {got} of {bytes} bytes");
    Ok(bytes as f64 / 1e6 / started.elapsed().as_secs_f64())
}

async fn bench(client: &Client, args: &Args) -> anyhow::Result<serde_json::Value> {
    let shell = client.open_shell(ShellOptions::default()).await?;
    // Warm up the connection pool and the server.
    shell.run("cmd", ["/c exit 0"]).await?;

    let mut rates = vec![];
    for _ in 0..args.throughput_runs {
        rates.push(throughput_once(&shell, args.bytes).await?);
    }
    rates.sort_by(|a, b| a.total_cmp(b));

    let mut latencies = Vec::with_capacity(args.latency_runs);
    for _ in 0..args.latency_runs {
        let t = Instant::now();
        let out = shell.run("cmd", ["/c exit 0"]).await?;
        latencies.push(t.elapsed());
        anyhow::ensure!(out.exit_code == 0);
    }
    shell.close().await?;

    let mut cycles = Vec::with_capacity(args.cycle_runs);
    for _ in 0..args.cycle_runs {
        let t = Instant::now();
        let shell = client.open_shell(ShellOptions::default()).await?;
        shell.run("cmd", ["/c exit 0"]).await?;
        shell.close().await?;
        cycles.push(t.elapsed());
    }

    Ok(serde_json::json!({
        "client": "winrm-client",
        "version": env!("CARGO_PKG_VERSION"),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "endpoint": client.endpoint(),
        "max_envelope_size": args.max_envelope_size,
        "throughput": {
            "command": format!("cmd /c head -c {} /dev/zero", args.bytes),
            "bytes": args.bytes,
            "runs": rates.len(),
            "median_mb_per_s": round3(rates[rates.len() / 2]),
            "best_mb_per_s": round3(*rates.last().unwrap()),
        },
        "latency": {
            "command": "cmd /c exit 0",
            "in_open_shell": stats_ms(latencies),
            "open_run_delete": stats_ms(cycles),
        },
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.throughput_runs > 0,
        "--throughput-runs must be at least 1"
    );

    // The simulator, when we start one, gets its own runtime on its own threads.
    let (endpoint, password, tls, _sim) = match &args.endpoint {
        Some(endpoint) => {
            let var = args
                .password_env
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("--endpoint needs --password-env"))?;
            let password = std::env::var(var)?;
            let tls = match &args.pin {
                Some(pin) => TlsMode::Pin(winrm_client::parse_fingerprint(pin)?),
                None => TlsMode::Insecure,
            };
            (endpoint.clone(), password, tls, None)
        }
        None => {
            let password = "bench-password".to_string();
            let sim_rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("sim")
                .build()?;
            let mut config = winrs_sim::SimConfig::new(&args.user, &password);
            config.listen = "127.0.0.1:0".parse()?;
            let sim = sim_rt.block_on(winrs_sim::start(config))?;
            let pin = winrm_client::parse_fingerprint(&sim.fingerprint().unwrap_or_default())?;
            (
                sim.endpoint(),
                password,
                TlsMode::Pin(pin),
                Some((sim, sim_rt)),
            )
        }
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let mut config = ClientConfig::new(endpoint, &args.user, password, tls);
        config.max_envelope_size = args.max_envelope_size;
        let client = Client::new(config)?;
        bench(&client, &args).await
    })?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
