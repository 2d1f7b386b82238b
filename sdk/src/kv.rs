//! The plugin's key-value store (`hanzo:node/kv`).
//!
//! Each plugin sees only its own namespace, per tenant. Access needs
//! `permissions.kv = true` in the manifest, granted by the operator; without
//! it every call fails with [`KvError::Denied`], naming the grant.

pub use crate::wit::hanzo::node::kv::KvError;

#[cfg(target_arch = "wasm32")]
use crate::wit::hanzo::node::kv as host;

impl KvError {
    /// The error in words (the generated `Display` only names the case).
    pub fn message(&self) -> String {
        match self {
            KvError::Denied(why) | KvError::QuotaExceeded(why) => why.clone(),
            KvError::TooLarge(limit) => {
                format!("the key or value exceeds the plugin's kv limit of {limit} bytes")
            }
            KvError::Store(why) => format!("the kv store failed: {why}"),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn no_host<T>() -> Result<T, KvError> {
    Err(KvError::Store(crate::NO_HOST.to_string()))
}

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    #[cfg(target_arch = "wasm32")]
    return host::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        no_host()
    }
}

/// Stores `value` under `key`, replacing any previous value.
pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
    #[cfg(target_arch = "wasm32")]
    return host::set(key, value);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (key, value);
        no_host()
    }
}

/// Removes `key`; true when it existed.
pub fn delete(key: &str) -> Result<bool, KvError> {
    #[cfg(target_arch = "wasm32")]
    return host::delete(key);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        no_host()
    }
}

/// Keys starting with `prefix`, in order, at most `limit` of them.
pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, KvError> {
    #[cfg(target_arch = "wasm32")]
    return host::list_keys(prefix, limit);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (prefix, limit);
        no_host()
    }
}

/// The value under `key` as UTF-8 text. A stored value that is not UTF-8 is
/// reported as a store error rather than silently altered.
pub fn get_string(key: &str) -> Result<Option<String>, KvError> {
    match get(key)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| KvError::Store(format!("value of `{key}` is not UTF-8 text"))),
    }
}

/// Stores UTF-8 text under `key`.
pub fn set_string(key: &str, value: &str) -> Result<(), KvError> {
    set(key, value.as_bytes())
}

/// The value under `key` decoded from JSON.
pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, KvError> {
    match get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| KvError::Store(format!("value of `{key}` is not the expected JSON: {e}"))),
    }
}

/// Stores `value` under `key` as JSON.
pub fn set_json<T: serde::Serialize + ?Sized>(key: &str, value: &T) -> Result<(), KvError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| KvError::Store(format!("cannot encode value of `{key}`: {e}")))?;
    set(key, &bytes)
}
