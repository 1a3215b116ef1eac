//! Cost grows linearly with the input: big CLIXML documents, long escaped strings, large
//! messages cut into many fragments. Where a ratio is checked the input grows 20x and 100x
//! the time is allowed (cache effects and a busy shared machine give more than 20x;
//! quadratic would be 400x); elsewhere a bound far below what a quadratic algorithm needs. `cargo test -p psrp --release --test perf -- --nocapture`
//! prints the throughput.

use std::time::{Duration, Instant};

use psrp::clixml::{self, escape, Collection, Object, Value};
use psrp::fragment::{decode_all, split, DefragLimits, Defragmenter};

/// Best of a few runs, to keep scheduler noise on a shared machine out of the ratio.
fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn list_of(n: usize) -> String {
    let items = (0..n)
        .map(|i| {
            Object::new()
                .with_types(&["System.Diagnostics.Process", "System.Object"])
                .with_to_string(format!("proc{i}"))
                .with_prop("Name", Value::str(format!("name_x{i}\r\n")))
                .with_prop("Id", Value::I32(i as i32))
                .with_ms("PSComputerName", Value::str("host"))
                .into_value()
        })
        .collect();
    clixml::write(
        &Object::new()
            .with_collection(Collection::List(items))
            .into_value(),
    )
}

#[test]
fn clixml_parses_in_linear_time() {
    let small = list_of(500);
    let big = list_of(10_000);
    let v = clixml::parse(big.as_bytes()).unwrap();
    assert_eq!(v.items().unwrap().len(), 10_000);
    assert_eq!(clixml::write(&v), big, "TN written once, TNRef after");
    let t_small = best_of(5, || {
        clixml::parse(small.as_bytes()).unwrap();
    });
    let t_big = best_of(5, || {
        clixml::parse(big.as_bytes()).unwrap();
    });
    let t_write = best_of(3, || {
        clixml::write(&v);
    });
    let mib = big.len() as f64 / (1024.0 * 1024.0);
    println!(
        "CLIXML parse: 500 objects {t_small:?}; 10000 objects ({} bytes) {t_big:?} = {:.0} MiB/s; write {t_write:?} = {:.0} MiB/s",
        big.len(),
        mib / t_big.as_secs_f64(),
        mib / t_write.as_secs_f64()
    );
    assert!(t_big < t_small * 100, "{t_big:?} vs {t_small:?}");
}

#[test]
fn escapes_decode_in_linear_time() {
    let s: String = "a\u{1}_x\r\n\u{1F600}".repeat(20_000);
    let enc = escape::encode(&s);
    assert_eq!(escape::decode(&enc), s);
    let small = &enc[..enc.len() / 20];
    let t_small = best_of(5, || {
        escape::decode(small);
    });
    let t_big = best_of(5, || {
        escape::decode(&enc);
    });
    println!(
        "escape decode: {} bytes {t_small:?}; {} bytes {t_big:?}",
        small.len(),
        enc.len()
    );
    // The small input sits in the CPU cache, the big one does not, so the ratio is noisy on a
    // shared machine; a quadratic decoder would need minutes for 880 KB, linear needs well
    // under a second even in debug.
    assert!(t_big < Duration::from_secs(2), "{t_big:?}");
}

#[test]
fn large_messages_reassemble_in_linear_time() {
    let run = |size: usize| {
        let msg: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut payload = Vec::new();
        for f in split(1, &msg, 4 * 1024) {
            f.encode_into(&mut payload);
        }
        let t = best_of(5, || {
            let mut d = Defragmenter::new(DefragLimits::default());
            let mut done = None;
            for f in decode_all(&payload).unwrap() {
                if let Some(m) = d.push(f).unwrap() {
                    done = Some(m);
                }
            }
            assert_eq!(done.unwrap().1.len(), size);
        });
        (t, payload.len())
    };
    let (t_small, _) = run(800 * 1024);
    let (t_big, len) = run(16 * 1024 * 1024);
    println!(
        "defragment 16 MiB in 4 KiB fragments: {t_big:?} = {:.0} MiB/s (800 KiB: {t_small:?})",
        len as f64 / (1024.0 * 1024.0) / t_big.as_secs_f64()
    );
    // The small case runs from the CPU cache, so a ratio says little here. Copying the
    // partial message again for each of the 4096 fragments would move 32 GiB: seconds at
    // memcpy speed. Linear takes a few tens of milliseconds, even in debug.
    assert!(t_big < Duration::from_secs(1), "{t_big:?}");
}
