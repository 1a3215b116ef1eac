//! One end of a PSRP conversation, driven line by line over stdin/stdout, for the interop
//! test with psrpcore (tests/conformance/test_psrp_interop.py): our client against
//! psrpcore's server, and psrpcore's client against our server, exchanging raw fragment
//! bytes.
//!
//! `psrp_peer client` or `psrp_peer server`, then one JSON command per line; each gets one
//! JSON line back: `{"payloads": [{"data": base64, "stream": "stdin"|"pr", "pipeline":
//! guid|null}], "events": [...], "ci": n}` or `{"error": "..."}`.
//!
//! Client commands: `open {rpid}`, `recv {data}`, `run {pid, script}`,
//! `reply_line {pid, ci, text}`, `input {pid, values: [strings], end}`.
//! Server commands: `recv {data}`, `accept_open`, `output {pid, text}`,
//! `error {pid, message}`, `host_call {pid, method, text?, void}`, `finish {pid, state}`,
//! `stop {pid}`, `send_key` (answers the PUBLIC_KEY received), `secure_output {pid, text}`.

use std::io::{BufRead, Write};

use base64::Engine as _;
use psrp::clixml::Value;
use psrp::host::{HostCall, HostMethodId, HostResponse};
use psrp::message::{Guid, MessageType};
use psrp::messages::{Command, CreatePipeline, InitRunspacePool};
use psrp::pool::{ClientEvent, ClientPool, Outgoing, ServerEvent, ServerPool};
use psrp::records::{ErrorRecord, HostInfo, PipelineState};
use serde_json::{json, Value as Json};

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

fn unb64(s: &Json) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str().ok_or("data must be a string")?)
        .map_err(|e| e.to_string())
}

fn guid(j: &Json) -> Result<Guid, String> {
    j.as_str()
        .and_then(Guid::parse)
        .ok_or_else(|| format!("bad guid {j}"))
}

fn payload(data: &[u8], stream: &str, pipeline: Option<Guid>) -> Json {
    json!({
        "data": b64(data),
        "stream": stream,
        "pipeline": pipeline.map(|g| g.to_text().to_ascii_lowercase()),
    })
}

fn outgoing(o: &Outgoing) -> Vec<Json> {
    o.payloads
        .iter()
        .map(|p| payload(p, o.stream.name(), o.pipeline))
        .collect()
}

fn pid_text(g: &Guid) -> String {
    g.to_text().to_ascii_lowercase()
}

fn client_event(e: &ClientEvent) -> Json {
    match e {
        ClientEvent::SessionCapability(c) => {
            json!({"type": "SessionCapability", "protocol": c.protocol_version})
        }
        ClientEvent::PrivateData(_) => json!({"type": "PrivateData"}),
        ClientEvent::PoolState { state, .. } => {
            json!({"type": "PoolState", "state": format!("{state:?}")})
        }
        ClientEvent::Output { pipeline, value } => {
            json!({"type": "Output", "pid": pid_text(pipeline), "text": value.display()})
        }
        ClientEvent::Error { pipeline, record } => {
            json!({"type": "Error", "pid": pid_text(pipeline), "text": record.console_text()})
        }
        ClientEvent::HostCall { pipeline, call } => json!({
            "type": "HostCall",
            "pid": pipeline.as_ref().map(pid_text),
            "ci": call.call_id,
            "method": call.method.name(),
            "text": call.write_text().map(|w| w.text),
        }),
        ClientEvent::PipelineStateChanged { pipeline, state } => {
            json!({"type": "PipelineState", "pid": pid_text(pipeline), "state": format!("{state:?}")})
        }
        ClientEvent::PipelineFinished {
            pipeline,
            state,
            error,
        } => json!({
            "type": "Finished",
            "pid": pid_text(pipeline),
            "state": format!("{state:?}"),
            "error": error.as_ref().map(|e| e.console_text()),
        }),
        other => json!({"type": format!("{other:?}").split([' ', '(', '{']).next().unwrap_or("")}),
    }
}

fn server_event(e: &ServerEvent) -> Json {
    match e {
        ServerEvent::Open { capability, init } => json!({
            "type": "Open",
            "protocol": capability.protocol_version,
            "min": init.min_runspaces,
            "max": init.max_runspaces,
            "host_null": init.host_info.is_host_null,
        }),
        ServerEvent::PipelineCreated { pipeline, create } => json!({
            "type": "PipelineCreated",
            "pid": pid_text(pipeline),
            "no_input": create.no_input,
            "cmds": create.statements.iter().map(|s| s.iter().map(|c| json!({
                "cmd": c.cmd,
                "is_script": c.is_script,
                "args": c.args.iter().map(|a| json!([a.name, a.value.display()])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()).collect::<Vec<_>>(),
        }),
        ServerEvent::Input { pipeline, value } => {
            json!({"type": "Input", "pid": pid_text(pipeline), "text": value.display()})
        }
        ServerEvent::EndOfInput { pipeline } => {
            json!({"type": "EndOfInput", "pid": pid_text(pipeline)})
        }
        ServerEvent::HostResponse { pipeline, response } => json!({
            "type": "HostResponse",
            "pid": pipeline.as_ref().map(pid_text),
            "ci": response.call_id,
            "result": response.result.as_ref().map(Value::display),
        }),
        other => json!({"type": format!("{other:?}").split([' ', '(', '{']).next().unwrap_or("")}),
    }
}

struct Client {
    pool: Option<ClientPool>,
    calls: Vec<(Option<Guid>, HostCall)>,
}

impl Client {
    fn pool(&mut self) -> Result<&mut ClientPool, String> {
        self.pool.as_mut().ok_or_else(|| "open first".to_string())
    }

    fn handle(&mut self, cmd: &Json) -> Result<Json, String> {
        let err = |e: psrp::pool::PoolError| e.to_string();
        match cmd["op"].as_str().unwrap_or("") {
            "open" => {
                let mut pool = ClientPool::new(guid(&cmd["rpid"])?, 512_000);
                let data = pool
                    .open(&InitRunspacePool::new(HostInfo::console(120, 40)))
                    .map_err(err)?;
                self.pool = Some(pool);
                Ok(json!({"payloads": [payload(&data, "stdin", None)]}))
            }
            "recv" => {
                let events = self.pool()?.receive(&unb64(&cmd["data"])?).map_err(err)?;
                for e in &events {
                    if let ClientEvent::HostCall { pipeline, call } = e {
                        self.calls.push((*pipeline, call.clone()));
                    }
                }
                Ok(json!({"events": events.iter().map(client_event).collect::<Vec<_>>()}))
            }
            "run" => {
                let pid = guid(&cmd["pid"])?;
                let script = cmd["script"].as_str().ok_or("script")?;
                let mut create = CreatePipeline::new(
                    vec![Command::script(script), Command::cmdlet("Out-Default")],
                    HostInfo::console(120, 40),
                );
                create.no_input = !cmd["input"].as_bool().unwrap_or(false);
                let start = self.pool()?.create_pipeline(pid, &create).map_err(err)?;
                let mut payloads = vec![payload(&start.arguments, "stdin", Some(pid))];
                payloads.extend(start.rest.iter().map(|p| payload(p, "stdin", Some(pid))));
                Ok(json!({"payloads": payloads}))
            }
            "reply_line" => {
                let pid = guid(&cmd["pid"])?;
                let ci = cmd["ci"].as_i64().ok_or("ci")?;
                let (scope, call) = self
                    .calls
                    .iter()
                    .find(|(p, c)| *p == Some(pid) && c.call_id == ci)
                    .cloned()
                    .ok_or("no such host call")?;
                let text = cmd["text"].as_str().ok_or("text")?;
                let out = self
                    .pool()?
                    .host_response(scope, &HostResponse::read_line(&call, text))
                    .map_err(err)?;
                Ok(json!({"payloads": outgoing(&out)}))
            }
            "input" => {
                let pid = guid(&cmd["pid"])?;
                let values: Vec<Value> = cmd["values"]
                    .as_array()
                    .ok_or("values")?
                    .iter()
                    .map(|v| Value::str(v.as_str().unwrap_or_default()))
                    .collect();
                let end = cmd["end"].as_bool().unwrap_or(true);
                let out = self.pool()?.send_input(pid, &values, end).map_err(err)?;
                Ok(json!({"payloads": outgoing(&out)}))
            }
            other => Err(format!("unknown client op {other:?}")),
        }
    }
}

struct Server {
    pool: ServerPool,
    /// The client's PUBLIC_KEY blob, once received.
    public_key: Option<Vec<u8>>,
}

fn server_handle(srv: &mut Server, cmd: &Json) -> Result<Json, String> {
    let server = &mut srv.pool;
    let err = |e: psrp::pool::PoolError| e.to_string();
    let frags = |f: Vec<Vec<u8>>, pid: Option<Guid>| -> Json {
        f.iter()
            .map(|p| payload(p, "stdout", pid))
            .collect::<Vec<_>>()
            .into()
    };
    match cmd["op"].as_str().unwrap_or("") {
        "recv" => {
            let events = server.receive(&unb64(&cmd["data"])?).map_err(err)?;
            let mut out = Vec::new();
            for e in &events {
                let mut j = server_event(e);
                match e {
                    ServerEvent::PublicKey(blob) => srv.public_key = Some(blob.clone()),
                    // SecureString answers are shown decrypted, to check the session key.
                    ServerEvent::HostResponse {
                        response:
                            HostResponse {
                                result: Some(Value::SecureString(ct)),
                                ..
                            },
                        ..
                    } => {
                        let key = server.session_key().ok_or("SecureString before the key")?;
                        let text = key.decrypt(ct).map_err(|e| e.to_string())?;
                        j["secret"] = json!(text.as_str());
                    }
                    _ => {}
                }
                out.push(j);
            }
            Ok(json!({"events": out}))
        }
        "send_key" => {
            let blob = srv.public_key.clone().ok_or("no PUBLIC_KEY received")?;
            let f = server
                .send_session_key(&blob, &mut rand_core::OsRng)
                .map_err(err)?;
            Ok(json!({"payloads": frags(f, None)}))
        }
        "secure_output" => {
            // A SecureString as pipeline output, encrypted with the session key.
            let pid = guid(&cmd["pid"])?;
            let key = server.session_key().ok_or("no session key")?;
            let v = Value::SecureString(key.encrypt(cmd["text"].as_str().unwrap_or_default()));
            let f = server
                .pipeline_message(pid, MessageType::PIPELINE_OUTPUT, &v)
                .map_err(err)?;
            Ok(json!({"payloads": frags(f, Some(pid))}))
        }
        "accept_open" => {
            let table = psrp::clixml::hashtable_value(vec![(
                Value::str("PSVersionTable"),
                psrp::clixml::hashtable_value(vec![
                    (
                        Value::str("PSVersion"),
                        Value::Version("5.1.17763.1".into()),
                    ),
                    (
                        Value::str("PSRemotingProtocolVersion"),
                        Value::Version("2.3".into()),
                    ),
                    (
                        Value::str("SerializationVersion"),
                        Value::Version("1.1.0.1".into()),
                    ),
                ]),
            )]);
            Ok(json!({"payloads": frags(server.accept_open(table).map_err(err)?, None)}))
        }
        "output" => {
            let pid = guid(&cmd["pid"])?;
            let v = Value::str(cmd["text"].as_str().unwrap_or_default());
            let f = server
                .pipeline_message(pid, MessageType::PIPELINE_OUTPUT, &v)
                .map_err(err)?;
            Ok(json!({"payloads": frags(f, Some(pid))}))
        }
        "error" => {
            let pid = guid(&cmd["pid"])?;
            let e = ErrorRecord {
                message: cmd["message"].as_str().unwrap_or_default().to_string(),
                fully_qualified_error_id: "WinrelayTest".into(),
                activity: Some("Write-Error".into()),
                reason: Some("WriteErrorException".into()),
                exception_type: Some("Microsoft.PowerShell.Commands.WriteErrorException".into()),
                ..ErrorRecord::default()
            };
            let f = server
                .pipeline_message(pid, MessageType::ERROR_RECORD, &e.to_value())
                .map_err(err)?;
            Ok(json!({"payloads": frags(f, Some(pid))}))
        }
        "host_call" => {
            let pid = guid(&cmd["pid"])?;
            let method = HostMethodId::from_name(cmd["method"].as_str().unwrap_or_default())
                .ok_or("unknown method")?;
            let params = match cmd["text"].as_str() {
                Some(t) => vec![Value::str(t)],
                None => vec![],
            };
            let void = cmd["void"].as_bool().unwrap_or(false);
            let (ci, f) = server
                .host_call(Some(pid), method, params, void)
                .map_err(err)?;
            Ok(json!({"ci": ci, "payloads": frags(f, Some(pid))}))
        }
        "finish" => {
            let pid = guid(&cmd["pid"])?;
            let state = match cmd["state"].as_str().unwrap_or("Completed") {
                "Completed" => PipelineState::Completed,
                "Failed" => PipelineState::Failed,
                other => return Err(format!("state {other}")),
            };
            let error = (state == PipelineState::Failed).then(|| ErrorRecord {
                message: "it failed".into(),
                fully_qualified_error_id: "WinrelayFailed".into(),
                ..ErrorRecord::default()
            });
            Ok(
                json!({"payloads": frags(server.finish(pid, state, error).map_err(err)?, Some(pid))}),
            )
        }
        "stop" => {
            let pid = guid(&cmd["pid"])?;
            Ok(json!({"payloads": frags(server.stop(pid).map_err(err)?, Some(pid))}))
        }
        other => Err(format!("unknown server op {other:?}")),
    }
}

fn main() {
    let role = std::env::args().nth(1).unwrap_or_default();
    if role != "client" && role != "server" {
        eprintln!("usage: psrp_peer client|server");
        std::process::exit(2);
    }
    let mut client = Client {
        pool: None,
        calls: Vec::new(),
    };
    let mut server = Server {
        pool: ServerPool::new(),
        public_key: None,
    };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Json>(&line) {
            Err(e) => json!({"error": e.to_string()}),
            Ok(cmd) => {
                let r = if role == "client" {
                    client.handle(&cmd)
                } else {
                    server_handle(&mut server, &cmd)
                };
                r.unwrap_or_else(|e| json!({"error": e}))
            }
        };
        writeln!(out, "{reply}").expect("stdout");
        out.flush().expect("stdout");
    }
}
