//! winrm-rs doing the bench's WinRM work against the simulator; prints one JSON object.
//!
//! `winrm-rs-peer HOST PORT USER BYTES RUNS LATENCY_RUNS` with the password in
//! `BENCH_PASSWORD`. Throughput: `cmd /c head -c BYTES /dev/zero` in an open shell, streamed
//! with `start_command` / `receive_next` (bytes counted, not kept), Command request to exit
//! code. Latency: `Shell::run_command("cmd", ["/c exit 0"])` on the same open shell.

use std::time::Instant;

use winrm_rs::{AuthMethod, WinrmClient, WinrmConfig, WinrmCredentials};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!("usage: winrm-rs-peer HOST PORT USER BYTES RUNS LATENCY_RUNS (password in BENCH_PASSWORD)");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(run(&args)) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("winrm-rs-peer: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: &[String]) -> Result<String, Box<dyn std::error::Error>> {
    let host = &args[1];
    let port: u16 = args[2].parse()?;
    let user = &args[3];
    let bytes: u64 = args[4].parse()?;
    let runs: usize = args[5].parse()?;
    let latency_runs: usize = args[6].parse()?;
    let password = std::env::var("BENCH_PASSWORD")?;

    let config = WinrmConfig {
        port,
        use_tls: true,
        // The simulator's certificate is self-signed (as containers' are).
        accept_invalid_certs: true,
        auth_method: AuthMethod::Basic,
        max_output_bytes: None,
        ..Default::default()
    };
    let client = WinrmClient::new(config, WinrmCredentials::new(user.as_str(), password, ""))?;
    let shell = client.open_shell(host).await?;
    let warm = shell.run_command("cmd", &["/c exit 0"]).await?;
    if warm.exit_code != 0 {
        return Err(format!("warm-up exit code {}", warm.exit_code).into());
    }

    let mut rates = Vec::new();
    for _ in 0..runs {
        let arg = format!("/c head -c {bytes} /dev/zero");
        let t = Instant::now();
        let id = shell.start_command("cmd", &[arg.as_str()]).await?;
        let mut got = 0u64;
        loop {
            let out = shell.receive_next(&id).await?;
            got += out.stdout.len() as u64;
            if out.done {
                break;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        if got != bytes {
            return Err(format!("received {got} of {bytes} bytes").into());
        }
        rates.push(bytes as f64 / 1e6 / secs);
    }
    rates.sort_by(|a, b| a.total_cmp(b));

    let mut lat = Vec::with_capacity(latency_runs);
    for _ in 0..latency_runs {
        let t = Instant::now();
        let out = shell.run_command("cmd", &["/c exit 0"]).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        if out.exit_code != 0 {
            return Err(format!("exit code {}", out.exit_code).into());
        }
    }
    shell.close().await?;
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        let rank = (p / 100.0 * lat.len() as f64).ceil() as usize;
        lat[rank.clamp(1, lat.len()) - 1]
    };
    Ok(format!(
        "{{\"client\":\"winrm-rs\",\"version\":\"1.1.2\",\"throughput_mb_s\":{:.3},\"throughput_runs\":{:?},\"latency_p50_ms\":{:.3},\"latency_p99_ms\":{:.3},\"latency_runs\":{}}}",
        rates[rates.len() / 2],
        rates.iter().map(|r| (r * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        pct(50.0),
        pct(99.0),
        lat.len()
    ))
}
