//! Replays the exchanges recorded against real Windows servers (pypsrp's fixtures, MIT, in
//! `backend/wsman/tests/fixtures/winrm-recorded/` with their licence) against the simulator
//! and checks that every answer has the recorded structure.
//!
//! Requests are sent as recorded, except: shell and command ids are replaced by the ones the
//! simulator handed out; a Command whose recorded answer is not a fault is replaced by
//! `cmd.exe /c <script>` where the script prints the bytes Windows printed (decoded from the
//! recorded Receive responses, stdout and stderr in recorded order) and exits with the recorded
//! code, so the output can be compared byte for byte; a Windows working directory becomes a
//! local one; the one recording that waits through Receive timeouts gets a 1 s
//! OperationTimeout instead of 10 s.
//!
//! Structure means: the same elements (namespace and local name) in the same order, the same
//! attributes (namespace, name, and value for the values that carry meaning: `Name`, `End`,
//! `State`, the WSManFault `Code`), the same namespace declarations on the envelope, the same
//! fault codes and subcodes, actions, resource URIs, stream names, exit codes, and the same
//! output bytes (consecutive `rsp:Stream` elements of one stream merged, since Windows splits
//! output at each write). Ids, times, host names and message texts are not compared.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use common::*;

const SHELL_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
const FAULT_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
const WSMV_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";

#[derive(serde::Deserialize)]
struct Recording {
    messages: Vec<Exchange>,
}

#[derive(serde::Deserialize)]
struct Exchange {
    request: String,
    response: String,
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wsman/tests/fixtures/winrm-recorded")
}

/// An element reduced to what is compared.
#[derive(Debug, PartialEq)]
struct Shape {
    ns: String,
    name: String,
    attrs: Vec<(String, String, Option<String>)>,
    /// Text, for the elements whose text is compared.
    text: Option<String>,
    children: Vec<Shape>,
}

fn action_of(xml: &str) -> String {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let action = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Action")
        .unwrap();
    action
        .text()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// Compared text of an element, if its text carries meaning.
fn meaningful_text(n: roxmltree::Node) -> Option<String> {
    let name = n.tag_name().name();
    let keep = matches!(
        name,
        "Value"
            | "ExitCode"
            | "InputStreams"
            | "OutputStreams"
            | "ResourceURI"
            | "ResourceUri"
            | "FaultDetail"
            | "Action"
    ) || (name == "To"
        && n.text() == Some("http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"));
    keep.then(|| n.text().unwrap_or("").trim().to_string())
}

fn shape(n: roxmltree::Node) -> Shape {
    let mut attrs: Vec<(String, String, Option<String>)> = n
        .attributes()
        .map(|a| {
            let meaningful = matches!(a.name(), "Name" | "End" | "State")
                || (a.name() == "Code" && n.tag_name().namespace() == Some(FAULT_NS));
            let value = meaningful.then(|| a.value().to_ascii_lowercase());
            (
                a.namespace().unwrap_or("").to_string(),
                a.name().to_string(),
                value,
            )
        })
        .collect();
    attrs.sort();
    let mut children: Vec<Shape> = Vec::new();
    let mut stream_data: Vec<Vec<u8>> = Vec::new();
    for c in n.children().filter(|c| c.is_element()) {
        let (ns, name) = (c.tag_name().namespace().unwrap_or(""), c.tag_name().name());
        // Windows-version details the simulator does not produce: the ActivityId header of
        // newer servers, the shell plugin's ProviderFault wrapper, and (missing from
        // wsman::ShellInfo, reported) the echo of WorkingDirectory and Environment.
        if (ns == WSMV_NS && name == "ActivityId")
            || (ns == FAULT_NS && name == "ProviderFault")
            || (ns == SHELL_NS && (name == "WorkingDirectory" || name == "Environment"))
        {
            continue;
        }
        let s = shape(c);
        let data = if ns == SHELL_NS && name == "Stream" {
            base64::engine::general_purpose::STANDARD
                .decode(c.text().unwrap_or("").trim())
                .unwrap()
        } else {
            Vec::new()
        };
        // Merge a data element into the previous one of the same stream.
        if let (Some(prev), true) = (
            children.last(),
            s.name == "Stream" && s.attrs.iter().all(|a| a.1 != "End"),
        ) {
            if prev.name == "Stream" && prev.attrs == s.attrs {
                stream_data.last_mut().unwrap().extend(data);
                continue;
            }
        }
        children.push(s);
        stream_data.push(data);
    }
    for (c, d) in children.iter_mut().zip(stream_data) {
        if c.name == "Stream" {
            c.text = Some(String::from_utf8_lossy(&d).into_owned());
        }
    }
    Shape {
        ns: n.tag_name().namespace().unwrap_or("").to_string(),
        name: n.tag_name().name().to_string(),
        attrs,
        text: meaningful_text(n),
        children,
    }
}

fn envelope_shape(xml: &str) -> (BTreeSet<(String, String)>, Shape) {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let root = doc.root_element();
    let decls = root
        .namespaces()
        .filter(|ns| ns.name() != Some("xml"))
        .map(|ns| (ns.name().unwrap_or("").to_string(), ns.uri().to_string()))
        .collect();
    (decls, shape(root))
}

/// Output per recorded Receive response of one command: (stream, bytes) in order, and the
/// number of timeout faults that preceded the response; plus the exit code.
/// Output of one Receive response: (stream name, bytes) in order.
type Phase = Vec<(String, Vec<u8>)>;

struct Script {
    phases: Vec<(usize, Phase)>,
    exit_code: i32,
    reads_stdin: bool,
}

fn script_for(rec: &Recording, command_id: &str) -> Script {
    let mut phases = Vec::new();
    let mut timeouts = 0;
    let mut exit_code = 0;
    let mut reads_stdin = false;
    for m in &rec.messages {
        if !m.request.contains(command_id) {
            continue;
        }
        match action_of(&m.request).as_str() {
            "Send" => reads_stdin = true,
            "Receive" => {
                let doc = roxmltree::Document::parse(&m.response).unwrap();
                if doc.descendants().any(|n| n.tag_name().name() == "Fault") {
                    timeouts += 1;
                    continue;
                }
                let mut out = Vec::new();
                for s in doc
                    .descendants()
                    .filter(|n| n.tag_name().name() == "Stream")
                {
                    let data = base64::engine::general_purpose::STANDARD
                        .decode(s.text().unwrap_or(""))
                        .unwrap();
                    if !data.is_empty() {
                        out.push((s.attribute("Name").unwrap().to_string(), data));
                    }
                }
                if let Some(code) = doc
                    .descendants()
                    .find(|n| n.tag_name().name() == "ExitCode")
                {
                    exit_code = code.text().unwrap().parse().unwrap();
                }
                phases.push((timeouts, out));
                timeouts = 0;
            }
            _ => {}
        }
    }
    Script {
        phases,
        exit_code,
        reads_stdin,
    }
}

impl Script {
    fn shell_text(&self) -> String {
        let mut s = String::new();
        if self.reads_stdin {
            s.push_str("cat >/dev/null; ");
        }
        for (i, (timeouts, out)) in self.phases.iter().enumerate() {
            if i > 0 {
                // Hold the output back through the recorded timeouts (1 s each).
                s.push_str(&format!("sleep {}.5; ", timeouts));
            }
            let mut last: Option<&str> = None;
            for (name, data) in out {
                if last.is_some_and(|l| l != name) {
                    // Two pipes: let the reader of the first one go first.
                    s.push_str("sleep 0.2; ");
                }
                let b64 = base64::engine::general_purpose::STANDARD.encode(data);
                let redirect = if name == "stderr" { " >&2" } else { "" };
                s.push_str(&format!("printf '%s' {b64} | base64 -d{redirect}; "));
                last = Some(name);
            }
        }
        s.push_str(&format!("exit {}", self.exit_code));
        s
    }
}

fn replace_command_line(request: &str, script: &str) -> String {
    let start = request.find("<rsp:CommandLine>").expect("CommandLine");
    let end = request.find("</rsp:CommandLine>").unwrap() + "</rsp:CommandLine>".len();
    format!(
        "{}<rsp:CommandLine><rsp:Command>cmd.exe</rsp:Command><rsp:Arguments>/c {}</rsp:Arguments></rsp:CommandLine>{}",
        &request[..start],
        script.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"),
        &request[end..]
    )
}

fn text_of(xml: &str, name: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let x = doc
        .descendants()
        .find(|n| n.tag_name().name() == name)
        .and_then(|n| n.text().map(str::to_string));
    x
}

async fn replay(file: &str, client: &Client, workdir: &str) {
    let path = fixtures_dir().join(file);
    let rec: Recording = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut ids: HashMap<String, String> = HashMap::new();
    for (i, m) in rec.messages.iter().enumerate() {
        let action = action_of(&m.request);
        let mut request = m.request.clone();
        for (recorded, ours) in &ids {
            request = request.replace(recorded.as_str(), ours);
        }
        request = request.replace(
            r"<rsp:WorkingDirectory>C:\Windows</rsp:WorkingDirectory>",
            &format!("<rsp:WorkingDirectory>{workdir}</rsp:WorkingDirectory>"),
        );
        if file == "test_winrs_operation_timeout.yml" {
            request = request.replace(
                "<wsman:OperationTimeout>PT10S<",
                "<wsman:OperationTimeout>PT1S<",
            );
        }
        let recorded_is_fault = m.response.contains("<s:Fault>");
        if action == "Command" && !recorded_is_fault {
            let recorded_id = text_of(&m.response, "CommandId").unwrap();
            request = replace_command_line(&request, &script_for(&rec, &recorded_id).shell_text());
        }
        if action == "Receive" && m.response.contains("CommandState/Done") {
            // Let the command finish so its whole output is in one response, as recorded.
            tokio::time::sleep(Duration::from_millis(700)).await;
        } else if action == "Receive" && m.response.contains("<rsp:Stream ") {
            // Let the output the recorded answer holds be waiting: a Receive that waits
            // through an idle period answers the first write at once, one that finds output
            // waiting collects what follows, which is the recorded shape.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let raw = client.post_raw(request).await;
        let answer = String::from_utf8(raw.body).unwrap();
        let context = format!("{file} message {i} ({action})");
        assert_eq!(
            raw.status,
            if recorded_is_fault { 500 } else { 200 },
            "{context}: {answer}"
        );
        let (want_ns, want) = envelope_shape(&m.response);
        let (got_ns, got) = envelope_shape(&answer);
        assert_eq!(got_ns, want_ns, "{context}: namespace declarations");
        assert_eq!(got, want, "{context}:\n got {answer}\nwant {}", m.response);
        match action.as_str() {
            "Create" => {
                ids.insert(
                    text_of(&m.response, "ShellId").unwrap(),
                    text_of(&answer, "ShellId").unwrap(),
                );
            }
            "Command" if !recorded_is_fault => {
                ids.insert(
                    text_of(&m.response, "CommandId").unwrap(),
                    text_of(&answer, "CommandId").unwrap(),
                );
            }
            _ => {}
        }
    }
}

async fn check(file: &str) {
    let mut cfg = config();
    cfg.tls = winrs_sim::Tls::Off;
    let (sim, client) = start(cfg).await;
    let dir =
        std::env::temp_dir().join(format!("winrs-sim-recorded-{}-{file}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    replay(file, &client, dir.to_str().unwrap()).await;
    assert_eq!(
        sim.shell_count(),
        0,
        "{file}: the recording deletes its shell"
    );
    sim.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_winrs_recording_is_replayed_here() {
    // A new recording must get a test below.
    let mut files: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("test_winrs_"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "test_winrs_bad_cmd_id.yml",
            "test_winrs_environment.yml",
            "test_winrs_extra_opts.yml",
            "test_winrs_fail_poll_process.yml",
            "test_winrs_no_cmd_shell.yml",
            "test_winrs_noprofile.yml",
            "test_winrs_open_already_opened.yml",
            "test_winrs_operation_timeout.yml",
            "test_winrs_send.yml",
            "test_winrs_standard.yml",
            "test_winrs_stderr_rc.yml",
            "test_winrs_unicode.yml",
        ]
    );
}

macro_rules! recorded {
    ($($name:ident => $file:literal,)*) => {$(
        #[tokio::test]
        async fn $name() {
            check($file).await;
        }
    )*};
}

recorded! {
    bad_cmd_id => "test_winrs_bad_cmd_id.yml",
    environment => "test_winrs_environment.yml",
    extra_opts => "test_winrs_extra_opts.yml",
    fail_poll_process => "test_winrs_fail_poll_process.yml",
    no_cmd_shell => "test_winrs_no_cmd_shell.yml",
    noprofile => "test_winrs_noprofile.yml",
    open_already_opened => "test_winrs_open_already_opened.yml",
    operation_timeout => "test_winrs_operation_timeout.yml",
    send => "test_winrs_send.yml",
    standard => "test_winrs_standard.yml",
    stderr_rc => "test_winrs_stderr_rc.yml",
    unicode => "test_winrs_unicode.yml",
}

/// WS-Transfer Get of the service configuration (pypsrp's update_max_envelope_size) is not a
/// WinRS operation and not served: the simulator must answer it with a well-formed fault that
/// relates to the request rather than fail.
#[tokio::test]
async fn config_get_is_answered_with_a_fault() {
    let (sim, client) = start(config()).await;
    for file in [
        "test_wsman_update_envelope_size_150.yml",
        "test_wsman_update_envelope_size_500.yml",
        "test_wsman_update_envelope_size_4096.yml",
    ] {
        let rec: Recording =
            serde_yaml::from_str(&std::fs::read_to_string(fixtures_dir().join(file)).unwrap())
                .unwrap();
        let raw = client.post_raw(rec.messages[0].request.clone()).await;
        assert_eq!(raw.status, 500, "{file}");
        let fault = parse(wsman::Action::Create, &raw).unwrap_err();
        assert!(
            fault
                .subcode
                .as_deref()
                .unwrap_or("")
                .ends_with("ActionNotSupported"),
            "{file}: {fault:?}"
        );
    }
    sim.shutdown().await;
}
