"""A PowerShell pool handed between pypsrp (PyPI, unmodified) and winrelay's Rust client
(`winrm_client`, through the example `pool_handover`) on the simulator: one disconnects the
pool (MS-PSRP 3.1.4.9), the other connects to it as a new client (3.1.4.10, connectXml) and
sees the state the first left.

The example binary is POOL_HANDOVER_BIN if set, else
target/debug/examples/pool_handover, built with cargo when missing.
"""
import os
import pathlib
import subprocess

import pytest
from pypsrp.powershell import PowerShell, RunspacePool, RunspacePoolState
from pypsrp.wsman import WSMan

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def handover_bin():
    binary = os.environ.get("POOL_HANDOVER_BIN")
    if binary:
        return binary
    binary = ROOT / "target" / "debug" / "examples" / "pool_handover"
    if not binary.exists():
        subprocess.run(
            ["cargo", "build", "-q", "-p", "winrm-client", "--example", "pool_handover"], cwd=ROOT, check=True
        )
    return str(binary)


def wsman(sim):
    return WSMan(
        sim.host,
        port=sim.port,
        username=sim.user,
        password=sim.password,
        ssl=True,
        auth="basic",
        cert_validation=False,
    )


def rust(handover_bin, sim, *args):
    """Runs pool_handover; returns (exit code, output lines, stderr)."""
    env = dict(os.environ, HANDOVER_PW=sim.password)
    p = subprocess.run(
        [
            handover_bin,
            "--endpoint", sim.endpoint,
            "--user", sim.user,
            "--password-env", "HANDOVER_PW",
            "--pin", sim.fingerprint,
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return p.returncode, p.stdout.splitlines(), p.stderr


def run(pool, script):
    ps = PowerShell(pool)
    ps.add_script(script)
    out = ps.invoke()
    assert not ps.had_errors, ps.streams.error
    return [str(o) for o in out]


def test_pypsrp_disconnects_and_rust_continues(sim, handover_bin):
    with wsman(sim) as w:
        pool = RunspacePool(w)
        pool.open()
        assert run(pool, "$x = 42; 'set'") == ["set"]
        pool.disconnect()
        assert pool.state == RunspacePoolState.DISCONNECTED
        shell_id = pool.shell.id
    code, lines, err = rust(handover_bin, sim, "connect", shell_id, "\"x is $x\"")
    assert code == 0, err
    assert lines == ["out: x is 42"]


def test_rust_disconnects_and_pypsrp_continues(sim, handover_bin):
    code, lines, err = rust(handover_bin, sim, "open", "$y = 'from rust'; 'set'")
    assert code == 0, err
    assert lines[0] == "out: set"
    shell_id = lines[-1].removeprefix("id: ")
    with wsman(sim) as w:
        # What RunspacePool.get_runspace_pools makes of a listed pool (the simulator does not
        # serve Enumerate): a Disconnected pool of another client.
        pool = RunspacePool(w)
        pool.id = shell_id
        pool.shell.id = shell_id
        pool.shell.opened = True
        pool._new_client = True
        pool.state = RunspacePoolState.DISCONNECTED
        pool.connect()
        assert pool.state == RunspacePoolState.OPENED
        assert run(pool, "$y") == ["from rust"]
        pool.close()


def test_a_pool_still_connected_to_pypsrp_refuses_rust(sim, handover_bin):
    with wsman(sim) as w:
        pool = RunspacePool(w)
        pool.open()
        run(pool, "$z = 1")
        code, _, err = rust(handover_bin, sim, "connect", pool.shell.id, "$z")
        assert code != 0
        assert "connected to a client" in err, err
        # pypsrp's pool is untouched by the refusal.
        assert run(pool, "'still here'") == ["still here"]
        pool.close()


def test_the_pool_goes_back_and_forth(sim, handover_bin):
    with wsman(sim) as w:
        pool = RunspacePool(w)
        pool.open()
        run(pool, "$trail = 'py'")
        pool.disconnect()
        shell_id = pool.shell.id
    code, lines, err = rust(
        handover_bin, sim, "connect", shell_id, "$trail = \"$trail rust\"; 'ok'", "--disconnect"
    )
    assert code == 0, err
    assert lines == ["out: ok", f"id: {shell_id}"]
    with wsman(sim) as w:
        pool = RunspacePool(w)
        pool.id = shell_id
        pool.shell.id = shell_id
        pool.shell.opened = True
        pool._new_client = True
        pool.state = RunspacePoolState.DISCONNECTED
        pool.connect()
        assert run(pool, "$trail") == ["py rust"]
        pool.close()
