//! Who is calling, and what they may do. The node has an Ed25519 identity
//! ([`identity`]); tenants have credentials ([`keys`]): API keys, sent as
//! `Authorization: Bearer` or Anthropic's `x-api-key`, and Ed25519 keys that
//! sign requests ([`signature`]). Each credential resolves to a tenant and
//! the most it may do; each route declares the least it needs ([`Level`]).
//! [`http`] holds the checks against browsers (Host, Origin, CORS).
//!
//! With no tenant configured the node is local: it serves loopback only, and
//! every request there is the `default` tenant with every level, as before
//! tenants existed. Once a tenant exists every request needs a credential,
//! except those to `public` routes.
//!
//! Requests are checked against an in-memory snapshot of the key store,
//! swapped whole when the store changes (through the admin API, or the CLI
//! from another process: the file's modification time is polled).

pub mod admin;
pub mod http;
pub mod identity;
pub mod keys;
pub mod level;
pub mod signature;

pub use identity::Identity;
pub use keys::{Credentials, KeyError, KeyStore, NewKey};
pub use level::Level;

use crate::tenant::{DEFAULT_TENANT, Tenant};
use ::http::{HeaderMap, header};
use arc_swap::ArcSwap;
use serde::Deserialize;
use signature::{ReplayCache, SignedHeaders};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// The tenant of requests without a credential (to `public` routes), once
/// tenants exist.
pub const PUBLIC_TENANT: &str = "_public";

/// `[auth]` in node.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Host names (`node.lan` or `node.lan:3690`) a node bound to loopback
    /// answers besides `localhost`, `*.localhost` and loopback addresses;
    /// any other `Host` is refused (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://app.example.com`, or `*`) whose pages may
    /// call the node: they get CORS headers and may send state-changing
    /// requests. Other sites' pages may not POST, PUT, PATCH or DELETE.
    pub allowed_origins: Vec<String>,
    /// Signed requests: the most a timestamp may differ from the node's
    /// clock, in seconds; nonces are remembered for twice as long.
    pub max_clock_skew_s: u64,
    /// Signed requests: nonces remembered at most per window; past it,
    /// signed requests are refused until the window turns.
    pub max_nonces: usize,
    /// How often the key store file is checked for changes made by
    /// `hanzo-node tenant` while the node runs, in milliseconds.
    pub reload_interval_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_clock_skew_s: 300,
            max_nonces: 1_000_000,
            reload_interval_ms: 1000,
        }
    }
}

impl AuthConfig {
    /// What is wrong with the settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.max_clock_skew_s == 0 {
            return Some("auth.max_clock_skew_s must be positive".into());
        }
        if self.max_nonces == 0 {
            return Some("auth.max_nonces must be positive".into());
        }
        if self.reload_interval_ms == 0 {
            return Some("auth.reload_interval_ms must be positive".into());
        }
        None
    }
}

/// Who a request is: its tenant, and the most it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: Tenant,
    pub level: Level,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No valid credential: 401 `unauthorized`.
    Unauthorized(String),
    /// A valid credential below the route's level: 403 `forbidden`.
    Forbidden(String),
}

/// The node's identity, its tenants' credentials and the replay window.
pub struct Auth {
    pub identity: Identity,
    pub store: KeyStore,
    pub config: AuthConfig,
    creds: ArcSwap<Credentials>,
    /// The store file's stamp when last read.
    stamp: Mutex<Option<(SystemTime, u64)>>,
    replay: ReplayCache,
    /// Whether the node listens on loopback only (set when it binds).
    loopback: AtomicBool,
}

impl Auth {
    /// Reads (or creates) the identity and reads the key store of `data_dir`.
    pub fn open(data_dir: &std::path::Path, config: AuthConfig) -> anyhow::Result<Auth> {
        let identity = Identity::load_or_create(data_dir)?;
        let store = KeyStore::new(data_dir);
        let stamp = store.stamp();
        let creds = store.load().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Auth {
            identity,
            store,
            replay: ReplayCache::new(config.max_clock_skew_s, config.max_nonces),
            config,
            creds: ArcSwap::from_pointee(creds),
            stamp: Mutex::new(stamp),
            loopback: AtomicBool::new(true),
        })
    }

    /// Notes where the node listens: a local node answers loopback only.
    pub fn set_loopback(&self, loopback: bool) {
        self.loopback.store(loopback, Ordering::Relaxed);
    }

    /// Why the node must not listen on `addr`: anywhere but loopback needs
    /// a credential, or whoever reaches the port would be the operator.
    pub fn bind_problem(&self, addr: std::net::SocketAddr) -> Option<String> {
        if addr.ip().is_loopback() || self.creds.load().any() {
            return None;
        }
        Some(format!(
            "refusing to listen on {addr}: no credentials are configured, so whoever reaches \
             that address would be the operator. Add a tenant and a key first \
             (`hanzo-node tenant create NAME`, then `hanzo-node tenant key add NAME --scope admin`, \
             with the same --data-dir), or listen on 127.0.0.1"
        ))
    }

    /// Whether the node listens on loopback only.
    pub fn loopback(&self) -> bool {
        self.loopback.load(Ordering::Relaxed)
    }

    /// No tenant configured: every request is the local tenant, with every level.
    #[inline]
    pub fn local(&self) -> bool {
        self.loopback() && self.creds.load().tenants == 0
    }

    /// The current snapshot.
    pub fn credentials(&self) -> Arc<Credentials> {
        self.creds.load_full()
    }

    /// Re-reads the key store now.
    pub fn reload(&self) -> Result<(), KeyError> {
        let creds = self.store.load()?;
        // Stamped after reading: opening the file writes it (redb), so a
        // stamp taken before would differ from the file's at once and the
        // store would be read again every interval, forever. A writer
        // waits while the file is open, so none lands during the read.
        let stamp = self.store.stamp();
        self.creds.store(Arc::new(creds));
        *crate::lock(&self.stamp) = stamp;
        Ok(())
    }

    /// Re-reads the key store if its file changed since the last read.
    pub fn reload_if_changed(&self) {
        if *crate::lock(&self.stamp) == self.store.stamp() {
            return;
        }
        match self.reload() {
            Ok(()) => {
                let c = self.creds.load();
                tracing::info!(
                    tenants = c.tenants,
                    credentials = c.key_count(),
                    "key store changed: reloaded"
                );
            }
            Err(e) => tracing::warn!(error = %e, "cannot reload the key store"),
        }
    }

    /// The principal of a request's API key, if it sends one.
    #[inline]
    pub fn api_key(&self, headers: &HeaderMap) -> Result<Option<Principal>, Denied> {
        let secret = match headers.get(header::AUTHORIZATION) {
            Some(v) => {
                let v = v.as_bytes();
                match v.get(..7) {
                    Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => v[7..].trim_ascii(),
                    _ => {
                        return Err(Denied::Unauthorized(
                            "`Authorization` must be `Bearer <key>`".into(),
                        ));
                    }
                }
            }
            None => match headers.get("x-api-key") {
                Some(v) => v.as_bytes().trim_ascii(),
                None => return Ok(None),
            },
        };
        let creds = self.creds.load();
        let Some(grant) = creds.key(secret) else {
            return Err(Denied::Unauthorized(
                "the API key is not valid (unknown or revoked)".into(),
            ));
        };
        if grant.expires_at.is_some() && grant.expired(keys::unix_now()) {
            return Err(Denied::Unauthorized("the API key has expired".into()));
        }
        Ok(Some(Principal {
            tenant: grant.tenant.clone(),
            level: grant.scope,
        }))
    }

    /// The principal of a signed request, its signature checked over
    /// `method`, `path_and_query` and `body`, its nonce recorded.
    pub fn verify_signed(
        &self,
        signed: &SignedHeaders,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<Principal, Denied> {
        let now = keys::unix_now();
        self.replay
            .check_time(signed.timestamp, now)
            .map_err(|e| Denied::Unauthorized(e.to_string()))?;
        let creds = self.creds.load();
        let Some(signer) = creds.signer(&signed.public_key) else {
            return Err(Denied::Unauthorized(
                "the signing key is not registered (unknown or revoked)".into(),
            ));
        };
        if signer.grant.expired(now) {
            return Err(Denied::Unauthorized("the signing key has expired".into()));
        }
        let message = signature::message(
            method,
            path_and_query,
            body,
            signed.timestamp,
            &signed.nonce,
        );
        signer
            .key
            .verify_strict(message.as_bytes(), &signed.signature)
            .map_err(|_| Denied::Unauthorized("the request signature does not verify".into()))?;
        self.replay
            .check_nonce(&signed.public_key, &signed.nonce, now)
            .map_err(|e| Denied::Unauthorized(e.to_string()))?;
        Ok(Principal {
            tenant: signer.grant.tenant.clone(),
            level: signer.grant.scope,
        })
    }

    /// The principal of a local node's requests.
    pub fn local_principal() -> Principal {
        Principal {
            tenant: Tenant::from(DEFAULT_TENANT),
            level: Level::Admin,
        }
    }

    /// The principal of a request without a credential.
    pub fn anonymous() -> Principal {
        Principal {
            tenant: Tenant::from(PUBLIC_TENANT),
            level: Level::Public,
        }
    }

    /// Whether `principal` may call a route of `level`.
    pub fn permit(principal: &Principal, level: Level) -> Result<(), Denied> {
        if principal.level >= level {
            Ok(())
        } else if principal.level == Level::Public {
            Err(Denied::Unauthorized(
                "this route needs a credential: send `Authorization: Bearer <key>` or `x-api-key`"
                    .into(),
            ))
        } else {
            Err(Denied::Forbidden(format!(
                "this route needs the {level} level; the credential has {}",
                principal.level
            )))
        }
    }

    /// Whether the `Host` a request was sent to is acceptable: on a loopback
    /// bind, a loopback name or one the operator listed.
    #[inline]
    pub fn host_ok(&self, headers: &HeaderMap, uri: &::http::Uri) -> bool {
        if !self.loopback() {
            return true;
        }
        match http::request_host(headers, uri) {
            // Browsers always send one; a client that sends none is no page.
            None => true,
            Some(host) => http::host_allowed(host, &self.config.allowed_hosts),
        }
    }

    /// Whether a page of `origin` may send this request: its own origin, or a listed one.
    pub fn origin_ok(&self, origin: &str, headers: &HeaderMap, uri: &::http::Uri) -> bool {
        http::origin_listed(origin, &self.config.allowed_origins)
            || http::same_origin(origin, http::request_host(headers, uri))
    }

    /// Whether `origin` gets CORS headers.
    pub fn cors_listed(&self, origin: &str) -> bool {
        http::origin_listed(origin, &self.config.allowed_origins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> (tempfile::TempDir, Auth) {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::open(dir.path(), AuthConfig::default()).unwrap();
        (dir, auth)
    }

    #[test]
    fn local_until_a_tenant_exists() {
        let (_dir, auth) = auth();
        assert!(auth.local());
        auth.set_loopback(false);
        assert!(!auth.local(), "a non-loopback bind is never local");
        auth.set_loopback(true);
        auth.store.create_tenant("acme").unwrap();
        assert!(auth.local(), "not yet reloaded");
        auth.reload_if_changed();
        assert!(!auth.local());
    }

    #[test]
    fn an_unchanged_store_is_not_read_again() {
        let (_dir, auth) = auth();
        auth.store.create_tenant("acme").unwrap();
        auth.reload_if_changed();
        // Reading the store must not look like a change to the next check.
        assert_eq!(*crate::lock(&auth.stamp), auth.store.stamp());
        auth.store.create_tenant("beta").unwrap();
        assert_ne!(*crate::lock(&auth.stamp), auth.store.stamp());
    }

    #[test]
    fn bearer_and_x_api_key_resolve_the_tenant() {
        let (_dir, auth) = auth();
        auth.store.create_tenant("acme").unwrap();
        let (_, secret) = auth.store.add_key("acme", &NewKey::default()).unwrap();
        let secret = secret.unwrap();
        auth.reload().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(auth.api_key(&h).unwrap().map(|p| p.level), None);
        h.insert("x-api-key", secret.parse().unwrap());
        let p = auth.api_key(&h).unwrap().unwrap();
        assert_eq!((p.tenant.as_str(), p.level), ("acme", Level::User));
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {secret}").parse().unwrap(),
        );
        assert_eq!(auth.api_key(&h).unwrap().unwrap().tenant.as_str(), "acme");
        h.insert(header::AUTHORIZATION, "Bearer hk_nope".parse().unwrap());
        assert!(matches!(auth.api_key(&h), Err(Denied::Unauthorized(_))));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(matches!(auth.api_key(&h), Err(Denied::Unauthorized(_))));
        let p = Principal {
            tenant: "acme".into(),
            level: Level::User,
        };
        assert!(Auth::permit(&p, Level::User).is_ok());
        assert!(matches!(
            Auth::permit(&p, Level::Admin),
            Err(Denied::Forbidden(_))
        ));
        assert!(matches!(
            Auth::permit(&Auth::anonymous(), Level::User),
            Err(Denied::Unauthorized(_))
        ));
    }

    #[test]
    fn signed_requests_verify_once() {
        use ed25519_dalek::Signer;
        let (_dir, auth) = auth();
        auth.store.create_tenant("acme").unwrap();
        let sk = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let new = NewKey {
            public_key: Some(hex::encode(sk.verifying_key().as_bytes())),
            scope: Level::Agent,
            ..NewKey::default()
        };
        auth.store.add_key("acme", &new).unwrap();
        auth.reload().unwrap();
        let now = keys::unix_now();
        let signed = |ts: u64, nonce: &str, body: &[u8]| SignedHeaders {
            public_key: *sk.verifying_key().as_bytes(),
            timestamp: ts,
            nonce: nonce.into(),
            signature: sk.sign(signature::message("POST", "/v2/jobs", body, ts, nonce).as_bytes()),
        };
        let s = signed(now, "nonce-0001", b"{}");
        let p = auth.verify_signed(&s, "POST", "/v2/jobs", b"{}").unwrap();
        assert_eq!((p.tenant.as_str(), p.level), ("acme", Level::Agent));
        assert!(
            auth.verify_signed(&s, "POST", "/v2/jobs", b"{}").is_err(),
            "replayed"
        );
        let s = signed(now, "nonce-0002", b"{}");
        assert!(
            auth.verify_signed(&s, "POST", "/v2/jobs", b"{ }").is_err(),
            "other body"
        );
        assert!(
            auth.verify_signed(&s, "POST", "/v2/jobz", b"{}").is_err(),
            "other path"
        );
        let s = signed(now - 301, "nonce-0003", b"{}");
        assert!(
            auth.verify_signed(&s, "POST", "/v2/jobs", b"{}").is_err(),
            "skewed"
        );
    }
}
