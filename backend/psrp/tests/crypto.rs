//! The recorded key exchanges: pypsrp's test suite injected a fixed RSA key (its numbers
//! below are test data from pypsrp's tests, MIT), so the recorded ENCRYPTED_SESSION_KEY can
//! be decrypted and every recorded SecureString read back.

#[path = "common/mod.rs"]
mod common;

use common::{all_messages, recordings};
use psrp::clixml::Value;
use psrp::crypto::{ClientKeyPair, SessionKey};
use psrp::message::MessageType;
use psrp::messages::{decode, Data};
use rsa::{BigUint, RsaPrivateKey};

const N: &str = "24692106711502830011203227021058444318027801046612842012663747949974978593541529463344548800446917862266219189049856550539417324579114258210080798360122994007305091566363663241781504651372764226027210216355916383975880112316706422502404691353489765771310270171473497918954906308690817673196552680498374521519566949221302301125182104198985782657283395055909134373469597836420671163965867038455758131344733786842283328454828820406016508955409107145350345035248825315933976893356673777910251028486191789752627573225093968284278302684745743589192378470115772764709506475265246795419324395050366115533203601201395969892207";
const D: &str = "21617696977064831737076881102083866512588021127782856037972563073160418492784722157229048881139551797965254106994729989171004895438848876105403145818526588448619012753150859908505079457128264842711189718538434996465875355972895683414261775421352553376878242391757860294122032733780201193753125763293334069627997366690578378643268496972715558088736335242616446993490560907175346811363459760219154246765368454269083276034064771683561116425318584728938420495690895295417261302673227504350398337950587166908640861984752151206832712112769733009288056773792011545187027621461752928443722277452545442134981026071169761569129";
const P: &str = "174331130742537243408330955079815843963035167715989214203198624738597363753422194561659111132445142920926993058833709875440980890363712769908141629896643845627776407469038077862709547359496382776626050712560846670587394813048350142683947903572416102765283173128172045224943986952459084128294017448217886823253";
const Q: &str = "141639112913055250372907285405879139487409354087944702421480687298597773645578986399236760591500655922107321654521995138945695777437048045372013886449237695348272152351631535441304559114954968164429007883070066144736528002854651716726263900736377199146896337887655964419309789253989248300176824884184363216819";

fn big(s: &str) -> BigUint {
    BigUint::parse_bytes(s.as_bytes(), 10).unwrap()
}

fn pypsrp_test_key() -> ClientKeyPair {
    let key = RsaPrivateKey::from_components(
        big(N),
        BigUint::from(65537u32),
        big(D),
        vec![big(P), big(Q)],
    )
    .unwrap();
    ClientKeyPair::from_private_key(key)
}

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
