"""Starts `winrelay sim` (the real binary) for the conformance tests.

The binary is target/debug/winrelay unless WINRELAY_BIN names another one. The simulator
listens on a free loopback port with a generated certificate; the tests connect over HTTPS
with Basic authentication and certificate validation off, as users of self-signed
containers do.
"""
import os
import pathlib
import queue
import signal
import subprocess
import threading
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
USER = "demo"
PASSWORD = "Conformance-Pw1"


class Sim:
    def __init__(self, endpoint, fingerprint, process):
        self.endpoint = endpoint
        self.fingerprint = fingerprint
        self.process = process
        url = urllib.parse.urlsplit(endpoint)
        self.host = url.hostname
        self.port = url.port
        self.user = USER
        self.password = PASSWORD

    def children(self):
        """Pids of the simulator's live child processes (the commands' processes)."""
        pids = []
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # fields[0] is the state, fields[1] the parent pid
            if fields[1] == str(self.process.pid) and fields[0] != "Z":
                pids.append(int(stat.parent.name))
        return pids


def start_sim(*extra):
    """Starts a simulator with extra `winrelay sim` arguments; returns a Sim."""
    binary = os.environ.get("WINRELAY_BIN", str(ROOT / "target" / "debug" / "winrelay"))
    if not os.path.exists(binary):
        pytest.fail(f"{binary} does not exist: build it with `cargo build -p winrelay` or set WINRELAY_BIN")
    env = dict(os.environ, WINRELAY_SIM_PASSWORD=PASSWORD)
    process = subprocess.Popen(
        [binary, "sim", "--listen", "127.0.0.1:0", "--user", USER, "--password-env", "WINRELAY_SIM_PASSWORD", *extra],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in process.stdout], daemon=True).start()
    found = {}
    try:
        while "endpoint" not in found or "fingerprint" not in found:
            line = lines.get(timeout=30)
            key, _, value = line.strip().partition(": ")
            found[key] = value
    except queue.Empty:
        process.kill()
        pytest.fail(f"winrelay sim printed no endpoint/fingerprint lines (got {found})")
    return Sim(found["endpoint"], found["fingerprint"], process)


def stop_sim(s):
    """Stops a simulator of start_sim and checks that it left no process behind."""
    leftover = s.children()
    s.process.send_signal(signal.SIGTERM)
    code = s.process.wait(timeout=20)
    assert code == 0, f"winrelay sim exited with {code} on SIGTERM"
    assert leftover == [], f"processes left behind by the clients' shells: {leftover}"


@pytest.fixture(scope="session")
def sim():
    s = start_sim()
    yield s
    stop_sim(s)
