//! Test harness: the real `winrelay` binary on a loopback port, and a protocol client.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use winrelay_shared::protocol::api::SessionInfo;
use winrelay_shared::protocol::{ClientMsg, FrameKind, OutputFrame, ServerMsg};

/// A running `winrelay serve`, killed on drop.
pub struct Relay {
    pub child: Child,
    pub base: String,
    pub login: String,
    pub stderr_path: std::path::PathBuf,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn bin() -> String {
    std::env::var("WINRELAY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_winrelay").to_string())
}

impl Relay {
    /// Starts the relay with the demo target (no configuration).
    pub fn demo() -> Relay {
        Relay::start(&[])
    }

    /// Starts the relay with extra arguments after `serve --listen 127.0.0.1:0`.
    pub fn start(extra: &[&str]) -> Relay {
        let state = std::env::temp_dir().join(format!(
            "winrelay-state-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        Relay::start_with_state(extra, &state)
    }

    /// Starts the relay with its state (sign-ins) in `state`.
    pub fn start_with_state(extra: &[&str], state: &std::path::Path) -> Relay {
        let stderr_path = std::env::temp_dir().join(format!(
            "winrelay-test-{}-{}.log",
            std::process::id(),
            rand_suffix()
        ));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("WINRELAY_LOG", "debug")
            .env("WINRELAY_STATE_DIR", state)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start winrelay");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut base = None;
        let mut login = None;
        while login.is_none() {
            let line = lines.next().expect("winrelay printed its URLs").unwrap();
            if let Some(b) = line.strip_prefix("listening: ") {
                base = Some(b.to_string());
            }
            if let Some(l) = line.strip_prefix("open: ") {
                login = Some(l.to_string());
            }
        }
        // Keep draining stdout so the relay never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Relay {
            child,
            base: base.unwrap(),
            login: login.unwrap(),
            stderr_path,
        }
    }

    pub fn ws_base(&self) -> String {
        self.base.replacen("http://", "ws://", 1)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Signs in with the one-time link; returns the API client and the cookie header.
    pub async fn sign_in(&self) -> User {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = http.get(&self.login).send().await.unwrap();
        assert_eq!(resp.status(), 303, "login link must redirect");
        let cookie = resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        User {
            http,
            cookie,
            base: self.base.clone(),
            ws: self.ws_base(),
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id() as i32, 15);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "relay did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn unsafe_kill(pid: i32, sig: i32) {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A signed-in user.
pub struct User {
    pub http: reqwest::Client,
    pub cookie: String,
    pub base: String,
    pub ws: String,
}

impl User {
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{}", self.base, path))
            .header("cookie", &self.cookie)
    }
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{}", self.base, path))
            .header("cookie", &self.cookie)
            .header("x-winrelay", "1")
    }
    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .put(format!("{}{}", self.base, path))
            .header("cookie", &self.cookie)
            .header("x-winrelay", "1")
    }
    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(format!("{}{}", self.base, path))
            .header("cookie", &self.cookie)
            .header("x-winrelay", "1")
    }

    pub async fn create_session(&self, target: &str) -> SessionInfo {
        let resp = self
            .post("/api/sessions")
            .json(&serde_json::json!({"target": target, "cols": 100, "rows": 30}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            201,
            "create session: {}",
            resp.text().await.unwrap()
        );
        resp.json().await.unwrap()
    }

    /// A share link token for a session.
    pub async fn share(&self, session: &str, role: &str) -> String {
        let resp = self
            .post(&format!("/api/sessions/{session}/shares"))
            .json(&serde_json::json!({"role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let v: serde_json::Value = resp.json().await.unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    pub async fn attach(&self, session: &str, resume_from: Option<u64>) -> Client {
        Client::connect(
            &format!("{}/api/sessions/{session}/ws", self.ws),
            Some(&self.cookie),
            resume_from,
        )
        .await
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A protocol client that keeps the stream it received and acknowledges as it reads.
pub struct Client {
    pub ws: Ws,
    /// Bytes received, as a terminal would have rendered them (snapshots reset it).
    pub screen: Vec<u8>,
    /// Offset of the end of what was received.
    pub pos: u64,
    pub messages: Vec<ServerMsg>,
    pub snapshots: usize,
    pub auto_ack: bool,
    /// Offsets of the first output frame after connecting.
    pub first_offset: Option<u64>,
}

impl Client {
    pub async fn connect(url: &str, cookie: Option<&str>, resume_from: Option<u64>) -> Client {
        Client::connect_with(url, cookie, None, resume_from)
            .await
            .expect("websocket upgrade")
    }

    pub async fn connect_with(
        url: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
        resume_from: Option<u64>,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut req = url.into_client_request().unwrap();
        if let Some(c) = cookie {
            req.headers_mut().insert("cookie", c.parse().unwrap());
        }
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        let mut c = Client {
            ws,
            screen: Vec::new(),
            pos: resume_from.unwrap_or(0),
            messages: Vec::new(),
            snapshots: 0,
            auto_ack: true,
            first_offset: None,
        };
        c.send(&ClientMsg::Hello {
            resume_from,
            cols: 100,
            rows: 30,
            name: None,
        })
        .await;
        Ok(c)
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.ws
            .send(Message::Text(msg.to_json().into()))
            .await
            .unwrap();
    }

    pub async fn input(&mut self, text: &str) {
        self.send(&ClientMsg::Input { data: text.into() }).await;
    }

    /// Reads one frame (with a timeout); returns false when the socket closed.
    pub async fn pump(&mut self, timeout: Duration) -> bool {
        let msg = match tokio::time::timeout(timeout, self.ws.next()).await {
            Err(_) => return true,
            Ok(None) | Ok(Some(Err(_))) => return false,
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Binary(b) => {
                let f = OutputFrame::decode(&b).expect("valid frame");
                match f.kind {
                    FrameKind::Output => {
                        self.first_offset.get_or_insert(f.offset);
                        assert_eq!(
                            f.offset, self.pos,
                            "output must continue exactly where the last frame ended"
                        );
                        self.screen.extend_from_slice(f.data);
                        self.pos = f.offset + f.data.len() as u64;
                    }
                    FrameKind::Snapshot => {
                        self.snapshots += 1;
                        self.screen = f.data.to_vec();
                        self.pos = f.offset;
                    }
                }
                if self.auto_ack {
                    let pos = self.pos;
                    self.send(&ClientMsg::Ack { offset: pos }).await;
                }
            }
            Message::Text(t) => self
                .messages
                .push(ServerMsg::from_json(&t).expect("valid server message")),
            Message::Close(_) => return false,
            _ => {}
        }
        true
    }

    /// Reads until the received text contains `needle`.
    pub async fn wait_for(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "did not see {needle:?} within {within:?}; got:\n{:?}",
                self.text()
            );
            if !self.pump(Duration::from_millis(200)).await {
                panic!("socket closed before {needle:?}; got:\n{:?}", self.text());
            }
        }
    }

    /// Waits for `welcome`: (client id, role, resumed).
    pub async fn welcome(&mut self) -> (u64, winrelay_shared::protocol::Role, bool) {
        match self
            .wait_msg(T, |m| matches!(m, ServerMsg::Welcome { .. }))
            .await
        {
            ServerMsg::Welcome {
                client_id,
                role,
                resumed,
                ..
            } => (client_id, role, resumed),
            _ => unreachable!(),
        }
    }

    /// The role the relay gave this client.
    pub async fn role(&mut self) -> winrelay_shared::protocol::Role {
        self.welcome().await.1
    }

    /// Reads until a server message matches.
    pub async fn wait_msg(
        &mut self,
        within: Duration,
        pred: impl Fn(&ServerMsg) -> bool,
    ) -> ServerMsg {
        let deadline = Instant::now() + within;
        loop {
            if let Some(m) = self.messages.iter().find(|m| pred(m)) {
                return m.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no matching message within {within:?}; got {:?}",
                self.messages
            );
            if !self.pump(Duration::from_millis(200)).await {
                if let Some(m) = self.messages.iter().find(|m| pred(m)) {
                    return m.clone();
                }
                panic!("socket closed; messages: {:?}", self.messages);
            }
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen).into_owned()
    }

    /// Reads whatever arrives for `d`.
    pub async fn drain(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            if !self.pump(Duration::from_millis(50)).await {
                break;
            }
        }
    }
}

pub const T: Duration = Duration::from_secs(20);

/// A running `winrelay sim`, killed on drop.
pub struct Sim {
    pub child: Child,
    pub endpoint: String,
    pub fingerprint: String,
    pub port: u16,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    pub fn start(user: &str, password: &str) -> Sim {
        let mut child = Command::new(bin())
            .args([
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--user",
                user,
                "--password-env",
                "SIM_PW",
            ])
            .env("SIM_PW", password)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start winrelay sim");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut endpoint = None;
        let mut fingerprint = None;
        while endpoint.is_none() || fingerprint.is_none() {
            let line = lines
                .next()
                .expect("sim printed endpoint and fingerprint")
                .unwrap();
            if let Some(e) = line.strip_prefix("endpoint: ") {
                endpoint = Some(e.to_string());
            }
            if let Some(f) = line.strip_prefix("fingerprint: ") {
                fingerprint = Some(f.to_string());
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let endpoint = endpoint.unwrap();
        let port = endpoint
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches("/wsman")
            .parse()
            .unwrap();
        Sim {
            child,
            endpoint,
            fingerprint: fingerprint.unwrap(),
            port,
        }
    }

    /// Process ids of the shells' processes (children of the simulator).
    pub fn children(&self) -> Vec<u32> {
        let out = Command::new("pgrep")
            .args(["-P", &self.child.id().to_string()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

/// Writes a relay configuration into a fresh directory and returns its path.
pub fn config_file(text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "winrelay-cfg-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("relay.toml");
    std::fs::write(&path, text).unwrap();
    path
}
