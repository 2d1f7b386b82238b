//! `make bench-auth`: what authentication adds to a request. Measures, on a
//! key store of `KEYS` API keys (default 1000) and one signing key:
//!
//! - a bearer lookup: `Authorization: Bearer <key>` → tenant (blake3 of the
//!   secret, one map lookup in the in-memory snapshot; target ≤ 5 µs);
//! - an `x-api-key` lookup, and an unknown key's refusal;
//! - a signed request's check: clock window, Ed25519 verification over
//!   method, path, SHA-256 of a 1 KiB body, timestamp and nonce, and the
//!   nonce recorded (target ≤ 60 µs);
//! - the route level check.
//!
//! Each figure is the median of 5 rounds, in ns per request.

use ed25519_dalek::Signer;
use hanzo_node::auth::signature::{self, SignedHeaders};
use hanzo_node::auth::{Auth, AuthConfig, Level, NewKey};
use http::HeaderMap;
use std::hint::black_box;
use std::time::Instant;

fn median_ns(rounds: usize, iters: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|r| {
            let start = Instant::now();
            for i in 0..iters {
                f(r * iters + i);
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let keys: usize = std::env::var("KEYS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let auth = Auth::open(dir.path(), AuthConfig::default()).unwrap();
    auth.store.create_tenant("bench").unwrap();
    let started = Instant::now();
    let mut secret = String::new();
    for _ in 0..keys {
        secret = auth
            .store
            .add_key("bench", &NewKey::default())
            .unwrap()
            .1
            .unwrap();
    }
    let signer = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    auth.store
        .add_key(
            "bench",
            &NewKey {
                public_key: Some(hex::encode(signer.verifying_key().as_bytes())),
                ..NewKey::default()
            },
        )
        .unwrap();
    auth.reload().unwrap();
    eprintln!(
        "{keys} API keys and 1 signing key stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut bearer = HeaderMap::new();
    bearer.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {secret}").parse().unwrap(),
    );
    let mut x_api_key = HeaderMap::new();
    x_api_key.insert("x-api-key", secret.parse().unwrap());
    let mut unknown = HeaderMap::new();
    unknown.insert(
        http::header::AUTHORIZATION,
        format!("Bearer hk_{}", "0".repeat(64)).parse().unwrap(),
    );
    assert!(auth.api_key(&bearer).unwrap().is_some());

    const ITERS: usize = 200_000;
    let bearer_ns = median_ns(5, ITERS, |_| {
        black_box(auth.api_key(black_box(&bearer)).unwrap());
    });
    let x_api_key_ns = median_ns(5, ITERS, |_| {
        black_box(auth.api_key(black_box(&x_api_key)).unwrap());
    });
    let unknown_ns = median_ns(5, ITERS, |_| {
        black_box(auth.api_key(black_box(&unknown)).is_err());
    });
    let principal = auth.api_key(&bearer).unwrap().unwrap();
    let level_ns = median_ns(5, ITERS, |_| {
        black_box(Auth::permit(black_box(&principal), Level::User).is_ok());
    });

    // Signed requests: each with its own nonce, signed beforehand.
    const SIGNED: usize = 4_000;
    let body = vec![b'x'; 1024];
    let now = hanzo_node::auth::keys::unix_now();
    let requests: Vec<(HeaderMap, String)> = (0..SIGNED * 5)
        .map(|i| {
            let nonce = format!("nonce-{i:010}");
            let message = signature::message("POST", "/v1/chat/completions", &body, now, &nonce);
            let mut h = HeaderMap::new();
            h.insert(
                signature::PUBLIC_KEY_HEADER,
                hex::encode(signer.verifying_key().as_bytes())
                    .parse()
                    .unwrap(),
            );
            h.insert(
                signature::TIMESTAMP_HEADER,
                now.to_string().parse().unwrap(),
            );
            h.insert(signature::NONCE_HEADER, nonce.parse().unwrap());
            h.insert(
                signature::SIGNATURE_HEADER,
                hex::encode(signer.sign(message.as_bytes()).to_bytes())
                    .parse()
                    .unwrap(),
            );
            (h, nonce)
        })
        .collect();
    let signed_ns = median_ns(5, SIGNED, |i| {
        let (headers, _) = &requests[i];
        let signed = SignedHeaders::parse(headers).unwrap().unwrap();
        black_box(
            auth.verify_signed(&signed, "POST", "/v1/chat/completions", &body)
                .unwrap(),
        );
    });

    // Its parts: the Ed25519 verification alone, and the SHA-256 of the body.
    let (headers, nonce) = &requests[0];
    let signed = SignedHeaders::parse(headers).unwrap().unwrap();
    let message = signature::message("POST", "/v1/chat/completions", &body, now, nonce);
    let key = signer.verifying_key();
    let verify_ns = median_ns(5, SIGNED, |_| {
        black_box(key.verify_strict(black_box(message.as_bytes()), &signed.signature)).unwrap();
    });
    let sha_ns = median_ns(5, SIGNED, |_| {
        use sha2::Digest;
        black_box(sha2::Sha256::digest(black_box(&body)));
    });

    println!("auth cost per request ({keys} keys in the store):");
    println!(
        "  bearer lookup        {:>8.0} ns   (target <= 5000 ns)",
        bearer_ns
    );
    println!("  x-api-key lookup     {:>8.0} ns", x_api_key_ns);
    println!("  unknown key refused  {:>8.0} ns", unknown_ns);
    println!("  level check          {:>8.1} ns", level_ns);
    println!(
        "  signed request       {:>8.0} ns   (target <= 60000 ns; parse, skew, SHA-256 of 1 KiB, Ed25519, nonce)",
        signed_ns
    );
    println!("    of which Ed25519    {:>8.0} ns", verify_ns);
    println!("    of which SHA-256    {:>8.0} ns   (1 KiB body)", sha_ns);
}
