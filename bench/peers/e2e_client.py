"""One Python WebSocket client (PyPI websockets) for both web terminals, end to end.

    python e2e_client.py winrelay URL COOKIE BYTES RUNS [--deflate]
    python e2e_client.py terminado URL - BYTES RUNS [--deflate]

It drains as fast as it can and, on winrelay, acknowledges every output frame after
"rendering" it (counting it and searching it for a marker), as the browser's write callback
does; terminado has no flow control. Prints one JSON object: bytes/s for BYTES of output
(`head -c BYTES /dev/zero | tr '\\0' x`, Enter to a marker printed after it), keystroke-to-echo
latency (one character, until its echo arrives) and Enter-to-first-output latency of a
trivial command (until its output arrives), each over RUNS. `--deflate` offers
permessage-deflate; the JSON says whether the server accepted it.
"""
import asyncio
import json
import re
import struct
import sys
import time

from websockets.asyncio.client import connect


def percentile(values, p):
    s = sorted(values)
    rank = max(1, min(len(s), -(-len(s) * p // 100)))
    return s[int(rank) - 1]


def stats(samples):
    us = [x * 1e6 for x in samples]
    return {"runs": len(us), "p50_us": round(percentile(us, 50), 1), "p99_us": round(percentile(us, 99), 1),
            "min_us": round(min(us), 1), "max_us": round(max(us), 1)}


class Term:
    def __init__(self, ws, proto):
        self.ws = ws
        self.proto = proto
        self.tail = b""
        self.bytes = 0
        self.snapshots = 0

    async def input(self, text):
        if self.proto == "winrelay":
            await self.ws.send(json.dumps({"type": "input", "data": text}))
        else:
            await self.ws.send(json.dumps(["stdin", text]))

    async def read(self):
        msg = await self.ws.recv()
        if self.proto == "winrelay":
            if isinstance(msg, str):
                return
            kind, offset = struct.unpack_from(">BQ", msg)
            data = msg[9:]
            if kind == 1:
                # A snapshot: this client fell out of the session's log (the relay never
                # waits for a client), so the screen replaces the bytes it missed.
                self.snapshots += 1
                end = offset
            else:
                self.bytes += len(data)
                end = offset + len(data)
            self.tail = (self.tail + data)[-256:]
            await self.ws.send('{"type":"ack","offset":%d}' % end)
        else:
            kind, *rest = json.loads(msg)
            if kind != "stdout":
                return
            data = rest[0].encode()
            self.bytes += len(data)
            self.tail = (self.tail + data)[-256:]

    async def until(self, needle):
        while needle not in self.tail:
            await self.read()

    async def prompt_after(self, marker):
        while not (marker in self.tail and b">" in self.tail[self.tail.rindex(marker):]):
            await self.read()


async def main():
    proto, url, cookie, nbytes, runs = sys.argv[1:6]
    nbytes, runs = int(nbytes), int(runs)
    deflate = "--deflate" in sys.argv
    headers = {"Cookie": cookie} if cookie != "-" else {}
    async with connect(url, additional_headers=headers, compression="deflate" if deflate else None,
                       max_size=None, ping_interval=None) as ws:
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        t = Term(ws, proto)
        if proto == "winrelay":
            await ws.send(json.dumps({"type": "hello", "resume_from": None, "cols": 100, "rows": 30}))
        else:
            await ws.send(json.dumps(["set_size", 30, 100]))
        # OSC 133 marks (ESC ] 133 ; X BEL) may follow the prompt.
        while not re.sub(rb"\x1b\]133;[^\x07]*\x07", b"", t.tail).rstrip().endswith(b">"):
            await t.read()
        try:
            await asyncio.wait_for(t.until(b"\x00never"), 0.3)
        except asyncio.TimeoutError:
            pass

        echo = []
        for _ in range(runs):
            t.tail = b""
            t0 = time.perf_counter()
            await t.input("x")
            await t.until(b"x")
            echo.append(time.perf_counter() - t0)
            await t.input("\x7f")
            # The erase: winrelay sends ESC[D ESC[J, bash's readline BS (and ESC[K).
            while b"\x08" not in t.tail and b"\x1b[" not in t.tail:
                await t.read()

        enter = []
        for _ in range(runs):
            t.tail = b""
            await t.input("echo $((6*7))Q")
            await t.until(b"))Q")
            t.tail = b""
            t0 = time.perf_counter()
            await t.input("\r")
            await t.until(b"42Q")
            enter.append(time.perf_counter() - t0)
            await t.prompt_after(b"42Q")

        t.tail = b""
        await t.input(f"head -c {nbytes} /dev/zero | tr '\\0' x; echo DONE$((6*7))")
        await t.until(b"7))")
        t.tail = b""
        before, snaps = t.bytes, t.snapshots
        t0 = time.perf_counter()
        await t.input("\r")
        await t.until(b"DONE42")
        secs = time.perf_counter() - t0
        got = t.bytes - before
        snaps = t.snapshots - snaps
    print(json.dumps({
        "server": proto,
        "client": "python websockets" + (" (offers permessage-deflate)" if deflate else ""),
        "deflate_offered": deflate,
        "deflate_negotiated": "permessage-deflate" in negotiated,
        # Output printed over the time until its end shows, and output actually delivered.
        "throughput_mb_s": round(nbytes / 1e6 / secs, 3),
        "delivered_mb_s": round(got / 1e6 / secs, 3),
        "delivered_bytes": got,
        "snapshots": snaps,
        "secs": round(secs, 3),
        "echo": stats(echo),
        "enter_to_output": stats(enter),
    }))


if __name__ == "__main__":
    asyncio.run(main())
