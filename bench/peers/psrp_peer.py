"""pypsrp's RunspacePool/PowerShell doing the bench's PowerShell work against the simulator;
prints JSON in the shape of winrelay's bench-powershell.

    python psrp_peer.py ENDPOINT USER OBJECTS RUNS LATENCY_RUNS

with the password in BENCH_PASSWORD. Used as pypsrp's documentation shows, on one open pool:
latency is `Write-Output x` (PowerShell.invoke), throughput `1..OBJECTS` (every object
deserialized).
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


def main():
    from pypsrp.powershell import PowerShell, RunspacePool
    from pypsrp.wsman import WSMan

    endpoint, user, objects, runs, latency_runs = sys.argv[1:6]
    objects, runs, latency_runs = int(objects), int(runs), int(latency_runs)
    url = urllib.parse.urlsplit(endpoint)
    wsman = WSMan(url.hostname, port=url.port, username=user, password=os.environ["BENCH_PASSWORD"],
                  ssl=True, auth="basic", cert_validation=False)

    def run(script):
        ps = PowerShell(pool)
        ps.add_script(script)
        return ps.invoke()

    with wsman, RunspacePool(wsman) as pool:
        assert run("Write-Output x") == ["x"]
        rates = []
        for _ in range(runs):
            t = time.perf_counter()
            out = run(f"1..{objects}")
            secs = time.perf_counter() - t
            assert len(out) == objects, len(out)
            rates.append(objects / secs)
        lat = []
        for _ in range(latency_runs):
            t = time.perf_counter()
            out = run("Write-Output x")
            lat.append((time.perf_counter() - t) * 1e3)
            assert out == ["x"]
    lat.sort()
    import importlib.metadata as md
    print(json.dumps({
        "client": "pypsrp",
        "version": md.version("pypsrp"),
        "objects_per_s": round(statistics.median(rates), 3),
        "objects_runs": [round(r, 3) for r in sorted(rates)],
        "latency_p50_ms": round(percentile(lat, 50), 3),
        "latency_p99_ms": round(percentile(lat, 99), 3),
        "latency_runs": len(lat),
    }))


if __name__ == "__main__":
    main()
