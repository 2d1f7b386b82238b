//! Sessions kept between calls: one per server in the plugin's kv (which
//! the host keeps per tenant), so that a call neither initializes a
//! session of its own nor leaves one behind on the server. Any instance
//! goes on with the kept session; one the server refuses is replaced once.
//! Without kv (not granted, or failing) a call opens a session and ends it.

use crate::client::{ClientError, Handle, Session, Transport};
use crate::settings::{Server, Timeouts};
use hanzo_node_sdk::kv::KvError;
use hanzo_node_sdk::log;
use serde::{Deserialize, Serialize};

/// The plugin's kv store.
pub trait Store {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
}

/// A kept session, and the server URL it belongs to: another URL under the
/// same server name (the operator changed it) starts afresh.
#[derive(Serialize, Deserialize)]
struct Kept {
    url: String,
    #[serde(flatten)]
    handle: Handle,
}

fn key(server: &Server) -> String {
    format!("session/{}", server.name)
}

/// Runs `work` in a session with `server`: the kept one, else a new one,
/// kept when the store takes it and ended afterwards when it does not.
pub fn with_session<T: Transport, R>(
    transport: &T,
    store: &impl Store,
    server: &Server,
    headers: Vec<(String, String)>,
    timeouts: &Timeouts,
    mut work: impl FnMut(&mut Session<'_, T>) -> Result<R, ClientError>,
) -> Result<R, ClientError> {
    let key = key(server);
    if let Some(kept) = kept(store, &key, server) {
        let mut session = Session::resume(transport, &server.url, headers.clone(), timeouts, kept);
        match work(&mut session) {
            Err(e) if e.refused_session() => {
                log::info!(
                    "MCP server `{}` refused the kept session ({e}): opening a new one",
                    server.name
                );
            }
            done => return done,
        }
    }
    let mut session = Session::open(transport, &server.url, headers, timeouts)?;
    let kept = Kept {
        url: server.url.clone(),
        handle: session.handle().clone(),
    };
    let value = serde_json::to_vec(&kept).unwrap_or_default();
    let keep = match store.set(&key, &value) {
        Ok(()) => true,
        // Not granted is the operator's choice; anything else is worth a line.
        Err(KvError::Denied(_)) => false,
        Err(e) => {
            log::warn!(
                "MCP server `{}`: cannot keep the session in kv ({}); this call ends it",
                server.name,
                e.message()
            );
            false
        }
    };
    let done = work(&mut session);
    if !keep {
        session.close();
    }
    done
}

/// The session kept for `server`, if it is one of this URL (a value that
/// does not read is replaced like a missing one).
fn kept(store: &impl Store, key: &str, server: &Server) -> Option<Handle> {
    let value = store.get(key).ok()??;
    serde_json::from_slice::<Kept>(&value)
        .ok()
        .filter(|kept| kept.url == server.url)
        .map(|kept| kept.handle)
}
