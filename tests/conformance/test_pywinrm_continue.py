"""A second client continues a shell another client opened (what an adopting relay does):
PyPI pywinrm, unmodified, in two separate processes, against the WinRS simulator. Windows
lets any client of the same user Receive, Send and Signal on a shell and command by id."""
import json
import subprocess
import sys

from test_pywinrm import protocol

FIRST = r"""
import json, sys
from winrm.protocol import Protocol
endpoint, user, password = sys.argv[1:4]
p = Protocol(endpoint, transport="basic", username=user, password=password, server_cert_validation="ignore")
shell = p.open_shell()
cmd = p.run_command(shell, "cat")
p.send_command_input(shell, cmd, b"from the first client\n")
# Read what cat echoed, then leave without deleting anything (a relay killed with -9).
got = b""
while b"from the first client\n" not in got:
    res = p._raw_get_command_output(shell, cmd)
    got += res[0]
print(json.dumps({"shell": shell, "command": cmd, "got": got.decode()}))
"""


def test_a_second_process_continues_a_shell_by_id(sim):
    r = subprocess.run([sys.executable, "-c", FIRST, sim.endpoint, sim.user, sim.password],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout.strip().splitlines()[-1])
    assert first["got"] == "from the first client\n"

    p = protocol(sim)
    shell, cmd = first["shell"], first["command"]
    try:
        # Output the first client never received is still there; nothing it received repeats.
        p.send_command_input(shell, cmd, b"from the second client\n")
        out = b""
        while b"second client\n" not in out:
            stdout, stderr, code, done = p._raw_get_command_output(shell, cmd)
            out += stdout
            assert not done
        assert out == b"from the second client\n"
        p.send_command_input(shell, cmd, b"last words\n", end=True)
        out, err, code = p.get_command_output(shell, cmd)
        assert out == b"last words\n"
        assert code == 0
        p.cleanup_command(shell, cmd)
    finally:
        p.close_shell(shell)
    assert sim.children() == [], "the shell's process is gone after the second client closed it"
