//! `hanzo:node/log`: a plugin's log lines join the host's tracing output,
//! tagged with the tenant and plugin that wrote them.

use crate::bindings::log::{Host, Level};
use crate::state::CallState;

/// Longest message kept; a plugin cannot flood the log with one call.
const MAX_MESSAGE: usize = 16 * 1024;

impl Host for CallState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let mut message = message;
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = self.plugin.manifest.name.as_str();
        let tenant = &*self.tenant;
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, tenant, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, tenant, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, tenant, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, tenant, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, tenant, "{message}"),
        }
        Ok(())
    }
}
