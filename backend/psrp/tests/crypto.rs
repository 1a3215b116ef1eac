//! The recorded key exchanges: pypsrp's test suite injected a fixed RSA key (its numbers
//! below are test data from pypsrp's tests, MIT), so the recorded ENCRYPTED_SESSION_KEY can
//! be decrypted and every recorded SecureString read back.

#[path = "common/mod.rs"]
mod common;

use common::{all_messages, pypsrp_test_key, recordings};
use psrp::clixml::Value;
use psrp::crypto::SessionKey;
use psrp::message::MessageType;
use psrp::messages::{decode, Data};

/// Every SecureString in a message, depth first.
fn secure_strings(v: &Value, out: &mut Vec<Vec<u8>>) {
    match v {
        Value::SecureString(b) => out.push(b.clone()),
        Value::Object(o) => {
            for (_, p) in o.adapted.iter().chain(o.extended.iter()) {
                secure_strings(p, out);
            }
            if let Some(x) = &o.value {
                secure_strings(x, out);
            }
            match &o.collection {
                Some(psrp::clixml::Collection::Dictionary(e)) => {
                    for (k, x) in e {
                        secure_strings(k, out);
                        secure_strings(x, out);
                    }
                }
                Some(c) => {
                    for x in c.items().unwrap() {
                        secure_strings(x, out);
                    }
                }
                None => {}
            }
        }
        _ => {}
    }
}

#[test]
fn recorded_session_keys_decrypt_and_open_every_secure_string() {
    let mut decrypted = Vec::new();
    let mut exchanges_seen = 0;
    for (file, exchanges) in recordings() {
        let msgs = all_messages(&exchanges);
        let mut public_key = None;
        let mut session: Option<SessionKey> = None;
        for m in &msgs {
            let t = m.message.message_type;
            match decode(t, &m.message.data).unwrap() {
                Data::PublicKey(b) => public_key = Some(b),
                Data::EncryptedSessionKey(b) => {
                    let client = pypsrp_test_key();
                    // The recorded PUBLIC_KEY is this key's blob, byte for byte.
                    assert_eq!(
                        public_key.as_deref(),
                        Some(client.public_key_blob().as_slice()),
                        "{file}"
                    );
                    session = Some(client.decrypt_session_key(&b).unwrap());
                    exchanges_seen += 1;
                }
                _ => {}
            }
            if m.message.data.is_empty() || t == MessageType::END_OF_PIPELINE_INPUT {
                continue;
            }
            let v = psrp::clixml::parse(&m.message.data).unwrap();
            let mut found = Vec::new();
            secure_strings(&v, &mut found);
            for ct in found {
                let key = session
                    .as_ref()
                    .unwrap_or_else(|| panic!("{file}: SecureString before the key"));
                let text = key.decrypt(&ct).unwrap();
                // Encrypting again gives the recorded bytes (zero IV, one value at a time).
                assert_eq!(key.encrypt(&text), ct, "{file}");
                decrypted.push(text.to_string());
            }
        }
    }
    assert_eq!(exchanges_seen, 2);
    decrypted.sort();
    for want in ["ReadLineAsSecureString response", "password", "abc"] {
        assert!(
            decrypted.iter().any(|d| d == want),
            "{want} in {decrypted:?}"
        );
    }
}

#[test]
fn a_key_pair_decrypts_only_once() {
    // decrypt_session_key takes the pair by value: this is a compile-time property; here we
    // check that a wrong blob is an error, not a panic, and that the key is still typed.
    let client = pypsrp_test_key();
    let mut bad = vec![1, 2, 0, 0, 0x10, 0x66, 0, 0, 0, 0xa4, 0, 0];
    bad.extend_from_slice(&[0x55; 256]);
    assert!(client.decrypt_session_key(&bad).is_err());
    let client = pypsrp_test_key();
    assert!(client.decrypt_session_key(&bad[..100]).is_err());
}
