//! The session key exchange and SecureString encryption (MS-PSRP 2.2.2.3–2.2.2.5,
//! 3.1.5.4.3–3.1.5.4.5).
//!
//! The client makes an RSA-2048 key pair and sends the public key as a CryptoAPI
//! PUBLICKEYBLOB (PUBLIC_KEY); the server answers with a 256-bit AES key encrypted to it with
//! RSA PKCS#1 v1.5, as a SIMPLEBLOB (ENCRYPTED_SESSION_KEY). SecureString values are then
//! AES-256-CBC with a zero IV and PKCS#7 padding over the UTF-16LE text, each value on its own.
//! See SECURITY.md (section "PowerShell remoting: SecureString cryptography") for the choice of crates and the known advisories.

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand_core::CryptoRngCore;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use zeroize::{Zeroize, Zeroizing};

/// Modulus size of the client's key, in bits (the size PowerShell uses).
pub const RSA_BITS: usize = 2048;
/// CryptoAPI algorithm id of RSA key exchange.
const CALG_RSA_KEYX: u32 = 0x0000_A400;
/// CryptoAPI algorithm id of AES-256.
const CALG_AES_256: u32 = 0x0000_6610;
/// PUBLICKEYBLOB header: type 6, version 2, reserved 0, CALG_RSA_KEYX, "RSA1".
const PUBLICKEYBLOB: u8 = 0x06;
/// SIMPLEBLOB type.
const SIMPLEBLOB: u8 = 0x01;

/// Why a key or SecureString could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key blob is malformed or not the kind expected.
    #[error("invalid {what}: {why}")]
    Blob {
        /// Which blob.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// RSA failed (key generation, encryption, or a ciphertext that does not decrypt).
    #[error("RSA: {0}")]
    Rsa(String),
    /// A SecureString that does not decrypt (wrong key, bad padding, odd length).
    #[error("SecureString does not decrypt with the session key")]
    SecureString,
}

fn blob_err(what: &'static str, why: impl Into<String>) -> CryptoError {
    CryptoError::Blob {
        what,
        why: why.into(),
    }
}

/// The client's RSA key pair. It decrypts exactly one session key: decrypting consumes it,
/// so a server cannot use the client as a decryption oracle (see SECURITY.md on the Marvin
/// timing advisory).
pub struct ClientKeyPair {
    key: RsaPrivateKey,
}

impl std::fmt::Debug for ClientKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKeyPair(RSA-2048, private)")
    }
}

impl ClientKeyPair {
    /// A fresh RSA-2048 key pair.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Result<ClientKeyPair, CryptoError> {
        let key = RsaPrivateKey::new(rng, RSA_BITS).map_err(|e| CryptoError::Rsa(e.to_string()))?;
        Ok(ClientKeyPair { key })
    }

    /// Wraps an existing private key (tests use fixed keys).
    pub fn from_private_key(key: RsaPrivateKey) -> ClientKeyPair {
        ClientKeyPair { key }
    }

    /// The PUBLICKEYBLOB to send in PUBLIC_KEY (base64 it into the `PublicKey` property).
    pub fn public_key_blob(&self) -> Vec<u8> {
        public_key_blob(&self.key.to_public_key())
    }

    /// Decrypts the SIMPLEBLOB of ENCRYPTED_SESSION_KEY into the session key.
    pub fn decrypt_session_key(self, blob: &[u8]) -> Result<SessionKey, CryptoError> {
        const W: &str = "ENCRYPTED_SESSION_KEY blob";
        if blob.len() < 12 {
            return Err(blob_err(W, format!("{} bytes, expected 268", blob.len())));
        }
        if blob[0] != SIMPLEBLOB || blob[1] != 2 {
            return Err(blob_err(
                W,
                format!(
                    "type {} version {}, expected SIMPLEBLOB 2",
                    blob[0], blob[1]
                ),
            ));
        }
        let alg = u32::from_le_bytes(blob[4..8].try_into().expect("4 bytes"));
        let wrap = u32::from_le_bytes(blob[8..12].try_into().expect("4 bytes"));
        if alg != CALG_AES_256 || wrap != CALG_RSA_KEYX {
            return Err(blob_err(
                W,
                format!("algorithms {alg:#x}/{wrap:#x}, expected AES-256 under RSA key exchange"),
            ));
        }
        let mut ct = blob[12..].to_vec();
        if ct.len() != self.key.size() {
            return Err(blob_err(
                W,
                format!(
                    "{} bytes of ciphertext for a {}-byte key",
                    ct.len(),
                    self.key.size()
                ),
            ));
        }
        // CryptoAPI writes the ciphertext little-endian.
        ct.reverse();
        let plain = Zeroizing::new(
            self.key
                .decrypt(Pkcs1v15Encrypt, &ct)
                .map_err(|e| CryptoError::Rsa(e.to_string()))?,
        );
        let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| {
            blob_err(
                W,
                format!("session key of {} bytes, expected 32", plain.len()),
            )
        })?;
        Ok(SessionKey(Zeroizing::new(key)))
    }
}

/// The CryptoAPI PUBLICKEYBLOB of an RSA public key: `06 02 00 00`, CALG_RSA_KEYX, `RSA1`,
/// bit length, public exponent, modulus little-endian.
pub fn public_key_blob(key: &RsaPublicKey) -> Vec<u8> {
    let bits = key.n().bits() as u32;
    let mut out = Vec::with_capacity(20 + key.size());
    out.extend_from_slice(&[PUBLICKEYBLOB, 2, 0, 0]);
    out.extend_from_slice(&CALG_RSA_KEYX.to_le_bytes());
    out.extend_from_slice(b"RSA1");
    out.extend_from_slice(&bits.to_le_bytes());
    let mut e = key.e().to_bytes_le();
    e.resize(4, 0);
    out.extend_from_slice(&e[..4]);
    let mut n = key.n().to_bytes_le();
    n.resize(key.size(), 0);
    out.extend_from_slice(&n);
    out
}

/// Reads a PUBLICKEYBLOB (what a server does with PUBLIC_KEY).
pub fn parse_public_key_blob(blob: &[u8]) -> Result<RsaPublicKey, CryptoError> {
    const W: &str = "PUBLICKEYBLOB";
    if blob.len() < 20 {
        return Err(blob_err(W, format!("{} bytes", blob.len())));
    }
    if blob[0] != PUBLICKEYBLOB || blob[1] != 2 {
        return Err(blob_err(W, format!("type {} version {}", blob[0], blob[1])));
    }
    if u32::from_le_bytes(blob[4..8].try_into().expect("4 bytes")) != CALG_RSA_KEYX
        || &blob[8..12] != b"RSA1"
    {
        return Err(blob_err(W, "not an RSA key-exchange public key"));
    }
    let bits = u32::from_le_bytes(blob[12..16].try_into().expect("4 bytes")) as usize;
    if !(1024..=4096).contains(&bits) || !bits.is_multiple_of(8) {
        return Err(blob_err(W, format!("{bits}-bit modulus")));
    }
    if blob.len() != 20 + bits / 8 {
        return Err(blob_err(
            W,
            format!("{} bytes for a {bits}-bit key", blob.len()),
        ));
    }
    let e = u32::from_le_bytes(blob[16..20].try_into().expect("4 bytes"));
    let n = BigUint::from_bytes_le(&blob[20..]);
    RsaPublicKey::new(n, BigUint::from(e)).map_err(|err| blob_err(W, err.to_string()))
}

/// The AES-256 session key. Zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A fresh random key (the server side makes it).
    pub fn generate(rng: &mut impl CryptoRngCore) -> SessionKey {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(k.as_mut());
        SessionKey(k)
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SessionKey {
        SessionKey(Zeroizing::new(bytes))
    }

    /// The SIMPLEBLOB for ENCRYPTED_SESSION_KEY: this key encrypted to the client's
    /// PUBLICKEYBLOB with RSA PKCS#1 v1.5 (the server side).
    pub fn encrypt_for(
        &self,
        public_key_blob: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<u8>, CryptoError> {
        let pk = parse_public_key_blob(public_key_blob)?;
        let mut ct = pk
            .encrypt(rng, Pkcs1v15Encrypt, self.0.as_ref())
            .map_err(|e| CryptoError::Rsa(e.to_string()))?;
        ct.reverse();
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&[SIMPLEBLOB, 2, 0, 0]);
        out.extend_from_slice(&CALG_AES_256.to_le_bytes());
        out.extend_from_slice(&CALG_RSA_KEYX.to_le_bytes());
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Encrypts a SecureString value (the bytes of `<SS>`).
    pub fn encrypt(&self, text: &str) -> Vec<u8> {
        let mut plain: Zeroizing<Vec<u8>> =
            Zeroizing::new(text.encode_utf16().flat_map(u16::to_le_bytes).collect());
        let enc = cbc::Encryptor::<Aes256>::new(self.0.as_ref().into(), &[0u8; 16].into());
        let len = plain.len();
        plain.resize(len + 16, 0);
        let ct = enc
            .encrypt_padded_mut::<Pkcs7>(&mut plain, len)
            .expect("room for the padding was reserved")
            .to_vec();
        ct
    }

    /// Decrypts a SecureString value. The text is zeroed when dropped.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<String>, CryptoError> {
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
            return Err(CryptoError::SecureString);
        }
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let dec = cbc::Decryptor::<Aes256>::new(self.0.as_ref().into(), &[0u8; 16].into());
        let plain = dec
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(|_| CryptoError::SecureString)?;
        if !plain.len().is_multiple_of(2) {
            return Err(CryptoError::SecureString);
        }
        let mut units: Vec<u16> = plain
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let text = String::from_utf16(&units).map_err(|_| CryptoError::SecureString);
        units.zeroize();
        Ok(Zeroizing::new(text?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic RNG for tests (never for real keys).
    struct TestRng(u64);
    impl rand_core::RngCore for TestRng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 ^ (self.0 >> 29)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                *b = (self.next_u64() >> 24) as u8;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for TestRng {}

    #[test]
    fn secure_strings_round_trip_with_a_zero_iv() {
        let k = SessionKey::from_bytes([7; 32]);
        for s in [
            "",
            "a",
            "password",
            "exactly eight",
            "\u{10437} ünï",
            &"x".repeat(100),
        ] {
            let ct = k.encrypt(s);
            assert_eq!(ct.len() % 16, 0);
            assert_eq!(ct.len(), (s.encode_utf16().count() * 2) / 16 * 16 + 16);
            assert_eq!(k.decrypt(&ct).unwrap().as_str(), s);
        }
        // Zero IV: the same text gives the same ciphertext each time.
        assert_eq!(k.encrypt("abc"), k.encrypt("abc"));
        let other = SessionKey::from_bytes([8; 32]);
        let ct = k.encrypt("secret");
        assert!(other
            .decrypt(&ct)
            .map(|s| s.as_str() != "secret")
            .unwrap_or(true));
        assert_eq!(k.decrypt(&[]), Err(CryptoError::SecureString));
        assert_eq!(k.decrypt(&[0; 15]), Err(CryptoError::SecureString));
    }

    #[test]
    fn bad_blobs_are_clear_errors() {
        assert!(parse_public_key_blob(&[0; 10]).is_err());
        let mut b = vec![6, 2, 0, 0, 0, 0xa4, 0, 0];
        b.extend_from_slice(b"RSA1");
        b.extend_from_slice(&2048u32.to_le_bytes());
        b.extend_from_slice(&65537u32.to_le_bytes());
        assert!(matches!(
            parse_public_key_blob(&b),
            Err(CryptoError::Blob { .. })
        ));
        b.extend_from_slice(&[0xff; 256]);
        parse_public_key_blob(&b).unwrap();
        b[8] = b'X';
        assert!(parse_public_key_blob(&b).is_err());
    }

    #[test]
    fn key_exchange_round_trip() {
        let mut rng = TestRng(1);
        let client = ClientKeyPair::generate(&mut rng).unwrap();
        let blob = client.public_key_blob();
        assert_eq!(blob.len(), 276);
        assert_eq!(
            &blob[..16],
            &[6, 2, 0, 0, 0, 0xa4, 0, 0, b'R', b'S', b'A', b'1', 0, 8, 0, 0]
        );
        assert_eq!(&blob[16..20], &[1, 0, 1, 0]);
        // Server side.
        let server_key = SessionKey::generate(&mut rng);
        let simple = server_key.encrypt_for(&blob, &mut rng).unwrap();
        assert_eq!(simple.len(), 268);
        assert_eq!(
            &simple[..12],
            &[1, 2, 0, 0, 0x10, 0x66, 0, 0, 0, 0xa4, 0, 0]
        );
        let client_key = client.decrypt_session_key(&simple).unwrap();
        assert_eq!(client_key, server_key);
        let ss = client_key.encrypt("hunter2");
        assert_eq!(server_key.decrypt(&ss).unwrap().as_str(), "hunter2");
        let back = server_key.encrypt("from the server");
        assert_eq!(
            client_key.decrypt(&back).unwrap().as_str(),
            "from the server"
        );
    }
}
