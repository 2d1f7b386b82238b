//! Tenants: every plugin call, job, kv entry and usage record belongs to
//! exactly one.

use std::fmt;
use std::sync::Arc;

/// The tenant of requests that carry no identity (until authentication
/// resolves one per request).
pub const DEFAULT_TENANT: &str = "default";

/// The node's own tenant: calls the node makes for itself (a tool plugin's
/// `describe` at load, provider model lists), never a client's.
pub const NODE_TENANT: &str = "_node";

/// Whether `name` may name a tenant (names starting with `_` are the node's).
pub fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A tenant id. Cheap to clone (shared), compared and hashed by its text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(Arc<str>);

impl Tenant {
    /// The tenant of requests without an identity.
    pub fn default_tenant() -> Tenant {
        Tenant::from(DEFAULT_TENANT)
    }

    /// The node's own tenant.
    pub fn node() -> Tenant {
        Tenant::from(NODE_TENANT)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Tenant {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Tenant {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Tenant {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Tenant {
    fn from(s: &str) -> Tenant {
        Tenant(s.into())
    }
}

impl From<String> for Tenant {
    fn from(s: String) -> Tenant {
        Tenant(s.into())
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}
