//! A small WinRS client over raw HTTP for the simulator's tests: requests are built and
//! responses parsed by `wsman`, HTTP is reqwest (certificate checks off: the simulator's
//! certificate is self-signed and generated per run).
#![allow(dead_code, clippy::result_large_err)]

use std::time::Duration;

use winrs_sim::{SimConfig, SimHandle};
use wsman::{
    Action, CommandLine, Fault, Request, RequestBody, Response, ResponseBody, ShellSpec,
    SignalCode, StreamData,
};

pub const USER: &str = "demo";
pub const PASSWORD: &str = "s3cret-Pw";

pub fn config() -> SimConfig {
    SimConfig::new(USER, PASSWORD)
}

pub async fn start(config: SimConfig) -> (SimHandle, Client) {
    let sim = winrs_sim::start(config).await.expect("simulator starts");
    let client = Client::new(&sim.endpoint());
    (sim, client)
}

pub struct Client {
    pub endpoint: String,
    pub http: reqwest::Client,
    pub user: String,
    pub password: String,
    /// OperationTimeout of the requests this client sends.
    pub operation_timeout: Duration,
    pub max_envelope_size: u32,
}

/// The HTTP answer to a request, before WS-Management parsing.
pub struct Raw {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Client {
    pub fn new(endpoint: &str) -> Client {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        Client {
            endpoint: endpoint.to_string(),
            http,
            user: USER.into(),
            password: PASSWORD.into(),
            operation_timeout: Duration::from_secs(20),
            max_envelope_size: 153_600,
        }
    }

    pub fn request(&self, shell_id: Option<&str>, body: RequestBody) -> Request {
        let mut r = Request::new(&self.endpoint, shell_id, body);
        r.header.operation_timeout = self.operation_timeout;
        r.header.max_envelope_size = self.max_envelope_size;
        r
    }

    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> Raw {
        let resp = self
            .http
            .post(&self.endpoint)
            .basic_auth(&self.user, Some(&self.password))
            .header("Content-Type", "application/soap+xml;charset=UTF-8")
            .body(body)
            .send()
            .await
            .expect("HTTP exchange");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("body").to_vec();
        Raw {
            status,
            headers,
            body,
        }
    }

    /// Sends `req`; Ok(response) on HTTP 200, Err(fault) on HTTP 500 with a fault.
    pub async fn send(&self, req: &Request) -> Result<Response, Fault> {
        let raw = self.post_raw(wsman::client::write_request(req)).await;
        parse(req.header.action, &raw)
    }

    pub async fn create(&self, spec: ShellSpec) -> Result<String, Fault> {
        self.create_with(self.request(None, RequestBody::Create(spec)))
            .await
    }

    pub async fn create_with(&self, req: Request) -> Result<String, Fault> {
        match self.send(&req).await?.body {
            ResponseBody::Created(info) => Ok(info.shell_id),
            other => panic!("Create answered {other:?}"),
        }
    }

    pub async fn shell(&self) -> String {
        self.create(default_spec()).await.expect("Create")
    }

    pub async fn command(
        &self,
        shell: &str,
        command: &str,
        args: &[&str],
        skip_cmd_shell: bool,
    ) -> Result<String, Fault> {
        let line = CommandLine {
            command: command.into(),
            arguments: args.iter().map(|s| s.to_string()).collect(),
        };
        let req = self
            .request(Some(shell), RequestBody::Command(line))
            .with_option(
                "WINRS_SKIP_CMD_SHELL",
                if skip_cmd_shell { "True" } else { "False" },
            );
        match self.send(&req).await?.body {
            ResponseBody::CommandStarted { command_id } => Ok(command_id),
            other => panic!("Command answered {other:?}"),
        }
    }

    pub async fn receive(&self, shell: &str, command: &str) -> Result<Response, Fault> {
        let body = RequestBody::Receive {
            command_id: Some(command.into()),
            streams: vec!["stdout".into(), "stderr".into()],
            sequence_id: None,
        };
        self.send(&self.request(Some(shell), body)).await
    }

    /// A Receive numbered `sequence` (its `SequenceId`).
    pub async fn receive_numbered(
        &self,
        shell: &str,
        command: &str,
        sequence: u64,
    ) -> Result<Response, Fault> {
        let body = RequestBody::Receive {
            command_id: Some(command.into()),
            streams: vec!["stdout".into(), "stderr".into()],
            sequence_id: Some(sequence),
        };
        self.send(&self.request(Some(shell), body)).await
    }

    /// Receives until the command is done; returns stdout, stderr and the exit code.
    pub async fn receive_all(&self, shell: &str, command: &str) -> Output {
        let mut out = Output::default();
        loop {
            match self.receive(shell, command).await {
                Ok(resp) => {
                    if let Some(code) = out.absorb(resp) {
                        out.exit_code = code;
                        return out;
                    }
                }
                Err(f) if f.is_timeout() => out.timeouts += 1,
                Err(f) => panic!("Receive failed: {f:?}"),
            }
        }
    }

    pub async fn send_input(
        &self,
        shell: &str,
        command: &str,
        data: &[u8],
        end: bool,
    ) -> Result<Response, Fault> {
        let body = RequestBody::Send(vec![StreamData {
            name: "stdin".into(),
            command_id: Some(command.into()),
            end,
            data: data.to_vec(),
        }]);
        self.send(&self.request(Some(shell), body)).await
    }

    pub async fn signal(
        &self,
        shell: &str,
        command: &str,
        code: SignalCode,
    ) -> Result<Response, Fault> {
        let body = RequestBody::Signal {
            command_id: Some(command.into()),
            code,
        };
        self.send(&self.request(Some(shell), body)).await
    }

    pub async fn delete(&self, shell: &str) -> Result<Response, Fault> {
        self.send(&self.request(Some(shell), RequestBody::Delete))
            .await
    }

    /// Runs a command to its end in a fresh shell and deletes the shell.
    pub async fn run(&self, command: &str, args: &[&str]) -> Output {
        let shell = self.shell().await;
        let id = self
            .command(&shell, command, args, false)
            .await
            .expect("Command");
        let out = self.receive_all(&shell, &id).await;
        self.signal(&shell, &id, SignalCode::Terminate)
            .await
            .expect("terminate");
        self.delete(&shell).await.expect("Delete");
        out
    }
}

pub fn default_spec() -> ShellSpec {
    ShellSpec {
        input_streams: vec!["stdin".into()],
        output_streams: vec!["stdout".into(), "stderr".into()],
        ..ShellSpec::default()
    }
}

pub fn parse(action: Action, raw: &Raw) -> Result<Response, Fault> {
    let ct = raw
        .headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/soap+xml"),
        "content type {ct:?}, status {}",
        raw.status
    );
    match wsman::client::parse_response(action, &raw.body) {
        Ok(Ok(resp)) => {
            assert_eq!(raw.status, 200, "a response must come with HTTP 200");
            Ok(resp)
        }
        Ok(Err(fault)) => {
            assert_eq!(raw.status, 500, "a fault must come with HTTP 500");
            Err(fault)
        }
        Err(e) => panic!(
            "unparsable answer ({}): {e}: {}",
            raw.status,
            String::from_utf8_lossy(&raw.body)
        ),
    }
}

#[derive(Debug, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
    pub timeouts: usize,
    pub responses: usize,
}

impl Output {
    /// Adds a Receive response; Some(exit code) when it says Done.
    pub fn absorb(&mut self, resp: Response) -> Option<i32> {
        self.responses += 1;
        let ResponseBody::Received { streams, state } = resp.body else {
            panic!("not a ReceiveResponse: {:?}", resp.body);
        };
        for s in streams {
            match s.name.as_str() {
                "stdout" => self.stdout.extend(s.data),
                "stderr" => self.stderr.extend(s.data),
                other => panic!("unexpected stream {other}"),
            }
        }
        let state = state.expect("CommandState present");
        state
            .done
            .then(|| state.exit_code.expect("ExitCode with Done"))
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Whether a process with this pid still exists (and is not a zombie).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            state != Some('Z')
        }
        Err(_) => false,
    }
}

/// Polls `cond` every 50 ms for up to `limit`.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}
