"""Interop of the `psrp` crate's pool state machines with psrpcore's, exchanging raw PSRP
fragment bytes: our client against psrpcore's ServerRunspacePool, and psrpcore's
ClientRunspacePool against our server. The crate's side is the example binary
`psrp_peer` (backend/psrp/examples/psrp_peer.rs), one JSON command per line.

The binary is PSRP_PEER_BIN if set, else target/debug/examples/psrp_peer, built with cargo
when missing.
"""
import base64
import json
import os
import pathlib
import subprocess
import uuid

import pytest

psrpcore = pytest.importorskip("psrpcore")
from psrpcore import PSRPPayload, StreamType  # noqa: E402
from psrpcore.types import (  # noqa: E402
    ErrorCategory,
    ErrorCategoryInfo,
    HostMethodIdentifier,
    NETException,
    PSInvocationState,
    RunspacePoolState,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def peer_bin():
    binary = os.environ.get("PSRP_PEER_BIN")
    if binary:
        return binary
    binary = ROOT / "target" / "debug" / "examples" / "psrp_peer"
    if not binary.exists():
        subprocess.run(["cargo", "build", "-q", "-p", "psrp", "--example", "psrp_peer"], cwd=ROOT, check=True)
    return str(binary)


class Peer:
    def __init__(self, binary, role):
        self.proc = subprocess.Popen(
            [binary, role], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def __call__(self, op, **args):
        self.proc.stdin.write(json.dumps(dict(op=op, **args)) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        assert "error" not in reply, f"{op}: {reply['error']}"
        return reply

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=10) == 0


@pytest.fixture
def our_client(peer_bin):
    p = Peer(peer_bin, "client")
    yield p
    p.close()


@pytest.fixture
def our_server(peer_bin):
    p = Peer(peer_bin, "server")
    yield p
    p.close()


def to_psrpcore(pool, reply):
    """Hands our payloads to a psrpcore pool."""
    for p in reply.get("payloads", []):
        pid = uuid.UUID(p["pipeline"]) if p["pipeline"] else None
        stream = StreamType.prompt_response if p["stream"] == "pr" else StreamType.default
        pool.receive_data(PSRPPayload(base64.b64decode(p["data"]), stream, pid))


def drain(pool):
    events = []
    while (e := pool.next_event()) is not None:
        events.append(e)
    return events


def from_psrpcore(pool, peer):
    """Hands everything a psrpcore pool has to send to our peer; returns our events."""
    events = []
    while (payload := pool.data_to_send()) is not None:
        events.extend(peer("recv", data=base64.b64encode(payload.data).decode())["events"])
    return events


def test_our_client_with_psrpcore_server(our_client):
    server = psrpcore.ServerRunspacePool()
    rpid = str(uuid.uuid4())
    to_psrpcore(server, our_client("open", rpid=rpid))
    opened = drain(server)
    assert [type(e).__name__ for e in opened] == ["SessionCapabilityEvent", "InitRunspacePoolEvent"]
    assert server.state == RunspacePoolState.Opened
    # psrpcore read our HostInfo: a console host with our window size.
    host = opened[1].host_info
    assert host.IsHostNull is False
    assert host.HostDefaultData.WindowSize.Width == 120
    assert host.HostDefaultData.WindowSize.Height == 40

    events = from_psrpcore(server, our_client)
    assert {"type": "PoolState", "state": "Opened"} in events

    # A pipeline: output, a Write host call, a ReadLine answered, an error, completion.
    pid = str(uuid.uuid4())
    # psrpcore's server wants the pipeline object before the CREATE_PIPELINE arrives.
    pipeline = psrpcore.ServerPipeline(server, uuid.UUID(pid))
    to_psrpcore(server, our_client("run", pid=pid, script="Read-Host 'name'"))
    (create,) = drain(server)
    assert type(create).__name__ == "CreatePipelineEvent"
    assert str(create.pipeline_id) == pid
    cmds = create.pipeline.commands
    assert [c.command_text for c in cmds] == ["Read-Host 'name'", "Out-Default"]
    pipeline.start()
    pipeline.write_output("hello from psrpcore")
    pipeline.host_call(HostMethodIdentifier.WriteLine2, ["a line"])
    ci = pipeline.host_call(HostMethodIdentifier.ReadLine)
    events = from_psrpcore(server, our_client)
    kinds = [e["type"] for e in events]
    assert kinds == ["PipelineState", "Output", "HostCall", "HostCall"], events
    assert events[1]["text"] == "hello from psrpcore"
    assert events[2]["method"] == "WriteLine2" and events[2]["text"] == "a line"
    assert events[2]["ci"] == -100
    assert events[3]["method"] == "ReadLine" and events[3]["ci"] == ci

    to_psrpcore(server, our_client("reply_line", pid=pid, ci=ci, text="Ada"))
    (resp,) = drain(server)
    assert type(resp).__name__ == "PipelineHostResponseEvent"
    assert resp.ci == ci
    assert resp.result == "Ada"

    pipeline.write_error(
        NETException(Message="went wrong"),
        ErrorCategoryInfo(Category=ErrorCategory.InvalidData, Activity="Get-Thing", Reason="ArgumentException"),
        fully_qualified_error_id="Thing.Bad",
    )
    pipeline.complete()
    events = from_psrpcore(server, our_client)
    assert [e["type"] for e in events] == ["Error", "Finished"], events
    # The CategoryInfo line is the server's ErrorCategory_Message as sent; psrpcore writes it
    # without the colon Windows puts after the category ("NotSpecified: (:) [...]").
    assert events[0]["text"] == (
        "went wrong\n"
        "    + CategoryInfo          : InvalidData (:) [Get-Thing], ArgumentException\n"
        "    + FullyQualifiedErrorId : Thing.Bad"
    )
    assert events[1]["state"] == "Completed"


def test_our_client_sends_input_psrpcore_reads(our_client):
    server = psrpcore.ServerRunspacePool()
    to_psrpcore(server, our_client("open", rpid=str(uuid.uuid4())))
    drain(server)
    from_psrpcore(server, our_client)
    pid = str(uuid.uuid4())
    psrpcore.ServerPipeline(server, uuid.UUID(pid))
    to_psrpcore(server, our_client("run", pid=pid, script="$input", input=True))
    (create,) = drain(server)
    assert create.pipeline.no_input is False
    to_psrpcore(server, our_client("input", pid=pid, values=["one", "two _x0041_\n"], end=True))
    events = drain(server)
    assert [type(e).__name__ for e in events] == ["PipelineInputEvent", "PipelineInputEvent", "EndOfPipelineInputEvent"]
    assert [e.data for e in events[:2]] == ["one", "two _x0041_\n"]


def test_psrpcore_client_with_our_server(our_server):
    client = psrpcore.ClientRunspacePool()
    client.open()
    events = from_psrpcore(client, our_server)
    assert events == [{"type": "Open", "protocol": "2.3", "min": 1, "max": 1, "host_null": True}]
    to_psrpcore(client, our_server("accept_open"))
    drain(client)
    assert client.state == RunspacePoolState.Opened
    assert client.application_private_data["PSVersionTable"]["PSVersion"] == "5.1.17763.1"

    ps = psrpcore.ClientPowerShell(client)
    ps.add_script("Get-Thing").add_command("Out-String").add_parameter("Width", 80)
    ps.start()
    events = from_psrpcore(client, our_server)
    assert len(events) == 1 and events[0]["type"] == "PipelineCreated", events
    created = events[0]
    pid = created["pid"]
    assert pid == str(ps.pipeline_id)
    assert created["cmds"] == [[
        {"cmd": "Get-Thing", "is_script": True, "args": []},
        {"cmd": "Out-String", "is_script": False, "args": [["Width", "80"]]},
    ]]

    to_psrpcore(client, our_server("output", pid=pid, text="out _x0041_ \U0001F600"))
    to_psrpcore(client, our_server("error", pid=pid, message="bad thing"))
    call = our_server("host_call", pid=pid, method="ReadLine")
    to_psrpcore(client, call)
    events = drain(client)
    assert [type(e).__name__ for e in events] == ["PipelineOutputEvent", "ErrorRecordEvent", "PipelineHostCallEvent"]
    assert events[0].data == "out _x0041_ \U0001F600"
    assert str(events[1].record) == "bad thing"
    assert events[2].ci == call["ci"] == 1
    assert events[2].method_identifier == HostMethodIdentifier.ReadLine

    ps.host_response(call["ci"], "typed answer")
    events = from_psrpcore(client, our_server)
    assert events == [{"type": "HostResponse", "pid": pid, "ci": 1, "result": "typed answer"}]

    to_psrpcore(client, our_server("finish", pid=pid, state="Completed"))
    (state,) = drain(client)
    assert type(state).__name__ == "PipelineStateEvent"
    assert state.state == PSInvocationState.Completed
    assert ps.state == PSInvocationState.Completed


def test_psrpcore_client_sees_our_stop_and_failure(our_server):
    client = psrpcore.ClientRunspacePool()
    client.open()
    from_psrpcore(client, our_server)
    to_psrpcore(client, our_server("accept_open"))
    drain(client)
    for how in ("stop", "finish"):
        ps = psrpcore.ClientPowerShell(client)
        ps.add_script("while ($true) {}")
        ps.start()
        pid = from_psrpcore(client, our_server)[0]["pid"]
        if how == "stop":
            to_psrpcore(client, our_server("stop", pid=pid))
        else:
            to_psrpcore(client, our_server("finish", pid=pid, state="Failed"))
        (state,) = drain(client)
        if how == "stop":
            assert state.state == PSInvocationState.Stopped
            assert "The pipeline has been stopped." in str(state.reason)
        else:
            assert state.state == PSInvocationState.Failed
            assert "it failed" in str(state.reason)


def test_session_key_and_secure_strings_with_psrpcore_client(our_server):
    """psrpcore (Python `cryptography`) makes the RSA key, our server the AES session key;
    SecureStrings then travel both ways and decrypt on the other side."""
    from psrpcore.types import PSSecureString

    client = psrpcore.ClientRunspacePool()
    client.open()
    from_psrpcore(client, our_server)
    to_psrpcore(client, our_server("accept_open"))
    drain(client)

    client.exchange_key()
    assert from_psrpcore(client, our_server) == [{"type": "PublicKey"}]
    to_psrpcore(client, our_server("send_key"))
    (key_event,) = drain(client)
    assert type(key_event).__name__ == "EncryptedSessionKeyEvent"

    ps = psrpcore.ClientPowerShell(client)
    ps.add_script("Read-Host -AsSecureString")
    ps.start()
    pid = from_psrpcore(client, our_server)[0]["pid"]
    call = our_server("host_call", pid=pid, method="ReadLineAsSecureString")
    to_psrpcore(client, call)
    (host_call,) = drain(client)
    assert host_call.method_identifier == HostMethodIdentifier.ReadLineAsSecureString
    ps.host_response(call["ci"], PSSecureString("s3cret pässword \U0001F511"))
    (answer,) = from_psrpcore(client, our_server)
    assert answer["secret"] == "s3cret pässword \U0001F511"

    to_psrpcore(client, our_server("secure_output", pid=pid, text="from the server"))
    (out,) = drain(client)
    assert isinstance(out.data, PSSecureString)
    assert out.data.decrypt() == "from the server"
