//! Signing keys generated in the tests (RSA 2048, P-256, Ed25519), their JWKs, and tokens
//! signed with them by the RustCrypto crates directly (not by the crate under test).

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use getrandom::SysRng;
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

pub const ORG: &str = "org_0000000000000001";
pub const ISSUER: &str = "https://id.example.test/";
pub const AUDIENCE: &str = "keyconsole";

enum Signer {
    Rsa(Box<rsa::PrivateKey>),
    P256(p256::ecdsa::SigningKey),
    Ed(ed25519_dalek::SigningKey),
}

/// A key pair with its `kid`.
pub struct TestKey {
    pub kid: String,
    /// The algorithm its JWK implies (RS256, ES256, EdDSA).
    pub alg: &'static str,
    signer: Signer,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("os random");
    b
}

/// RSA key generation is slow in debug builds: one 2048-bit key pair per test binary.
fn rsa_private() -> rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::PrivateKey::new(&mut SysRng, 2048).expect("rsa keygen"))
        .clone()
}

/// A second RSA key pair, for "signed by another key".
fn rsa_private_other() -> rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::PrivateKey::new(&mut SysRng, 2048).expect("rsa keygen"))
        .clone()
}

impl TestKey {
    pub fn rsa(kid: &str) -> TestKey {
        TestKey {
            kid: kid.to_owned(),
            alg: "RS256",
            signer: Signer::Rsa(Box::new(rsa_private())),
        }
    }

    pub fn rsa_other(kid: &str) -> TestKey {
        TestKey {
            kid: kid.to_owned(),
            alg: "RS256",
            signer: Signer::Rsa(Box::new(rsa_private_other())),
        }
    }

    pub fn p256(kid: &str) -> TestKey {
        let key = loop {
            if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&random32()) {
                break k;
            }
        };
        TestKey {
            kid: kid.to_owned(),
            alg: "ES256",
            signer: Signer::P256(key),
        }
    }

    pub fn ed25519(kid: &str) -> TestKey {
        TestKey {
            kid: kid.to_owned(),
            alg: "EdDSA",
            signer: Signer::Ed(ed25519_dalek::SigningKey::from_bytes(&random32())),
        }
    }

    /// The public JWK, without `alg` (the service infers it from the key type).
    pub fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(k) => {
                let p = k.to_public_key();
                json!({"kty": "RSA", "kid": self.kid, "use": "sig",
                       "n": b64(&p.n_bytes()), "e": b64(&p.e_bytes())})
            }
            Signer::P256(k) => {
                let point = k.verifying_key().to_sec1_point(false);
                json!({"kty": "EC", "crv": "P-256", "kid": self.kid,
                       "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))})
            }
            Signer::Ed(k) => json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid,
                                    "x": b64(k.verifying_key().as_bytes())}),
        }
    }

    /// The JWK with an explicit `alg`.
    pub fn jwk_with_alg(&self, alg: &str) -> Value {
        let mut j = self.jwk();
        j["alg"] = json!(alg);
        j
    }

    /// The RSA public key as the PEM text a verifier might hold (for the HMAC confusion
    /// attack) and its raw modulus.
    pub fn rsa_public_material(&self) -> Vec<Vec<u8>> {
        use rsa::pkcs8::EncodePublicKey;
        let Signer::Rsa(k) = &self.signer else {
            panic!("not an RSA key")
        };
        let p = k.to_public_key();
        let pem = p
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pem");
        let pkcs1 = {
            use rsa::pkcs1::EncodeRsaPublicKey;
            p.to_pkcs1_der().expect("der").as_bytes().to_vec()
        };
        vec![pem.into_bytes(), pkcs1, p.n_bytes().to_vec()]
    }

    fn sign_bytes(&self, msg: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::Rsa(k) => {
                let s = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((**k).clone());
                s.sign(msg).to_vec()
            }
            Signer::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
            Signer::Ed(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(msg).to_bytes().to_vec()
            }
        }
    }

    /// Sign any header and claims.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A token with the usual header (`alg` of the key, `kid`, `typ: JWT`).
    pub fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": self.alg, "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }
}

/// `{"keys": [...]}` of these keys.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// HMAC-SHA256 token with `secret`, header as given (the tokens an attacker can make).
pub fn hmac_token(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let header: jsonwebtoken::Header = serde_json::from_value(header.clone()).expect("header");
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).expect("hmac key"),
    )
    .expect("hmac sign")
}

/// Claims that pass every check at `now`.
pub fn claims(now: DateTime<Utc>) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user_ana",
        "email": "ana@acme.test",
        "name": "Ana",
        "org_id": ORG,
        "scope": "openid email runs:read keys:read",
        "iat": now.timestamp(),
        "nbf": now.timestamp() - 5,
        "exp": now.timestamp() + 900,
    })
}
