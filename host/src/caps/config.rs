//! `hanzo:node/config`: the plugin's settings (manifest `[config]` merged with
//! the operator's overrides) and the secrets its manifest declares. A call
//! made through a router deployment sees that deployment's settings and
//! secrets ([`crate::call_state::Overlay`]): its own keys, never the plugin-level
//! ones unless it sets `inherit_secrets`. A secret mapped to the node's key
//! store is read at each call, and only while the node's privacy tier
//! reaches the key's and the mapping's (`crate::tee`); a withheld one is
//! `not-set`, and the node's log says why.

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
        let released;
        let own = match self.grants.keys.get(&name) {
            None => own,
            Some((key, tier)) => {
                match self
                    .node()?
                    .release_key(&self.grants.plugin, &name, key, *tier)
                {
                    Ok(value) => {
                        released = value;
                        Some(&released)
                    }
                    Err(why) => {
                        tracing::warn!(plugin = %self.grants.plugin, secret = %name, %why, "secret withheld");
                        None
                    }
                }
            }
        };
        // A deployment's overlay decides which keys its calls get.
        let value = match self.overlay.as_deref() {
            Some(overlay) => overlay.secret(&name, own),
            None => own,
        };
        Ok(value.cloned().ok_or(ConfigError::NotSet(name)))
    }
}
