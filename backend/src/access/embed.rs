//! Embed tokens: short-lived HS256 JWTs that a portal's backend signs with a secret it
//! shares with the relay, each scoped to one target or one session, one role and one user.
//!
//! **Invariant:** an embed token never grants more than its claims say: the relay treats its
//! holder as a user with exactly `role` on exactly `target` (or `session`), nothing else.
//! Tokens that are expired, forged, for another audience, or live longer than `max_ttl` are
//! refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use winrelay_shared::protocol::Role;

use super::{EmbedScope, Identity, Method};
use crate::config::{EmbedConfig, PasswordSource};

/// The claims of an embed token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's name (shown to others, used as session owner, written to the audit log).
    pub sub: String,
    /// The target the token may open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The session the token may join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// `viewer`, `writer` or `owner`.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Audience (required when the relay is configured with one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Why a token was refused (said to the caller in general terms, logged at debug).
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The relay has no `[embed]` section.
    #[error("this relay does not accept embed tokens")]
    Disabled,
    /// Bad signature, expired, wrong audience, malformed.
    #[error("the embed token is invalid or expired")]
    Invalid,
    /// `exp` too far in the future.
    #[error("the embed token lives longer than this relay accepts")]
    TooLong,
    /// Neither or both of target and session.
    #[error("the embed token must name exactly one of target and session")]
    Scope,
    /// `sub`, `target` or `session` is too long or has control characters.
    #[error("the embed token's sub, target and session must have 1 to 256 bytes and no control characters")]
    Name,
}

/// The verifier.
pub struct Embed {
    key: DecodingKey,
    validation: Validation,
    max_ttl: Duration,
    /// Origins that may frame the relay.
    pub frame_ancestors: Vec<String>,
}

impl Embed {
    /// From the configuration; reads the secret now.
    pub fn from_config(c: &EmbedConfig) -> anyhow::Result<Embed> {
        let source = match (&c.secret_env, &c.secret_file) {
            (Some(v), None) => PasswordSource::Env(v.clone()),
            (None, Some(p)) => PasswordSource::File(p.clone()),
            _ => anyhow::bail!("embed: set exactly one of secret_env and secret_file"),
        };
        let secret = source.read()?;
        if secret.0.len() < 32 {
            anyhow::bail!("embed: the secret must have at least 32 bytes");
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        // A token that is not valid yet is not valid (issue 17, item 15).
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &c.audience {
            Some(a) => {
                validation.set_audience(&[a]);
                validation.set_required_spec_claims(&["exp", "sub", "aud"]);
            }
            None => validation.validate_aud = false,
        }
        Ok(Embed {
            key: DecodingKey::from_secret(secret.0.as_bytes()),
            validation,
            max_ttl: c.max_ttl,
            frame_ancestors: c.frame_ancestors.clone(),
        })
    }

    /// Checks a token: the identity it stands for.
    pub fn verify(&self, token: &str) -> Result<Identity, EmbedError> {
        let data = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|_| EmbedError::Invalid)?;
        let c = data.claims;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if c.exp > now + self.max_ttl.as_secs() + 5 {
            return Err(EmbedError::TooLong);
        }
        if c.target.is_some() == c.session.is_some() || c.sub.is_empty() {
            return Err(EmbedError::Scope);
        }
        // Every string of the token reaches logs, the audit log and recordings: bounded,
        // and no newline or escape sequence (issue 17, item 15).
        let usable = |v: &Option<String>| v.as_deref().is_none_or(super::identity::valid_name);
        if !super::identity::valid_name(&c.sub) || !usable(&c.target) || !usable(&c.session) {
            return Err(EmbedError::Name);
        }
        Ok(Identity {
            user: c.sub,
            groups: Vec::new(),
            method: Method::Embed,
            scope: Some(EmbedScope {
                target: c.target,
                session: c.session,
                role: c.role,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn embed(aud: Option<&str>) -> Embed {
        std::env::set_var("EMBED_UNIT_SECRET", SECRET);
        Embed::from_config(&EmbedConfig {
            secret_env: Some("EMBED_UNIT_SECRET".into()),
            audience: aud.map(Into::into),
            max_ttl: Duration::from_secs(600),
            ..Default::default()
        })
        .unwrap()
    }

    fn token(secret: &str, claims: serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn good_expired_forged_long_and_audience() {
        let e = embed(Some("winrelay"));
        let good = serde_json::json!({"sub":"ann","target":"a","role":"writer","exp":now()+60,"aud":"winrelay"});
        let who = e.verify(&token(SECRET, good.clone())).unwrap();
        assert_eq!(who.user, "ann");
        assert_eq!(who.scope.unwrap().target.as_deref(), Some("a"));
        let mut expired = good.clone();
        expired["exp"] = (now() - 60).into();
        assert!(matches!(
            e.verify(&token(SECRET, expired)),
            Err(EmbedError::Invalid)
        ));
        assert!(matches!(
            e.verify(&token("another-secret-of-enough-length!!", good.clone())),
            Err(EmbedError::Invalid)
        ));
        let mut aud = good.clone();
        aud["aud"] = "elsewhere".into();
        assert!(e.verify(&token(SECRET, aud)).is_err());
        let mut noaud = good.clone();
        noaud.as_object_mut().unwrap().remove("aud");
        assert!(e.verify(&token(SECRET, noaud)).is_err());
        let mut long = good.clone();
        long["exp"] = (now() + 86400).into();
        assert!(matches!(
            e.verify(&token(SECRET, long)),
            Err(EmbedError::TooLong)
        ));
        let mut both = good;
        both["session"] = "s".into();
        assert!(matches!(
            e.verify(&token(SECRET, both)),
            Err(EmbedError::Scope)
        ));
        // "alg": "none" is never accepted.
        let none = format!(
            "{}.{}.",
            base64_url(br#"{"alg":"none","typ":"JWT"}"#),
            base64_url(serde_json::json!({"sub":"ann","target":"a","role":"owner","exp":now()+60,"aud":"winrelay"}).to_string().as_bytes())
        );
        assert!(e.verify(&none).is_err());
    }

    /// Issue 17, item 15: `nbf` counts; names are bounded and printable; embed identities
    /// are `embed:NAME` for ownership.
    #[test]
    fn not_before_names_and_namespace() {
        let e = embed(None);
        let good = serde_json::json!({"sub":"alice","target":"a","role":"writer","exp":now()+60});
        let who = e.verify(&token(SECRET, good.clone())).unwrap();
        assert_eq!(who.principal(), "embed:alice");
        let mut early = good.clone();
        early["nbf"] = (now() + 300).into();
        assert!(matches!(
            e.verify(&token(SECRET, early)),
            Err(EmbedError::Invalid)
        ));
        let mut started = good.clone();
        started["nbf"] = (now() - 10).into();
        assert!(e.verify(&token(SECRET, started)).is_ok());
        for bad in [
            "ann\n2026-01-01T00:00:00Z INFO signed in user=admin".to_string(),
            "ann\u{1b}[2J".to_string(),
            "x".repeat(40_000),
        ] {
            let mut c = good.clone();
            c["sub"] = bad.into();
            assert!(matches!(e.verify(&token(SECRET, c)), Err(EmbedError::Name)));
        }
        let mut t = good;
        t["target"] = "t".repeat(1000).into();
        assert!(matches!(e.verify(&token(SECRET, t)), Err(EmbedError::Name)));
    }

    fn base64_url(b: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }
}
