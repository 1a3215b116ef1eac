"""PyPI pywinrm, unmodified, against the WinRS simulator."""
import winrm
from winrm.protocol import Protocol


def session(sim):
    return winrm.Session(
        sim.endpoint, auth=(sim.user, sim.password), transport="basic", server_cert_validation="ignore"
    )


def protocol(sim, **kwargs):
    return Protocol(
        sim.endpoint,
        transport="basic",
        username=sim.user,
        password=sim.password,
        server_cert_validation="ignore",
        **kwargs,
    )


def test_run_cmd_stdout_and_exit_code(sim):
    r = session(sim).run_cmd("echo", ["hello", "world"])
    assert r.std_out == b"hello world\n"
    assert r.std_err == b""
    assert r.status_code == 0


def test_run_cmd_stderr_and_nonzero_exit_code(sim):
    r = session(sim).run_cmd("cmd.exe", ["/c", "echo out && echo err>&2 && exit 3"])
    assert r.std_out == b"out\n"
    assert r.std_err == b"err\n"
    assert r.status_code == 3


def test_wrong_password_is_rejected(sim):
    s = winrm.Session(sim.endpoint, auth=(sim.user, "wrong"), transport="basic", server_cert_validation="ignore")
    try:
        s.run_cmd("echo", ["x"])
    except winrm.exceptions.InvalidCredentialsError:
        return
    raise AssertionError("a wrong password was accepted")


def test_protocol_send_input_and_read_output(sim):
    p = protocol(sim)
    shell = p.open_shell(codepage=65001)
    try:
        cmd = p.run_command(shell, "cat")
        p.send_command_input(shell, cmd, b"first line\n")
        p.send_command_input(shell, cmd, "zweite Zeile, caf\u00e9\n".encode(), end=True)
        out, err, code = p.get_command_output(shell, cmd)
        assert out == "first line\nzweite Zeile, caf\u00e9\n".encode()
        assert err == b""
        assert code == 0
        p.cleanup_command(shell, cmd)
    finally:
        p.close_shell(shell)


def test_protocol_interactive_cmd_shell(sim):
    p = protocol(sim)
    shell = p.open_shell()
    try:
        cmd = p.run_command(shell, "cmd.exe")
        p.send_command_input(shell, cmd, b"echo interactive\r\n")
        p.send_command_input(shell, cmd, b"exit 5\r\n", end=True)
        out, err, code = p.get_command_output(shell, cmd)
        assert b"C:\\Users\\demo>" in out
        assert b"interactive" in out
        assert code == 5
        p.cleanup_command(shell, cmd)
    finally:
        p.close_shell(shell)


def test_protocol_environment_and_working_directory(sim, tmp_path):
    p = protocol(sim)
    shell = p.open_shell(working_directory=str(tmp_path), env_vars={"WINRS_TEST": "from pywinrm"}, noprofile=True)
    try:
        cmd = p.run_command(shell, "cmd", ["/c", 'pwd && echo "$WINRS_TEST" && echo "$USERPROFILE"'])
        out, err, code = p.get_command_output(shell, cmd)
        assert out.decode().splitlines() == [str(tmp_path.resolve()), "from pywinrm", "C:\\Users\\Default"]
        assert code == 0
        p.cleanup_command(shell, cmd)
    finally:
        p.close_shell(shell)


def test_protocol_long_running_command_survives_receive_timeouts(sim):
    # operation_timeout 2 s: the command outlives two Receive long polls.
    p = protocol(sim, operation_timeout_sec=2, read_timeout_sec=4)
    shell = p.open_shell()
    try:
        cmd = p.run_command(shell, "cmd", ["/c", "sleep 5; echo done"])
        out, err, code = p.get_command_output(shell, cmd)
        assert out == b"done\n"
        assert code == 0
        p.cleanup_command(shell, cmd)
    finally:
        p.close_shell(shell)
