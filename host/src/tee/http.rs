//! The host's TEE endpoints: `POST /v2/attestation` (the node's evidence
//! for a caller's nonce), `POST /v2/attestation/verify` (anyone's evidence,
//! checked against the manufacturer's chain), and the key store under
//! `/v2/keys` (admin). Blocking: the guest device and redb block.

use super::keys::{KeyError, KeyStore};
use super::{Tee, TeeError, decode_bytes};
use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

type Answer = Result<(StatusCode, Value), ApiError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestRequest {
    /// Hex or base64.
    nonce: String,
}

/// `POST /v2/attestation`: evidence binding the caller's nonce and the
/// node's public key; 503 `tee_absent` on a node without a TEE.
pub fn attest(tee: &Tee, public_key_hex: &str, body: &[u8]) -> Answer {
    let req: AttestRequest = ApiError::parse_json(body)?;
    let nonce = decode_bytes(&req.nonce)
        .ok_or_else(|| ApiError::bad_request("nonce is neither hex nor base64"))?;
    match tee.attest(&nonce) {
        Ok(e) => Ok((
            StatusCode::OK,
            json!({
                "platform": e.platform.as_str(),
                "tier": tee.tier(),
                "evidence": BASE64.encode(&e.evidence),
                "report_data": hex::encode(e.report_data),
                "certificates": e.certificates.iter().map(|c| BASE64.encode(c)).collect::<Vec<_>>(),
                "public_key": public_key_hex,
                "nonce": req.nonce,
            }),
        )),
        Err(TeeError::Absent(why)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "tee_absent",
            why,
        )),
        Err(TeeError::Invalid(why)) => Err(ApiError::bad_request(why)),
        Err(TeeError::Failed(why)) => {
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "tee_failed", why))
        }
    }
}

/// `POST /v2/attestation/verify`: the verdict on someone's evidence; 422
/// `verification_failed` with the reason when it does not verify.
pub fn verify(body: &[u8]) -> Answer {
    let req: super::VerifyRequest = ApiError::parse_json(body)?;
    match super::verify_request(&req) {
        Ok(verdict) => Ok((StatusCode::OK, verdict)),
        Err(("invalid_request", why)) => Err(ApiError::bad_request(why)),
        Err((code, why)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, why)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    #[serde(default)]
    tier: u8,
    /// Imported value; none: 32 random bytes, in hex.
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotate {
    #[serde(default)]
    value: Option<String>,
}

fn key_error(e: KeyError) -> ApiError {
    match e {
        KeyError::Invalid(m) => ApiError::bad_request(m),
        KeyError::NotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "key_not_found", e.to_string())
        }
        KeyError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "key_exists", e.to_string()),
        KeyError::Withheld(m) => ApiError::new(StatusCode::FORBIDDEN, "tier_too_low", m),
        KeyError::Sealing(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "key_store", m),
        KeyError::Store(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "key_store",
            e.to_string(),
        ),
    }
}

/// Answers a request under `/v2/keys`: list, create (generate or import),
/// describe, rotate, destroy. Values never leave the node this way.
pub fn keys(store: &KeyStore, method: &Method, path: &str, body: &[u8]) -> Answer {
    let rest = path
        .trim_end_matches('/')
        .strip_prefix("/v2/keys")
        .unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    Ok(match (method.as_str(), parts.as_slice()) {
        ("GET", []) => (
            StatusCode::OK,
            json!({ "keys": store.list().map_err(key_error)?, "sealing": store.sealing() }),
        ),
        ("POST", []) => {
            let req: NewKey = ApiError::parse_json(body)?;
            let key = store
                .create(&req.name, req.tier, req.value)
                .map_err(key_error)?;
            (StatusCode::CREATED, json!({ "key": key }))
        }
        (_, []) => return Err(ApiError::method_not_allowed(method, path)),
        ("GET", [name]) => (
            StatusCode::OK,
            json!({ "key": store.describe(name).map_err(key_error)? }),
        ),
        ("DELETE", [name]) => {
            if !store.destroy(name).map_err(key_error)? {
                return Err(key_error(KeyError::NotFound(name.to_string())));
            }
            (StatusCode::OK, json!({ "destroyed": name }))
        }
        (_, [_]) => return Err(ApiError::method_not_allowed(method, path)),
        ("POST", [name, "rotate"]) => {
            let req: Rotate = if body.is_empty() {
                Rotate::default()
            } else {
                ApiError::parse_json(body)?
            };
            (
                StatusCode::OK,
                json!({ "key": store.rotate(name, req.value).map_err(key_error)? }),
            )
        }
        _ => return Err(ApiError::not_found(format!("no route for {path}"))),
    })
}
