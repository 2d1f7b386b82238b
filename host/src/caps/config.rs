//! `hanzo:node/config`: the plugin's settings (manifest `[config]` merged with
//! the operator's overrides) and the secrets its manifest declares.

use crate::bindings::config::{ConfigError, Host};
use crate::state::CallState;

impl Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let overlay = self.overlay.as_ref().and_then(|o| o.settings.get(&key));
        Ok(overlay.or_else(|| self.plugin.settings.get(&key)).cloned())
    }

    async fn secret(&mut self, name: String) -> wasmtime::Result<Result<String, ConfigError>> {
        if !self.plugin.manifest.permissions.secrets.contains(&name) {
            return Ok(Err(ConfigError::NotDeclared(name)));
        }
        Ok(self
            .plugin
            .secrets
            .get(&name)
            .cloned()
            .ok_or(ConfigError::NotSet(name)))
    }
}
