//! A signed-in user of the relay's HTTP API.

use anyhow::{bail, Context};
use winrelay_shared::protocol::api::SessionInfo;

use crate::client::{Attach, Client};
use crate::relay::ws_base;

/// A signed-in user: the API with the sign-in cookie.
#[derive(Clone)]
pub struct User {
    /// The HTTP client (redirects are not followed).
    pub http: reqwest::Client,
    /// The cookie header value (`winrelay_session=...`).
    pub cookie: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `ws://127.0.0.1:PORT`.
    pub ws: String,
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

impl User {
    /// Signs in with a relay's one-time login link (its `open: ...` line).
    pub async fn sign_in(login: &str) -> anyhow::Result<User> {
        let http = http()?;
        let resp = http
            .get(login)
            .send()
            .await
            .with_context(|| format!("opening the login link {login}"))?;
        if resp.status() != 303 {
            bail!(
                "the login link must redirect; it answered {}",
                resp.status()
            );
        }
        let cookie = resp
            .headers()
            .get("set-cookie")
            .context("the login link set no cookie")?
            .to_str()?
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        let url = reqwest::Url::parse(login)?;
        let base = url.origin().ascii_serialization();
        Ok(User {
            http,
            cookie,
            ws: ws_base(&base),
            base,
        })
    }

    /// A user signed in already (a login link works once: other programs share the cookie).
    pub fn with_cookie(base: &str, cookie: &str) -> anyhow::Result<User> {
        let base = base.trim_end_matches('/').to_string();
        Ok(User {
            http: http()?,
            cookie: cookie.to_string(),
            ws: ws_base(&base),
            base,
        })
    }

    /// `GET base+path` with the cookie.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{}", self.base, path))
            .header("cookie", &self.cookie)
    }

    /// `POST base+path` with the cookie and the header the relay's CSRF rule asks for.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.write(reqwest::Method::POST, path)
    }

    /// `PUT`, as [`User::post`].
    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.write(reqwest::Method::PUT, path)
    }

    /// `DELETE`, as [`User::post`].
    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.write(reqwest::Method::DELETE, path)
    }

    fn write(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .header("cookie", &self.cookie)
            .header("x-winrelay", "1")
    }

    /// Creates a session (100x30) on `target`; panics unless the relay answers 201.
    pub async fn create_session(&self, target: &str) -> SessionInfo {
        self.try_create_session(target)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Creates a session (100x30) on `target`.
    pub async fn try_create_session(&self, target: &str) -> anyhow::Result<SessionInfo> {
        let resp = self
            .post("/api/sessions")
            .json(&serde_json::json!({"target": target, "cols": 100, "rows": 30}))
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if status != 201 {
            bail!("create session on {target}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("session info: {text}"))
    }

    /// Ends a session.
    pub async fn end_session(&self, id: &str) -> anyhow::Result<()> {
        let resp = self.delete(&format!("/api/sessions/{id}")).send().await?;
        if !resp.status().is_success() {
            bail!("ending session {id}: {}", resp.status());
        }
        Ok(())
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

    /// How this user attaches to `session` (see [`Client::attach`]).
    pub fn attach_to(&self, session: &str) -> Attach {
        Attach::new(format!("{}/api/sessions/{session}/ws", self.ws)).cookie(&self.cookie)
    }

    /// Attaches a client, resuming at `resume_from`; panics if the upgrade fails.
    pub async fn attach(&self, session: &str, resume_from: Option<u64>) -> Client {
        self.try_attach(session, resume_from)
            .await
            .unwrap_or_else(|e| panic!("attaching to {session}: {e:#}"))
    }

    /// Attaches a client, resuming at `resume_from`.
    pub async fn try_attach(
        &self,
        session: &str,
        resume_from: Option<u64>,
    ) -> anyhow::Result<Client> {
        Ok(Client::attach(self.attach_to(session).resume_from(resume_from)).await?)
    }
}
