"""CLIXML conformance of the `psrp` crate against psrpcore (an independent Python
implementation of MS-PSRP's serialization), through the crate's example binary
`clixml` (backend/psrp/examples/clixml.rs).

Both directions:
* ours -> psrpcore: random values written by our crate are deserialized by psrpcore and
  written back by it; our crate reads that back and must find the same value (psrpcore's
  `Deserialized.` prefix on unknown type names ignored).
* psrpcore -> ours: values psrpcore writes (hand-picked and random) are read and re-written
  by our crate; psrpcore must read our output to the same values it started from, and
  `clixml canon` must report the values we expect.

The binary is PSRP_CLIXML_BIN if set, else target/debug/examples/clixml, built with cargo
when missing.
"""
import base64
import datetime
import json
import os
import pathlib
import random
import subprocess
import uuid
import xml.etree.ElementTree as ET

import pytest

psrpcore_types = pytest.importorskip("psrpcore.types")
from psrpcore.types import (  # noqa: E402
    PSByte,
    PSByteArray,
    PSChar,
    PSCryptoProvider,
    PSCustomObject,
    PSDateTime,
    PSDict,
    PSDouble,
    PSDuration,
    PSGuid,
    PSInt,
    PSInt16,
    PSInt64,
    PSList,
    PSQueue,
    PSSByte,
    PSScriptBlock,
    PSSingle,
    PSStack,
    PSString,
    PSUInt,
    PSUInt16,
    PSUInt64,
    PSUri,
    PSVersion,
    add_note_property,
    deserialize,
    serialize,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


class NoCipher(PSCryptoProvider):
    """These tests carry no SecureStrings."""

    def decrypt(self, value):
        raise NotImplementedError

    def encrypt(self, value):
        raise NotImplementedError

    def register_key(self, key):
        raise NotImplementedError


CIPHER = NoCipher()


@pytest.fixture(scope="module")
def clixml_bin():
    binary = os.environ.get("PSRP_CLIXML_BIN")
    if binary:
        return binary
    binary = ROOT / "target" / "debug" / "examples" / "clixml"
    if not binary.exists():
        subprocess.run(
            ["cargo", "build", "-q", "-p", "psrp", "--example", "clixml"],
            cwd=ROOT,
            check=True,
        )
    return str(binary)


def run(binary, *args, stdin=""):
    r = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"clixml {' '.join(args)} failed: {r.stderr}\n{r.stdout[:4000]}")
    return r.stdout


def psrpcore_write(value):
    return ET.tostring(serialize(value, CIPHER), encoding="unicode")


def psrpcore_read(xml):
    return deserialize(ET.fromstring(xml), CIPHER)


def psrpcore_rewrite(xml):
    """What psrpcore makes of a document: read it, write it again."""
    return psrpcore_write(psrpcore_read(xml))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_our_random_values_survive_psrpcore(clixml_bin, seed):
    lines = run(clixml_bin, "gen", str(seed), "300").splitlines()
    assert len(lines) == 300
    pairs = []
    for line in lines:
        ours = json.loads(line)["xml"]
        pairs.append(json.dumps({"ours": ours, "theirs": psrpcore_rewrite(ours)}))
    out = run(clixml_bin, "same", stdin="\n".join(pairs))
    assert out.splitlines() == ["ok"] * 300


AWKWARD = "tab\tnl\ncrlf\r\nnul?\x01 _x0041_ _X lit \U0001F600 \U00010437 <&> \"' こんにちは \x7f\x85"


def handpicked():
    """(psrpcore value, canonical JSON our crate must report for it)."""
    obj = PSCustomObject()
    add_note_property(obj, "Name", PSString("value"))
    add_note_property(obj, "Count", PSInt(3))
    add_note_property(obj, "Weird_x000A_Name", PSString(AWKWARD))
    lst = PSList([PSInt(1), PSString("two"), None])
    dct = PSDict({PSString("k"): PSInt64(-5)})
    stack = PSStack([PSInt(1), PSInt(2)])
    que = PSQueue()
    que.put(PSString("first"))
    return [
        (PSString(AWKWARD), {"S": AWKWARD}),
        (PSString(""), {"S": ""}),
        (PSInt(-2147483648), {"I32": -2147483648}),
        (PSInt64(9223372036854775807), {"I64": 9223372036854775807}),
        (PSUInt64(18446744073709551615), {"U64": 18446744073709551615}),
        (PSUInt(4294967295), {"U32": 4294967295}),
        (PSInt16(-32768), {"I16": -32768}),
        (PSUInt16(65535), {"U16": 65535}),
        (PSByte(255), {"By": 255}),
        (PSSByte(-128), {"SB": -128}),
        (PSChar("a"), {"C": 97}),
        (PSDouble(2.5), {"Db": 2.5}),
        (PSSingle(0.5), {"Sg": 0.5}),
        (PSByteArray(b"\x00\x01\xff"), {"BA": base64.b64encode(b"\x00\x01\xff").decode()}),
        (PSGuid(uuid.UUID("76056a84-51dc-4f24-9262-ca2a55464b2b")), {"G": "76056a84-51dc-4f24-9262-ca2a55464b2b"}),
        (PSVersion("2.3"), {"Version": "2.3"}),
        (PSUri("https://example.com/a?b=c"), {"URI": "https://example.com/a?b=c"}),
        (PSScriptBlock("Get-Process | Select -First 1"), {"SBK": "Get-Process | Select -First 1"}),
        (obj, None),
        (lst, None),
        (dct, None),
        (stack, None),
        (que, None),
    ]


@pytest.mark.parametrize("index", range(len(handpicked())))
def test_psrpcore_values_read_and_rewrite_in_ours(clixml_bin, index):
    value, canon = handpicked()[index]
    theirs = psrpcore_write(value)
    if canon is not None:
        assert json.loads(run(clixml_bin, "canon", stdin=theirs)) == canon
    ours = run(clixml_bin, "roundtrip", stdin=theirs)
    # psrpcore reads our rewrite to the same value it wrote.
    assert psrpcore_rewrite(ours) == psrpcore_rewrite(theirs)


def test_psrpcore_object_properties_and_collections(clixml_bin):
    value, _ = handpicked()[18]
    theirs = psrpcore_write(value)
    canon = json.loads(run(clixml_bin, "canon", stdin=theirs))["Obj"]
    assert canon["types"] == ["System.Management.Automation.PSCustomObject", "System.Object"]
    assert canon["ms"] == [
        ["Name", {"S": "value"}],
        ["Count", {"I32": 3}],
        ["Weird_x000A_Name", {"S": AWKWARD}],
    ]
    back = psrpcore_read(run(clixml_bin, "roundtrip", stdin=theirs))
    assert back.Name == "value"
    assert back.Count == 3
    assert back["Weird_x000A_Name"] == AWKWARD


def test_datetime_and_duration_text_survive(clixml_bin):
    dt = PSDateTime(2018, 6, 13, 23, 46, 28, 5160, tzinfo=datetime.timezone.utc)
    ts = PSDuration(days=1, hours=1, minutes=1, seconds=1, microseconds=500000)
    for value in (dt, ts):
        theirs = psrpcore_write(value)
        ours = run(clixml_bin, "roundtrip", stdin=theirs)
        assert psrpcore_read(ours) == value


def random_psrpcore_value(rng, depth):
    def text():
        pieces = ["a", "_x", "_x0041_", "\n", "\r\n", "\t", "\x01", "<", "&", "\U0001F600", "é", " ", "]]>"]
        return "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 8)))

    kind = rng.randrange(0, 10 if depth > 0 else 6)
    if kind == 0:
        return PSString(text() + str(rng.random()))
    if kind == 1:
        return PSInt(rng.randrange(-(2**31), 2**31))
    if kind == 2:
        return PSInt64(rng.randrange(-(2**63), 2**63))
    if kind == 3:
        return PSUInt64(rng.randrange(0, 2**64))
    if kind == 4:
        return PSDouble(rng.uniform(-1e9, 1e9))
    if kind == 5:
        return PSVersion(f"{rng.randrange(10)}.{rng.randrange(100)}")
    if kind == 6:
        return PSList([random_psrpcore_value(rng, depth - 1) for _ in range(rng.randrange(4))])
    if kind == 7:
        return PSDict({PSString(f"k{i}{text()}"): random_psrpcore_value(rng, depth - 1) for i in range(rng.randrange(4))})
    obj = PSCustomObject()
    for i in range(rng.randrange(1, 4)):
        add_note_property(obj, f"p{i}{text()}", random_psrpcore_value(rng, depth - 1))
    return obj


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_psrpcore_values_read_and_rewrite_in_ours(clixml_bin, seed):
    rng = random.Random(seed)
    for i in range(150):
        theirs = psrpcore_write(random_psrpcore_value(rng, 3))
        ours = run(clixml_bin, "roundtrip", stdin=theirs)
        assert psrpcore_rewrite(ours) == psrpcore_rewrite(theirs), f"value {i}: {theirs}"


def test_hostile_input_is_an_error_not_a_crash(clixml_bin):
    deep = "<Obj><LST>" * 5000 + "</LST></Obj>" * 5000
    r = subprocess.run([clixml_bin, "roundtrip"], input=deep, capture_output=True, text=True)
    assert r.returncode == 1
    assert "nesting depth" in r.stderr
