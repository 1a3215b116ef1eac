"""pywinrm and pypsrp doing the bench's WinRM work against the simulator; prints JSON.

    python winrm_peers.py pywinrm|pypsrp ENDPOINT USER BYTES RUNS LATENCY_RUNS

with the password in BENCH_PASSWORD. Both libraries are used as their documentation shows,
on one open shell: throughput is `cmd /c head -c BYTES /dev/zero`, Command request to exit
code; latency is a trivial command (`cmd /c exit 0`) with the library's own run routine
(start, receive until done, terminate signal), on the same shell.
"""
import json
import os
import statistics
import sys
import time
import urllib.parse


def percentile(sorted_values, p):
    rank = max(1, min(len(sorted_values), -(-len(sorted_values) * p // 100)))
    return sorted_values[int(rank) - 1]


def with_pywinrm(endpoint, user, password, nbytes, runs, latency_runs):
    from winrm.protocol import Protocol

    p = Protocol(endpoint, transport="basic", username=user, password=password, server_cert_validation="ignore")
    shell = p.open_shell(codepage=65001)

    def run(args):
        cmd = p.run_command(shell, "cmd", args)
        out, _err, code = p.get_command_output(shell, cmd)
        p.cleanup_command(shell, cmd)
        return out, code

    try:
        assert run(["/c", "exit 0"])[1] == 0
        rates = []
        for _ in range(runs):
            t = time.perf_counter()
            out, code = run(["/c", f"head -c {nbytes} /dev/zero"])
            secs = time.perf_counter() - t
            assert code == 0 and len(out) == nbytes, (code, len(out))
            rates.append(nbytes / 1e6 / secs)
        lat = []
        for _ in range(latency_runs):
            t = time.perf_counter()
            _out, code = run(["/c", "exit 0"])
            lat.append((time.perf_counter() - t) * 1e3)
            assert code == 0
    finally:
        p.close_shell(shell)
    return rates, lat


def with_pypsrp(endpoint, user, password, nbytes, runs, latency_runs):
    from pypsrp.shell import Process, SignalCode, WinRS
    from pypsrp.wsman import WSMan

    url = urllib.parse.urlsplit(endpoint)
    wsman = WSMan(url.hostname, port=url.port, username=user, password=password, ssl=True,
                  auth="basic", cert_validation=False)

    def run(shell, args):
        proc = Process(shell, "cmd", args)
        proc.invoke()
        proc.signal(SignalCode.TERMINATE)
        return proc.stdout, proc.rc

    with wsman, WinRS(wsman) as shell:
        assert run(shell, ["/c", "exit 0"])[1] == 0
        rates = []
        for _ in range(runs):
            t = time.perf_counter()
            out, code = run(shell, ["/c", f"head -c {nbytes} /dev/zero"])
            secs = time.perf_counter() - t
            assert code == 0 and len(out) == nbytes, (code, len(out))
            rates.append(nbytes / 1e6 / secs)
        lat = []
        for _ in range(latency_runs):
            t = time.perf_counter()
            _out, code = run(shell, ["/c", "exit 0"])
            lat.append((time.perf_counter() - t) * 1e3)
            assert code == 0
    return rates, lat


def main():
    which, endpoint, user, nbytes, runs, latency_runs = sys.argv[1:7]
    password = os.environ["BENCH_PASSWORD"]
    fn = {"pywinrm": with_pywinrm, "pypsrp": with_pypsrp}[which]
    rates, lat = fn(endpoint, user, password, int(nbytes), int(runs), int(latency_runs))
    lat.sort()
    import importlib.metadata as md
    print(json.dumps({
        "client": which,
        "version": md.version(which),
        "throughput_mb_s": round(statistics.median(rates), 3),
        "throughput_runs": [round(r, 3) for r in sorted(rates)],
        "latency_p50_ms": round(percentile(lat, 50), 3),
        "latency_p99_ms": round(percentile(lat, 99), 3),
        "latency_runs": len(lat),
    }))


if __name__ == "__main__":
    main()
