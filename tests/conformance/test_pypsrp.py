"""PyPI pypsrp's WinRS and Process classes, unmodified, against the WinRS simulator."""
import time

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import WSMan


def wsman(sim, **kwargs):
    return WSMan(
        sim.host,
        port=sim.port,
        username=sim.user,
        password=sim.password,
        ssl=True,
        auth="basic",
        cert_validation=False,
        **kwargs,
    )


def test_process_stdout_stderr_and_rc(sim):
    with wsman(sim) as w, WinRS(w) as shell:
        p = Process(shell, "cmd.exe", ["/c", "echo hi && echo oops>&2 && exit 2"])
        p.invoke()
        p.signal(SignalCode.TERMINATE)
        assert p.stdout == b"hi\n"
        assert p.stderr == b"oops\n"
        assert p.rc == 2


def test_process_no_shell_runs_argv(sim):
    with wsman(sim) as w, WinRS(w) as shell:
        p = Process(shell, "printf", ["%s|", "a", "b"], no_shell=True)
        p.invoke()
        assert p.stdout == b"a|b|"
        assert p.rc == 0


def test_process_stdin(sim):
    with wsman(sim) as w, WinRS(w) as shell:
        p = Process(shell, "cat", no_shell=True)
        p.begin_invoke()
        p.send(b"one\n", end=False)
        p.send(b"two\n", end=True)
        p.end_invoke()
        p.signal(SignalCode.TERMINATE)
        assert p.stdout == b"one\ntwo\n"
        assert p.rc == 0


def test_process_ctrl_c_signal_stops_it(sim):
    with wsman(sim) as w, WinRS(w) as shell:
        p = Process(shell, "sleep", ["600"], no_shell=True)
        p.begin_invoke()
        time.sleep(0.3)
        started = time.monotonic()
        p.signal(SignalCode.CTRL_C)
        p.end_invoke()
        assert time.monotonic() - started < 10
        assert p.rc == 130  # 128 + SIGINT
        p.signal(SignalCode.TERMINATE)


def test_interactive_powershell_over_stdin(sim):
    with wsman(sim) as w, WinRS(w) as shell:
        p = Process(shell, "powershell.exe", ["-NoLogo", "-NoProfile", "-"])
        p.begin_invoke()
        p.send(b"echo output 1\n", end=False)
        p.send(b"echo output 2\n", end=True)
        p.end_invoke()
        p.signal(SignalCode.TERMINATE)
        assert b"output 1\n" in p.stdout and b"output 2\n" in p.stdout
        assert p.rc == 0


def test_shell_options_environment_codepage_noprofile(sim, tmp_path):
    with wsman(sim) as w, WinRS(
        w, environment={"PYPSRP_VAR": "value 1"}, codepage=65001, no_profile=True, working_directory=str(tmp_path)
    ) as shell:
        p = Process(shell, "cmd", ["/c", "pwd; echo \"$PYPSRP_VAR\"; printf '\u3053\u3093\u306b\u3061\u306f\\n'"])
        p.invoke()
        p.signal(SignalCode.TERMINATE)
        assert p.stdout.decode("utf-8").splitlines() == [str(tmp_path.resolve()), "value 1", "\u3053\u3093\u306b\u3061\u306f"]


def test_receive_times_out_cleanly(sim):
    with wsman(sim, operation_timeout=1) as w, WinRS(w) as shell:
        p = Process(shell, "sleep", ["600"], no_shell=True)
        p.begin_invoke()
        for _ in range(3):
            with pytest.raises(WSManFaultError) as e:
                shell.receive("stdout stderr", p.id)
            assert e.value.code == 2150858793
        p.signal(SignalCode.TERMINATE)


def test_unknown_command_id_fault(sim):
    with wsman(sim) as w, WinRS(w) as shell:
        with pytest.raises(WSManFaultError) as e:
            shell.receive("stdout stderr", "87E77BEB-6761-4C48-9D70-A00266B8459A")
        assert e.value.code == 2150858843
