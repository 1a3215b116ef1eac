// A minimal relay client for tests/docker/e2e.sh (Node 20: run with --experimental-websocket).
//   node session.mjs open BASE TOKEN TARGET LINE EXPECT   -> opens a session, types LINE, waits
//        for EXPECT in the output, prints "session ID", then waits until the relay closes the
//        socket and prints "bye REASON" (or "status STATE MESSAGE" for a final state).
const [, , what, base, token, target, line, expect] = process.argv;
const auth = { Authorization: `Bearer ${token}`, 'X-Winrelay': '1', 'Content-Type': 'application/json' };
const fail = (m) => { console.log(`FAIL ${m}`); process.exit(1); };
setTimeout(() => fail('timed out'), Number(process.env.SESSION_TIMEOUT_MS || 120000));

if (what !== 'open') fail(`unknown command ${what}`);
const r = await fetch(`${base}/api/sessions`, {
  method: 'POST', headers: auth, body: JSON.stringify({ target, cols: 120, rows: 30 }),
});
const info = await r.json();
if (!r.ok) fail(`open ${target}: ${r.status} ${JSON.stringify(info)}`);
console.log(`session ${info.id}`);
const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/sessions/${info.id}/ws`, { headers: auth });
ws.binaryType = 'arraybuffer';
let out = '';
let typed = false;
let seen = false;
ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', resume_from: null, cols: 120, rows: 30, name: 'e2e' }));
ws.onmessage = (ev) => {
  if (typeof ev.data !== 'string') {
    const bytes = new Uint8Array(ev.data);
    out += Buffer.from(bytes.subarray(9)).toString('utf8');
    const offset = Number(new DataView(ev.data).getBigUint64(1)) + bytes.length - 9;
    ws.send(JSON.stringify({ type: 'ack', offset }));
    if (!seen && out.includes(expect)) {
      seen = true;
      console.log(`output ok`);
      console.log('READY');
    }
    return;
  }
  const m = JSON.parse(ev.data);
  if (m.type === 'status') {
    if (m.state === 'connected' && !typed) {
      typed = true;
      setTimeout(() => ws.send(JSON.stringify({ type: 'input', data: `${line}\r` })), 500);
    }
    if (['exited', 'target_lost', 'failed'].includes(m.state)) {
      console.log(`status ${m.state} ${m.message || m.code || ''}`);
    }
  } else if (m.type === 'bye') {
    console.log(`bye ${m.reason}`);
  }
};
ws.onclose = () => {
  if (out.includes('is gone')) console.log('notice: container gone');
  console.log('closed');
  process.exit(seen ? 0 : 1);
};
ws.onerror = (e) => fail(`websocket: ${e.message || e}`);
