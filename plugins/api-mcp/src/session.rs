//! MCP sessions: `initialize` makes one, every later request names it in
//! `Mcp-Session-Id`. They live in the plugin's kv, which the host keeps per
//! tenant: any instance of the plugin serves any request of a session (the
//! host reuses or discards instances between calls), and a tenant never
//! reaches another's session, whatever id it sends.
//!
//! An id is the creation time (seconds, 10 hex digits) followed by 24
//! random bytes in hex: unguessable, and sorted oldest first in the store,
//! so that the expired ones are found at its front.

use hanzo_node_sdk::kv::KvError;
use serde_json::{Value, json};

/// Where the sessions are kept.
pub trait Store {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, key: &str) -> Result<bool, KvError>;
    /// Keys starting with `prefix`, in order, at most `limit`.
    fn list_keys(&self, prefix: &str, limit: u32) -> Result<Vec<String>, KvError>;
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
    /// Bytes from a cryptographically secure generator.
    fn random_bytes(&self) -> [u8; RANDOM_BYTES];
}

/// A session unused this long is gone.
pub const IDLE_S: u64 = 24 * 3600;
/// A session older than this is gone, used or not: the front of the store
/// is then always either live or deletable, so sweeping it keeps the store
/// to the sessions of the last week.
pub const MAX_AGE_S: u64 = 7 * 24 * 3600;
/// A session's last use is written at most this often (not on every request).
const TOUCH_AFTER_S: u64 = 3600;
/// Oldest sessions looked at each time one is made.
const SWEEP: u32 = 8;
pub const RANDOM_BYTES: usize = 24;
const CREATED_DIGITS: usize = 10;
const ID_LEN: usize = CREATED_DIGITS + 2 * RANDOM_BYTES;
const PREFIX: &str = "sessions/";

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// The protocol version `initialize` settled on.
    pub protocol_version: String,
}

fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` has the shape of an id this plugin makes. Anything else is
/// no session, and never reaches the store as part of a key.
fn well_formed(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn created_of(id: &str) -> u64 {
    u64::from_str_radix(&id[..CREATED_DIGITS], 16).unwrap_or(0)
}

fn record(protocol_version: &str, last_seen: u64) -> Vec<u8> {
    json!({ "protocol_version": protocol_version, "last_seen": last_seen })
        .to_string()
        .into_bytes()
}

/// Makes a session for `protocol_version`, then deletes a few expired ones.
pub fn create(store: &impl Store, protocol_version: &str) -> Result<Session, KvError> {
    let now = store.now();
    let id = format!("{now:010x}{}", hex(&store.random_bytes()));
    store.set(&key(&id), &record(protocol_version, now))?;
    sweep(store, now);
    Ok(Session {
        id,
        protocol_version: protocol_version.to_string(),
    })
}

/// The live session `id`, if there is one; using it keeps it alive.
pub fn find(store: &impl Store, id: &str) -> Result<Option<Session>, KvError> {
    if !well_formed(id) {
        return Ok(None);
    }
    let now = store.now();
    let Some((protocol_version, last_seen)) = live_record(store, id, now)? else {
        return Ok(None);
    };
    if now.saturating_sub(last_seen) > TOUCH_AFTER_S
        && let Err(e) = store.set(&key(id), &record(&protocol_version, now))
    {
        // The session still serves this request; it just may expire sooner.
        hanzo_node_sdk::log::warn(&format!("session's last use not recorded: {}", e.message()));
    }
    Ok(Some(Session {
        id: id.to_string(),
        protocol_version,
    }))
}

/// Ends session `id` (found live by [`find`] first): true when it was there.
pub fn end(store: &impl Store, id: &str) -> Result<bool, KvError> {
    Ok(well_formed(id) && store.delete(&key(id))?)
}

/// Session `id`'s protocol version and last use, unless it is missing or
/// expired (an expired or unreadable record is deleted).
fn live_record(store: &impl Store, id: &str, now: u64) -> Result<Option<(String, u64)>, KvError> {
    if now.saturating_sub(created_of(id)) <= MAX_AGE_S {
        let Some(bytes) = store.get(&key(id))? else {
            return Ok(None);
        };
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let (Some(version), Some(last_seen)) = (
            value["protocol_version"].as_str(),
            value["last_seen"].as_u64(),
        ) && now.saturating_sub(last_seen) <= IDLE_S
        {
            return Ok(Some((version.to_string(), last_seen)));
        }
    }
    store.delete(&key(id))?;
    Ok(None)
}

/// Deletes the expired ones among the [`SWEEP`] oldest sessions, so that
/// sessions clients never ended do not pile up. Failures are left for the
/// next sweep.
fn sweep(store: &impl Store, now: u64) {
    let Ok(keys) = store.list_keys(PREFIX, SWEEP) else {
        return;
    };
    for key in keys {
        if let Some(id) = key.strip_prefix(PREFIX).filter(|id| well_formed(id)) {
            let _ = live_record(store, id, now);
        }
    }
}

/// A store in memory, for tests.
#[cfg(test)]
pub mod fake {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct MemoryStore {
        pub entries: RefCell<BTreeMap<String, Vec<u8>>>,
        pub clock: Cell<u64>,
        counter: Cell<u8>,
        /// Set: every call fails with it.
        pub failure: RefCell<Option<KvError>>,
    }

    impl MemoryStore {
        pub fn at(now: u64) -> MemoryStore {
            let store = MemoryStore::default();
            store.clock.set(now);
            store
        }

        fn fail(&self) -> Result<(), KvError> {
            match &*self.failure.borrow() {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            }
        }
    }

    impl Store for MemoryStore {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
            self.fail()?;
            Ok(self.entries.borrow().get(key).cloned())
        }

        fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
            self.fail()?;
            self.entries
                .borrow_mut()
                .insert(key.to_string(), value.to_vec());
            Ok(())
        }

        fn delete(&self, key: &str) -> Result<bool, KvError> {
            self.fail()?;
            Ok(self.entries.borrow_mut().remove(key).is_some())
        }

        fn list_keys(&self, prefix: &str, limit: u32) -> Result<Vec<String>, KvError> {
            self.fail()?;
            Ok(self
                .entries
                .borrow()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .take(limit as usize)
                .cloned()
                .collect())
        }

        fn now(&self) -> u64 {
            self.clock.get()
        }

        fn random_bytes(&self) -> [u8; RANDOM_BYTES] {
            // Distinct ids, not unpredictable ones.
            self.counter.set(self.counter.get().wrapping_add(1));
            [self.counter.get(); RANDOM_BYTES]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::MemoryStore;
    use super::*;

    const T0: u64 = 1_750_000_000;

    #[test]
    fn made_found_and_ended() {
        let store = MemoryStore::at(T0);
        let a = create(&store, "2025-06-18").unwrap();
        let b = create(&store, "2025-06-18").unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), ID_LEN);
        assert!(a.id.starts_with(&format!("{T0:010x}")));
        assert!(a.id.bytes().all(|c| c.is_ascii_graphic()));
        assert_eq!(find(&store, &a.id).unwrap(), Some(a.clone()));
        assert!(end(&store, &a.id).unwrap());
        assert_eq!(find(&store, &a.id).unwrap(), None);
        assert!(!end(&store, &a.id).unwrap());
        assert!(!end(&store, "../x").unwrap());
        assert_eq!(find(&store, &b.id).unwrap(), Some(b));
    }

    #[test]
    fn ids_of_other_shapes_are_no_session() {
        let store = MemoryStore::at(T0);
        let a = create(&store, "2025-06-18").unwrap();
        let upper = a.id.to_uppercase();
        for id in [
            "",
            "x",
            &a.id[1..],
            &format!("{}0", a.id),
            &upper,
            &format!("../{}", &a.id[3..]),
        ] {
            assert_eq!(find(&store, id).unwrap(), None, "{id}");
        }
        // Never looked up: a failing store is not even asked.
        *store.failure.borrow_mut() = Some(KvError::Store("down".into()));
        assert_eq!(find(&store, "nope").unwrap(), None);
        assert!(find(&store, &a.id).is_err());
    }

    #[test]
    fn idle_sessions_expire_and_use_keeps_them() {
        let store = MemoryStore::at(T0);
        let used = create(&store, "2025-06-18").unwrap();
        let idle = create(&store, "2025-06-18").unwrap();
        // Used every 20 hours, one lives past the idle limit; the other not.
        for step in 1..=2 {
            store.clock.set(T0 + step * 20 * 3600);
            assert!(find(&store, &used.id).unwrap().is_some(), "step {step}");
        }
        assert_eq!(find(&store, &idle.id).unwrap(), None);
        assert!(!store.entries.borrow().contains_key(&key(&idle.id)));
        // A use within the hour writes nothing.
        let before = store.entries.borrow().clone();
        store.clock.set(T0 + 40 * 3600 + 60);
        assert!(find(&store, &used.id).unwrap().is_some());
        assert_eq!(*store.entries.borrow(), before);
    }

    #[test]
    fn no_session_outlives_its_maximum_age() {
        let store = MemoryStore::at(T0);
        let s = create(&store, "2025-06-18").unwrap();
        let mut now = T0;
        while now <= T0 + MAX_AGE_S - 12 * 3600 {
            now += 12 * 3600;
            store.clock.set(now);
            assert!(find(&store, &s.id).unwrap().is_some(), "at {now}");
        }
        store.clock.set(T0 + MAX_AGE_S + 1);
        assert_eq!(find(&store, &s.id).unwrap(), None);
    }

    #[test]
    fn making_a_session_sweeps_expired_ones() {
        let store = MemoryStore::at(T0);
        let old: Vec<Session> = (0..3)
            .map(|_| create(&store, "2025-06-18").unwrap())
            .collect();
        store.clock.set(T0 + IDLE_S / 2);
        let live = create(&store, "2025-06-18").unwrap();
        store.clock.set(T0 + IDLE_S + 10);
        let fresh = create(&store, "2025-06-18").unwrap();
        let keys: Vec<String> = store.entries.borrow().keys().cloned().collect();
        assert_eq!(keys, [key(&live.id), key(&fresh.id)]);
        assert!(old.iter().all(|s| !keys.contains(&key(&s.id))));
    }

    #[test]
    fn a_damaged_record_is_no_session() {
        let store = MemoryStore::at(T0);
        let s = create(&store, "2025-06-18").unwrap();
        store
            .entries
            .borrow_mut()
            .insert(key(&s.id), b"not json".to_vec());
        assert_eq!(find(&store, &s.id).unwrap(), None);
        assert!(store.entries.borrow().is_empty());
    }

    #[test]
    fn store_failures_are_reported() {
        let store = MemoryStore::at(T0);
        *store.failure.borrow_mut() = Some(KvError::Denied("no kv".into()));
        assert_eq!(
            create(&store, "2025-06-18"),
            Err(KvError::Denied("no kv".into()))
        );
    }
}
