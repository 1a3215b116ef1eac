//! [`PsConsole`] fed with what real Windows servers sent: the pipelines of pypsrp's recorded
//! exchanges (`shared/fixtures/psrp-recorded` beside the repository, MIT, see LICENSE.pypsrp
//! there), decoded with `wsman` and `psrp` as the relay decodes them. Each test types the
//! recorded pipeline's script at the prompt, hands the console the server's messages for
//! that pipeline in their recorded order, answers its host calls from the terminal, and
//! checks the bytes the terminals get, the OSC 133 marks with their status, and the answers
//! against the recorded client's. The prompt pipeline (`"$?"; "$LASTEXITCODE"; prompt`) is
//! not in the recordings: its answers are written here.

use std::path::PathBuf;

use winrm_client::psrp::fragment::{decode_all, DefragLimits, Defragmenter};
use winrm_client::psrp::host::HostResponse;
use winrm_client::psrp::message::{Message, MessageType};
use winrm_client::psrp::messages::{self, Data, PipelineStateInfo};
use wsman::psrp::{parse_request, parse_response, PsrpRequestBody, PsrpResponseBody};

use super::*;

#[derive(serde::Deserialize)]
struct Exchange {
    request: String,
    response: Option<String>,
}

#[derive(serde::Deserialize)]
struct Recording {
    messages: Vec<Exchange>,
}

/// What the recording holds for the pipeline, in order.
#[derive(Debug)]
enum Recorded {
    /// The server said this while the pipeline ran.
    Event(PsEvent),
    /// The pipeline's end.
    End(PipelineState, Option<ErrorRecord>),
    /// The recorded client's answer to a host call.
    Answer(HostResponse),
}

/// The payloads of one exchange, in order: (from the client, bytes).
fn payloads(ex: &Exchange) -> Vec<(bool, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(req) = parse_request(ex.request.as_bytes()) else {
        return out;
    };
    match &req.body {
        PsrpRequestBody::Create { creation_xml, .. } => out.push((true, creation_xml.clone())),
        PsrpRequestBody::Command { arguments, .. } => out.push((true, arguments.clone())),
        PsrpRequestBody::Send(streams) => {
            out.extend(streams.iter().map(|s| (true, s.data.clone())));
        }
        _ => {}
    }
    let Some(resp) = &ex.response else { return out };
    if let Ok(Ok(resp)) = parse_response(req.header.action, resp.as_bytes()) {
        if let PsrpResponseBody::Received { streams, .. } = resp.body {
            out.extend(streams.into_iter().map(|s| (false, s.data)));
        }
    }
    out
}

/// The pipeline messages of recording `name`: what the server sent for its pipelines and
/// the client's host answers.
fn recorded(name: &str) -> Vec<Recorded> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/psrp-recorded")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rec: Recording = serde_yaml::from_str(&text).unwrap();
    let mut from_client = Defragmenter::new(DefragLimits::default());
    let mut from_server = Defragmenter::new(DefragLimits::default());
    let mut out = Vec::new();
    for ex in &rec.messages {
        for (client, bytes) in payloads(ex) {
            let d = if client {
                &mut from_client
            } else {
                &mut from_server
            };
            for f in decode_all(&bytes).unwrap() {
                let Some((_, whole)) = d.push(f).unwrap() else {
                    continue;
                };
                let msg = Message::decode(&whole).unwrap();
                let t = msg.message_type;
                let Ok(data) = messages::decode(t, &msg.data) else {
                    continue;
                };
                let item = match data {
                    Data::HostResponse(r) if client => Recorded::Answer(r),
                    _ if client => continue,
                    Data::Object(v) if t == MessageType::PIPELINE_OUTPUT => {
                        Recorded::Event(PsEvent::Output(v))
                    }
                    Data::Error(r) => Recorded::Event(PsEvent::Error(r)),
                    Data::Informational(r) => Recorded::Event(match t {
                        MessageType::WARNING_RECORD => PsEvent::Warning(r.message),
                        MessageType::VERBOSE_RECORD => PsEvent::Verbose(r.message),
                        _ => PsEvent::Debug(r.message),
                    }),
                    Data::Progress(r) => Recorded::Event(PsEvent::Progress(r)),
                    Data::Information(r) => Recorded::Event(PsEvent::Information(r)),
                    Data::HostCall(c) if t == MessageType::PIPELINE_HOST_CALL => {
                        Recorded::Event(PsEvent::HostCall(c))
                    }
                    Data::PipelineState(PipelineStateInfo { state, error }) => {
                        Recorded::End(state, error)
                    }
                    _ => continue,
                };
                out.push(item);
            }
        }
    }
    out
}

fn shown(steps: &[Step]) -> String {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Show(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect()
}

/// A console at its first prompt.
fn at_prompt() -> PsConsole {
    let mut c = PsConsole::new(80, 24, (2, 3));
    c.start();
    for v in ["True", "", "PS C:\\> "] {
        c.event(PsEvent::Output(Value::str(v)));
    }
    c.finished(PipelineState::Completed, None);
    c
}

/// Runs `line` and feeds it the recorded pipeline until its end, answering each host call
/// that wants one with the next of `typed` (checked by `answered`). Returns what the
/// terminals got, through the next prompt with `$?` `dollar_q`.
fn run_recorded(
    c: &mut PsConsole,
    line: &str,
    events: Vec<Recorded>,
    typed: &[&str],
    dollar_q: &str,
    mut answered: impl FnMut(&HostCall, &Reply, &HostResponse),
) -> String {
    let steps = c.line(line);
    assert!(matches!(steps[..], [Step::Run(Job::Line, _)]), "{steps:?}");
    let mut text = String::new();
    let mut typed = typed.iter();
    let mut waiting: Option<(HostCall, Reply)> = None;
    let mut ended = false;
    let mut calls = Vec::new();
    for item in events {
        match item {
            Recorded::Event(ev) => {
                if let PsEvent::HostCall(call) = &ev {
                    calls.push(call.method.name().to_string());
                }
                let wants = matches!(&ev, PsEvent::HostCall(call) if call.wants_reply());
                let mut steps = c.event(ev);
                text.push_str(&shown(&steps));
                while wants && !steps.iter().any(|s| matches!(s, Step::Reply(..))) {
                    // The console reads the answer from the terminal.
                    let t = typed.next().expect("a typed answer for each read");
                    steps = c.line(t);
                    text.push_str(&shown(&steps));
                }
                if let Some(Step::Reply(call, reply)) =
                    steps.into_iter().find(|s| matches!(s, Step::Reply(..)))
                {
                    if call.wants_reply() {
                        waiting = Some((call, reply));
                    }
                }
            }
            Recorded::Answer(r) => {
                let (call, reply) = waiting.take().expect("an answer the console gave");
                assert_eq!(call.call_id, r.call_id);
                answered(&call, &reply, &r);
            }
            Recorded::End(state, error) => {
                let steps = c.finished(state, error);
                text.push_str(&shown(&steps));
                assert!(
                    matches!(steps.last(), Some(Step::Run(Job::Prompt, _))),
                    "{steps:?}"
                );
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "the recording ends the pipeline");
    assert!(
        typed.next().is_none(),
        "every typed answer was read ({calls:?})"
    );
    for v in [dollar_q, "", "PS C:\\> "] {
        c.event(PsEvent::Output(Value::str(v)));
    }
    text.push_str(&shown(&c.finished(PipelineState::Completed, None)));
    text
}

/// `$ErrorActionPreference = 'Stop'` and Write-Error: the output before the error, the
/// error in red, and the pipeline Failed: status 1 whatever `$?` says.
#[test]
fn a_recorded_failed_pipeline_ends_with_status_1() {
    let mut c = at_prompt();
    let text = run_recorded(
        &mut c,
        "$ErrorActionPreference = 'Stop'; Write-Output before; Write-Error error; Write-Output after",
        recorded("test_psrp_error_failed.yml"),
        &[],
        "True",
        |_, _, _| panic!("no host calls"),
    );
    assert!(text.starts_with("\x1b]133;C\x07"), "{text:?}");
    assert!(text.contains("before\r\n"), "{text:?}");
    assert!(!text.contains("\r\nafter\r\n"), "{text:?}");
    let error = text.find("\x1b[91m").expect("the error in red");
    assert!(text[error..].contains("error"), "{text:?}");
    assert!(
        text.ends_with("\x1b]133;D;1\x07\x1b]133;A\x07PS C:\\> \x1b]133;B\x07"),
        "{text:?}"
    );
}

/// Every stream as records (RemoteStreamOptions 0): debug, verbose and warning shown as the
/// console shows them, the error in red, output and information as text, progress gone at
/// the end; the pipeline Completed, but it wrote an error: status 1 even though the last
/// statement left `$?` true.
#[test]
fn recorded_streams_are_shown_and_an_error_written_makes_the_status_1() {
    let mut c = at_prompt();
    let text = run_recorded(
        &mut c,
        "Write-Error 'error stream'",
        recorded("test_psrp_stream_no_output_invocation.yml"),
        &[],
        "True",
        |_, _, _| panic!("no host calls"),
    );
    for want in [
        "DEBUG: debug stream",
        "VERBOSE: verbose stream",
        "WARNING: warning stream",
        "output stream\r\n",
        "information stream\r\n",
    ] {
        assert!(text.contains(want), "{want:?} in {text:?}");
    }
    let error = text.find("\x1b[91m").expect("the error in red");
    assert!(text[error..].contains("error stream"), "{text:?}");
    // In stream order.
    let at = |s: &str| text.find(s).unwrap();
    assert!(at("DEBUG:") < at("VERBOSE:") && at("VERBOSE:") < error);
    assert!(error < at("output stream") && at("output stream") < at("WARNING:"));
    assert!(text.contains("\x1b]133;D;1\x07"), "{text:?}");
    // The same pipeline without its error record ends with status 0.
    let mut c = at_prompt();
    let clean: Vec<Recorded> = recorded("test_psrp_stream_no_output_invocation.yml")
        .into_iter()
        .filter(|r| !matches!(r, Recorded::Event(PsEvent::Error(_))))
        .collect();
    let text = run_recorded(&mut c, "x", clean, &[], "True", |_, _, _| {});
    assert!(text.contains("\x1b]133;D;0\x07"), "{text:?}");
}

/// The UI host calls a Windows server made for `$host.UI.*` (ReadLine, ReadLineAsSecureString,
/// the writes, progress, Prompt, PromptForCredential, PromptForChoice), answered from the
/// terminal: the answers have the shape and values the recorded client sent, typed secrets
/// are hidden and never shown, a message sent both as record and host call shows once, the
/// progress line goes at the end, and WriteErrorLine (how Out-Default writes errors) makes
/// the status 1.
#[test]
fn recorded_ui_host_calls_are_answered_from_the_terminal() {
    let mut c = at_prompt();
    let mut answers = Vec::new();
    let text = run_recorded(
        &mut c,
        "$host.UI.ReadLine()",
        recorded("test_psrp_pshost_ui_mocked_methods.yml"),
        &[
            "ReadLine response",
            "typed-secret-1",
            "prompt response",
            "typed-secret-2",
            "Prompt2 label",
        ],
        "True",
        |call, reply, recorded| {
            answers.push((
                call.method.name().to_string(),
                reply.clone(),
                recorded.clone(),
            ))
        },
    );
    let names: Vec<&str> = answers.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "ReadLine",
            "ReadLineAsSecureString",
            "Prompt",
            "PromptForCredential2",
            "PromptForChoice"
        ]
    );
    for (name, reply, rec) in &answers {
        let result = rec.result.clone();
        match (name.as_str(), reply) {
            ("ReadLine" | "PromptForChoice", Reply::Value(v)) => {
                assert_eq!(v, &result, "{name}: the value the recorded client sent")
            }
            ("ReadLineAsSecureString", Reply::Secret(s)) => {
                assert_eq!(s, "typed-secret-1");
                assert!(matches!(result, Some(Value::SecureString(_))), "{result:?}");
            }
            ("Prompt", Reply::Fields(f)) => {
                assert!(
                    matches!(&f[..], [(k, FieldAnswer::Text(v))] if k == "prompt field" && v == "prompt response"),
                    "{f:?}"
                );
                let r = format!("{result:?}");
                assert!(
                    r.contains("prompt field") && r.contains("prompt response"),
                    "{r}"
                );
            }
            ("PromptForCredential2", Reply::Credential { user, password }) => {
                // The call names the user: only the password is asked.
                assert_eq!(user, "PromptForCredential user");
                assert_eq!(password, "typed-secret-2");
                assert!(format!("{result:?}").contains("PSCredential"), "{result:?}");
            }
            other => panic!("{other:?} for {result:?}"),
        }
    }
    assert!(!text.contains("typed-secret"), "a secret shown: {text:?}");
    for want in [
        "Write1",
        "Write2",
        "WriteLine2\r\n",
        "WriteLine3",
        "Prompt caption\r\nPrompt message\r\n",
        "Password for user PromptForCredential user: ",
        "[Prompt1 label] Prompt1 label  [Prompt2 label] Prompt2 label  [?] Help",
        "activity: description",
    ] {
        assert!(text.contains(want), "{want:?} in {text:?}");
    }
    // Sent as both a record and a host call, shown once.
    for once in [
        "DEBUG: WriteDebugLine",
        "VERBOSE: WriteVerboseLine",
        "WARNING: WriteWarningLine",
    ] {
        assert_eq!(text.matches(once).count(), 1, "{once:?} in {text:?}");
    }
    let error = text.find("WriteErrorLine").expect("the error line");
    assert!(text[..error].ends_with("\x1b[91m"), "in red: {text:?}");
    // The progress line is gone before the prompt, and the error made the status 1.
    let end = text.rfind("\x1b]133;D").unwrap();
    assert!(
        text[text.rfind("activity").unwrap()..end].contains("\r\x1b[K"),
        "{text:?}"
    );
    assert!(text[end..].starts_with("\x1b]133;D;1\x07"), "{text:?}");
}
