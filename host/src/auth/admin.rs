//! Tenant management over HTTP (admin level): `/v2/tenants` lists and
//! creates tenants, `/v2/tenants/{name}` shows one with its keys,
//! `/v2/tenants/{name}/keys` adds a key (its secret in the answer, the only
//! time it is shown), `DELETE /v2/tenants/{name}/keys/{id}` revokes one. The
//! same as `hanzo-node tenant …`.

use super::keys::{KeyError, NewKey, unix_now};
use super::{Auth, Level};
use crate::error::ApiError;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct AddKey {
    scope: Option<String>,
    /// Seconds from now.
    expires_in_s: Option<u64>,
    /// An Ed25519 public key (hex) for signed requests, instead of a new API key.
    public_key: Option<String>,
}

fn key_error(e: KeyError) -> ApiError {
    let (status, code) = e.code();
    ApiError::new(status, code, e.to_string())
}

/// The tenants and their keys, as listed.
pub fn list(auth: &Auth) -> Result<Value, KeyError> {
    let (tenants, creds) = auth.store.read()?;
    Ok(json!({
        "tenants": tenants.iter().map(|t| json!({
            "name": t.name,
            "created_at": t.created_at,
            "keys": creds.iter().filter(|c| c.tenant == t.name).map(|c| c.public_view()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()
    }))
}

/// Parses a key's new settings.
pub fn new_key(
    scope: Option<&str>,
    expires_in_s: Option<u64>,
    public_key: Option<String>,
) -> Result<NewKey, String> {
    let scope = match scope {
        None => Level::User,
        Some(s) => match Level::parse(s) {
            Some(Level::Public) | None => {
                return Err(format!("scope `{s}` must be user, agent or admin"));
            }
            Some(l) => l,
        },
    };
    if expires_in_s == Some(0) {
        return Err("expires_in_s must be positive".into());
    }
    Ok(NewKey {
        scope,
        expires_at: expires_in_s.map(|s| unix_now().saturating_add(s)),
        public_key,
    })
}

/// Answers a request under `/v2/tenants` (blocking: it opens the key store).
pub fn handle(
    auth: &Auth,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    let rest = path
        .trim_end_matches('/')
        .strip_prefix("/v2/tenants")
        .unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    let result = match (method.as_str(), parts.as_slice()) {
        ("GET", []) => (StatusCode::OK, list(auth).map_err(key_error)?),
        ("POST", []) => {
            let req: CreateTenant = ApiError::parse_json(body)?;
            let t = auth.store.create_tenant(&req.name).map_err(key_error)?;
            (StatusCode::CREATED, json!({ "tenant": t }))
        }
        (_, []) => return Err(ApiError::method_not_allowed(method, path)),
        ("GET", [name]) => {
            let all = list(auth).map_err(key_error)?;
            let t = all["tenants"]
                .as_array()
                .and_then(|ts| ts.iter().find(|t| t["name"] == *name))
                .cloned()
                .ok_or_else(|| key_error(KeyError::TenantNotFound(name.to_string())))?;
            (StatusCode::OK, json!({ "tenant": t }))
        }
        (_, [_]) => return Err(ApiError::method_not_allowed(method, path)),
        ("POST", [name, "keys"]) => {
            let req: AddKey = if body.is_empty() {
                AddKey::default()
            } else {
                ApiError::parse_json(body)?
            };
            let new = new_key(req.scope.as_deref(), req.expires_in_s, req.public_key)
                .map_err(ApiError::bad_request)?;
            let (record, secret) = auth.store.add_key(name, &new).map_err(key_error)?;
            let mut v = json!({ "key": record.public_view() });
            if let Some(s) = secret {
                v["secret"] = json!(s);
            }
            (StatusCode::CREATED, v)
        }
        (_, [_, "keys"]) => return Err(ApiError::method_not_allowed(method, path)),
        ("DELETE", [name, "keys", id]) => {
            let record = auth.store.revoke(name, id).map_err(key_error)?;
            (StatusCode::OK, json!({ "key": record.public_view() }))
        }
        (_, [_, "keys", _]) => return Err(ApiError::method_not_allowed(method, path)),
        _ => return Err(ApiError::not_found(format!("no route for {path}"))),
    };
    if *method != Method::GET {
        auth.reload().map_err(key_error)?;
    }
    Ok(result)
}
