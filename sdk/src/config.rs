//! Plugin settings and secrets (`hanzo:node/config`).
//!
//! Settings come from the manifest's `[config]` table, which the operator may
//! override; secrets are the ones the manifest declares under
//! `permissions.secrets`, with values the operator provides.

pub use crate::wit::hanzo::node::config::ConfigError;

impl ConfigError {
    /// The error in words (the generated `Display` only names the case).
    pub fn message(&self) -> String {
        match self {
            ConfigError::NotDeclared(name) => {
                format!("secret `{name}` is not declared in the manifest's permissions.secrets")
            }
            ConfigError::NotSet(name) => format!("secret `{name}` is not set by the operator"),
        }
    }
}

/// A setting, or `None` when it is unset.
///
/// Asked of the host once per key and instance, then answered from memory:
/// an instance's settings are fixed for its life (the host reuses an
/// instance only under the same grants, tenant and router deployment, and a
/// changed setting means new grants, so fresh instances), and a provider
/// reads several per call. Secrets are not kept: they are asked for at each
/// call, so that a rotated key or a privacy-tier change applies at once.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return SETTINGS.with_borrow_mut(|known| {
        if let Some(value) = known.get(key) {
            return value.clone();
        }
        let value = crate::wit::hanzo::node::config::get(key);
        known.insert(key.to_string(), value.clone());
        value
    });
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        None
    }
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    /// The settings this instance has read, unset ones too.
    static SETTINGS: std::cell::RefCell<std::collections::HashMap<String, Option<String>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// A setting, or `default` when it is unset or blank.
pub fn get_or(key: &str, default: &str) -> String {
    match get(key) {
        Some(value) if !value.trim().is_empty() => value,
        _ => default.to_string(),
    }
}

/// A setting parsed with [`str::parse`]; `Ok(None)` when unset, an error
/// naming the key when it does not parse.
pub fn get_parsed<T: std::str::FromStr>(key: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    match get(key) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| format!("config `{key}` = `{text}` is invalid: {e}")),
    }
}

/// A declared secret's value.
pub fn secret(name: &str) -> Result<String, ConfigError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::config::secret(name);
    #[cfg(not(target_arch = "wasm32"))]
    Err(ConfigError::NotSet(name.to_string()))
}

/// A secret that the plugin can work without: `None` when the operator did
/// not set it (or set it blank). A secret the manifest does not declare is a
/// packaging mistake, so it is logged as a warning before returning `None`.
pub fn optional_secret(name: &str) -> Option<String> {
    match secret(name) {
        Ok(value) if !value.is_empty() => Some(value),
        Ok(_) | Err(ConfigError::NotSet(_)) => None,
        Err(e @ ConfigError::NotDeclared(_)) => {
            crate::log::warn(&e.message());
            None
        }
    }
}
