"""PyPI pypsrp's RunspacePool and PowerShell classes, unmodified, against the simulator's
PowerShell remoting endpoint (PSRP over WS-Management, same listener as WinRS)."""
import time

import pytest
from pypsrp.complex_objects import ObjectMeta
from pypsrp.exceptions import WSManFaultError
from pypsrp.host import PSHost, PSHostUserInterface
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.wsman import WSMan

from conftest import start_sim, stop_sim


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


def test_pool_opens_reports_versions_and_closes(sim):
    with wsman(sim) as w:
        pool = RunspacePool(w)
        pool.open()
        assert pool.state == 2  # Opened
        assert str(pool.protocol_version) == "2.3"
        table = pool.application_private_data.data["PSVersionTable"]
        assert str(table["PSVersion"]) == "5.1.17763.1007"
        pool.close()
        assert pool.state == 3  # Closed


def test_several_pipelines_share_the_runspace(sim):
    with wsman(sim) as w, RunspacePool(w, configuration_name="JEA.Role") as pool:
        ps = PowerShell(pool)
        ps.add_script("$greeting = 'hello'; Write-Output one 'two' 3")
        assert ps.invoke() == ["one", "two", 3]
        assert not ps.had_errors
        ps = PowerShell(pool)
        ps.add_script('"$greeting world"')
        assert ps.invoke() == ["hello world"]
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_parameter("InputObject", "named")
        assert ps.invoke() == ["named"]


def test_input_objects(sim):
    with wsman(sim) as w, RunspacePool(w) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output")
        assert ps.invoke(["a", "b", 42]) == ["a", "b", 42]
        ps = PowerShell(pool)
        ps.add_script("$input | Write-Output")
        assert ps.invoke(["x", "y"]) == ["x", "y"]


def test_error_stream_and_had_errors(sim):
    with wsman(sim) as w, RunspacePool(w) as pool:
        ps = PowerShell(pool)
        ps.add_script("Write-Error 'it broke'; 'after'; $?")
        out = ps.invoke()
        # `$?` is False after the statement that wrote an error, True after 'after'.
        assert out == ["after", True]
        # pypsrp's had_errors means "the pipeline failed": a non-terminating error does not.
        assert not ps.had_errors
        assert ps.state == PSInvocationState.COMPLETED
        assert len(ps.streams.error) == 1
        err = ps.streams.error[0]
        assert err.fq_error == "Microsoft.PowerShell.Commands.WriteErrorException"
        assert err.exception.adapted_properties["Message"] == "it broke"
        ps = PowerShell(pool)
        ps.add_script("Write-Error 'first'; $?")
        assert ps.invoke() == [False]
        ps = PowerShell(pool)
        ps.add_script("'unterminated")
        ps.invoke()
        assert ps.had_errors
        assert ps.state == PSInvocationState.FAILED
        assert "terminator" in ps.streams.error[0].exception.adapted_properties["Message"]


def test_external_program_stdout_stderr_and_lastexitcode(sim):
    with wsman(sim) as w, RunspacePool(w) as pool:
        ps = PowerShell(pool)
        ps.add_script("sh -c 'echo out; echo err >&2; exit 4'; $LASTEXITCODE")
        out = ps.invoke()
        assert out == ["out", 4]
        assert [e.exception.adapted_properties["Message"] for e in ps.streams.error] == ["err"]


def test_warning_verbose_debug_information_progress(sim):
    with wsman(sim) as w, RunspacePool(w) as pool:
        ps = PowerShell(pool)
        ps.add_script(
            "Write-Warning 'careful'; Write-Verbose 'hidden'; Write-Verbose 'shown' -Verbose; "
            "$DebugPreference = 'Continue'; Write-Debug 'dbg'; Write-Information 'info' -Tags a; "
            "Write-Progress -Activity Copying -Status Half -PercentComplete 50; Write-Host 'to host'"
        )
        ps.invoke()
        assert not ps.had_errors
        assert [w.message for w in ps.streams.warning] == ["careful"]
        assert [v.message for v in ps.streams.verbose] == ["shown"]
        assert [d.message for d in ps.streams.debug] == ["dbg"]
        assert [i.message_data for i in ps.streams.information][0] == "info"
        assert "PSHOST" in ps.streams.information[1].tags
        assert ps.streams.progress[0].activity == "Copying"
        assert ps.streams.progress[0].percent_complete == 50


class ReadingUI(PSHostUserInterface):
    def __init__(self):
        super().__init__()
        self.written = []

    def ReadLine(self, runspace, pipeline):
        return "typed answer"

    def ReadLineAsSecureString(self, runspace, pipeline):
        return runspace.serialize("s3cret", ObjectMeta("SS"))

    def WriteLine2(self, runspace, pipeline, value):
        self.written.append(value)


def host_with(ui):
    return PSHost(None, None, False, "pytest", None, ui, "1.0")


def test_read_host_is_a_host_call_answered_by_pypsrp(sim):
    ui = ReadingUI()
    with wsman(sim) as w, RunspacePool(w, host=host_with(ui)) as pool:
        ps = PowerShell(pool)
        ps.add_script("$name = Read-Host; Write-Host \"hello $name\"; $name")
        assert ps.invoke() == ["typed answer"]
        assert ui.written == ["hello typed answer"]


def test_secure_string_key_exchange(sim):
    ui = ReadingUI()
    with wsman(sim) as w, RunspacePool(w, host=host_with(ui)) as pool:
        pool.exchange_keys()
        ps = PowerShell(pool)
        ps.add_script("Read-Host -AsSecureString")
        # The simulator sends the SecureString back encrypted with the session key; pypsrp
        # decrypts it.
        assert ps.invoke() == ["s3cret"]


def test_stop_a_running_pipeline(sim):
    with wsman(sim) as w, RunspacePool(w) as pool:
        ps = PowerShell(pool)
        ps.add_script("Start-Sleep -Seconds 60; 'not reached'")
        started = time.monotonic()
        ps.begin_invoke()
        time.sleep(0.5)
        ps.stop()
        assert ps.state == PSInvocationState.STOPPED
        ps = PowerShell(pool)
        ps.add_script("'next'")
        assert ps.invoke() == ["next"]
        assert time.monotonic() - started < 15


def test_small_max_envelope_size_fragments_across_envelopes(sim):
    with wsman(sim, max_envelope_size=8192) as w, RunspacePool(w) as pool:
        big = "x" * 40000
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output")
        out = ps.invoke([big, "small"])
        assert out == [big, "small"]
        ps = PowerShell(pool)
        ps.add_script("1..3000")
        assert ps.invoke() == list(range(1, 3001))


def test_tab_expansion_and_prompt(sim):
    with wsman(sim) as w, RunspacePool(w) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("TabExpansion2").add_argument("Get-Chi").add_argument(7).add_argument(None)
        [completion] = ps.invoke()
        assert completion.types[0] == "System.Management.Automation.CommandCompletion"
        assert completion.adapted_properties["ReplacementIndex"] == 0
        assert completion.adapted_properties["ReplacementLength"] == 7
        # pypsrp keeps a list of a type it does not know as its XML.
        [matches] = completion.adapted_properties["CompletionMatches"].property_sets
        assert '<S N="CompletionText">Get-ChildItem</S>' in matches
        ps = PowerShell(pool)
        ps.add_cmdlet("prompt")
        assert ps.invoke()[0].startswith("PS ")


def test_quota_fault_when_pools_run_out():
    small = start_sim("--max-shells", "2")
    try:
        with wsman(small) as w:
            a = RunspacePool(w)
            a.open()
            b = RunspacePool(w)
            b.open()
            c = RunspacePool(w)
            with pytest.raises(WSManFaultError) as fault:
                c.open()
            assert fault.value.code == 2150859173
            a.close()
            c = RunspacePool(w)
            c.open()
            c.close()
            b.close()
    finally:
        stop_sim(small)
