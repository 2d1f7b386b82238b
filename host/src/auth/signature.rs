//! Signed requests: a tenant's Ed25519 key signs
//!
//! ```text
//! hanzo-request-v1\n{METHOD}\n{path?query}\n{sha256(body), hex}\n{unix seconds}\n{nonce}
//! ```
//!
//! sent as `x-hanzo-public-key` (hex), `x-hanzo-timestamp`, `x-hanzo-nonce`
//! and `x-hanzo-signature` (hex). A timestamp further than
//! `auth.max_clock_skew_s` from the node's clock is refused; a nonce is
//! remembered for twice that, so a request replayed within the window is
//! refused too, and one replayed later is refused for its timestamp.

use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Mutex;

pub const PUBLIC_KEY_HEADER: &str = "x-hanzo-public-key";
pub const TIMESTAMP_HEADER: &str = "x-hanzo-timestamp";
pub const NONCE_HEADER: &str = "x-hanzo-nonce";
pub const SIGNATURE_HEADER: &str = "x-hanzo-signature";

/// The bytes a client signs.
pub fn message(
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp: u64,
    nonce: &str,
) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    format!("hanzo-request-v1\n{method}\n{path_and_query}\n{body_hash}\n{timestamp}\n{nonce}")
}

/// The signature headers of a request, parsed.
pub struct SignedHeaders {
    pub public_key: [u8; 32],
    pub timestamp: u64,
    pub nonce: String,
    pub signature: ed25519_dalek::Signature,
}

impl SignedHeaders {
    /// `None`: the request is not signed; an error: it is, badly.
    pub fn parse(headers: &http::HeaderMap) -> Option<Result<SignedHeaders, String>> {
        let sig = headers.get(SIGNATURE_HEADER)?;
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .ok_or_else(|| format!("a signed request needs `{name}`"))
        };
        Some((|| {
            let public_key = hex::decode(get(PUBLIC_KEY_HEADER)?)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("`{PUBLIC_KEY_HEADER}` must be 32 bytes, hex"))?;
            let timestamp = get(TIMESTAMP_HEADER)?
                .parse()
                .map_err(|_| format!("`{TIMESTAMP_HEADER}` must be Unix seconds"))?;
            let nonce = get(NONCE_HEADER)?;
            if nonce.len() < 8 || nonce.len() > 128 {
                return Err(format!("`{NONCE_HEADER}` must be 8 to 128 characters"));
            }
            let signature: [u8; 64] = sig
                .to_str()
                .ok()
                .and_then(|s| hex::decode(s.trim()).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("`{SIGNATURE_HEADER}` must be 64 bytes, hex"))?;
            Ok(SignedHeaders {
                public_key,
                timestamp,
                nonce: nonce.to_string(),
                signature: ed25519_dalek::Signature::from_bytes(&signature),
            })
        })())
    }
}

/// Why a signed request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Skew {
        off_s: u64,
        max_s: u64,
    },
    Replayed,
    /// More nonces in the window than the cache holds: refused rather than forgotten.
    Full,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Skew { off_s, max_s } => write!(
                f,
                "the request's timestamp is {off_s} s away from the node's clock (at most {max_s} s)"
            ),
            Refused::Replayed => {
                f.write_str("this request was already received (same key and nonce)")
            }
            Refused::Full => {
                f.write_str("too many signed requests in the replay window; retry later")
            }
        }
    }
}

/// Nonces seen, in two generations of `2 × skew` seconds each: a nonce is
/// remembered at least as long as its timestamp stays acceptable.
pub struct ReplayCache {
    inner: Mutex<Generations>,
    max_skew_s: u64,
    max_nonces: usize,
}

struct Generations {
    started: u64,
    current: HashSet<[u8; 32]>,
    previous: HashSet<[u8; 32]>,
}

impl ReplayCache {
    pub fn new(max_skew_s: u64, max_nonces: usize) -> ReplayCache {
        ReplayCache {
            inner: Mutex::new(Generations {
                started: 0,
                current: HashSet::new(),
                previous: HashSet::new(),
            }),
            max_skew_s,
            max_nonces: max_nonces.max(1),
        }
    }

    /// Whether `timestamp` is close enough to `now`.
    pub fn check_time(&self, timestamp: u64, now: u64) -> Result<(), Refused> {
        let off_s = now.abs_diff(timestamp);
        if off_s > self.max_skew_s {
            return Err(Refused::Skew {
                off_s,
                max_s: self.max_skew_s,
            });
        }
        Ok(())
    }

    /// Records `public_key`'s `nonce`, refusing one already seen.
    pub fn check_nonce(&self, public_key: &[u8; 32], nonce: &str, now: u64) -> Result<(), Refused> {
        let mut h = blake3::Hasher::new();
        h.update(public_key);
        h.update(nonce.as_bytes());
        let id = *h.finalize().as_bytes();
        let period = self.max_skew_s.saturating_mul(2).max(1);
        let mut g = crate::lock(&self.inner);
        let age = now.saturating_sub(g.started);
        if age >= 2 * period {
            g.previous.clear();
            g.current.clear();
            g.started = now;
        } else if age >= period {
            g.previous = std::mem::take(&mut g.current);
            g.started = now;
        }
        if g.current.contains(&id) || g.previous.contains(&id) {
            return Err(Refused::Replayed);
        }
        if g.current.len() >= self.max_nonces {
            return Err(Refused::Full);
        }
        g.current.insert(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_and_skew_are_refused() {
        let c = ReplayCache::new(300, 3);
        let k = [1u8; 32];
        assert!(c.check_time(1000, 1000 + 300).is_ok());
        assert!(matches!(
            c.check_time(1000, 1000 + 301),
            Err(Refused::Skew { off_s: 301, .. })
        ));
        assert!(c.check_time(1301, 1000).is_err(), "ahead of the clock too");
        c.check_nonce(&k, "nonce-one", 1000).unwrap();
        assert_eq!(c.check_nonce(&k, "nonce-one", 1001), Err(Refused::Replayed));
        // Another key's same nonce is another request.
        c.check_nonce(&[2; 32], "nonce-one", 1001).unwrap();
        // Remembered through one rotation (600 s), forgotten after two.
        assert_eq!(
            c.check_nonce(&k, "nonce-one", 1000 + 600),
            Err(Refused::Replayed)
        );
        c.check_nonce(&k, "nonce-one", 1000 + 600 + 1200).unwrap();
        c.check_nonce(&k, "nonce-2", 2800).unwrap();
        c.check_nonce(&k, "nonce-3", 2800).unwrap();
        assert_eq!(c.check_nonce(&k, "nonce-4", 2800), Err(Refused::Full));
    }

    #[test]
    fn the_message_binds_every_part() {
        let a = message("POST", "/v1/x?a=1", b"{}", 5, "n0nce-123");
        assert!(a.starts_with("hanzo-request-v1\nPOST\n/v1/x?a=1\n"));
        assert!(a.contains(&hex::encode(Sha256::digest(b"{}"))));
        assert_ne!(a, message("POST", "/v1/x?a=1", b"{} ", 5, "n0nce-123"));
        assert_ne!(a, message("POST", "/v1/x?a=2", b"{}", 5, "n0nce-123"));
    }
}
