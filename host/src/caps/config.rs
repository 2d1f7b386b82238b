//! `hanzo:node/config`: the plugin's settings (manifest `[config]` merged with
//! the operator's overrides) and the secrets its manifest declares. A call
//! made through a router deployment sees that deployment's settings and
//! secrets ([`crate::call_state::Overlay`]): its own keys, never the plugin-level
//! ones unless it sets `inherit_secrets`.

use crate::bindings::config::{ConfigError, Host};
use crate::call_state::CallState;

impl Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let overlay = self.overlay.as_ref().and_then(|o| o.settings.get(&key));
        Ok(overlay.or_else(|| self.grants.settings.get(&key)).cloned())
    }

    async fn secret(&mut self, name: String) -> wasmtime::Result<Result<String, ConfigError>> {
        let Ok(own) = self.grants.secret(&name) else {
            return Ok(Err(ConfigError::NotDeclared(name)));
        };
        // A deployment's overlay decides which keys its calls get.
        let value = match self.overlay.as_deref() {
            Some(overlay) => overlay.secret(&name, own),
            None => own,
        };
        Ok(value.cloned().ok_or(ConfigError::NotSet(name)))
    }
}
