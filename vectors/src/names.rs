//! Whose a collection is, and the table that holds it: one table per
//! tenant, namespace and collection, its name spelling all three so that no
//! two scopes can share a table (tenant and namespace hex-encoded: any
//! characters, no collisions).

use crate::{Result, VectorError};

/// Longest collection name.
const MAX_NAME: usize = 64;
/// Longest tenant or namespace, in bytes.
const MAX_SCOPE: usize = 64;

/// A tenant's namespace: the collections one plugin (or API caller) sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub tenant: String,
    pub namespace: String,
}

impl Scope {
    pub fn new(tenant: impl Into<String>, namespace: impl Into<String>) -> Scope {
        Scope {
            tenant: tenant.into(),
            namespace: namespace.into(),
        }
    }

    /// What every table of this scope's starts with.
    pub(crate) fn prefix(&self) -> String {
        format!(
            "{}{}__",
            Self::tenant_prefix(&self.tenant),
            hex(&self.namespace)
        )
    }

    /// What every table of every namespace of `tenant` starts with (hex has
    /// no `_`, so no other tenant's tables do).
    pub(crate) fn tenant_prefix(tenant: &str) -> String {
        format!("c_{}_", hex(tenant))
    }

    /// The table of collection `name` in this scope.
    pub(crate) fn table(&self, name: &str) -> Result<String> {
        check_name(name)?;
        if self.tenant.is_empty()
            || self.tenant.len() > MAX_SCOPE
            || self.namespace.len() > MAX_SCOPE
        {
            return Err(VectorError::Invalid(format!(
                "tenant and namespace are at most {MAX_SCOPE} bytes (and a tenant at least one)"
            )));
        }
        Ok(format!("{}{name}", self.prefix()))
    }
}

/// A collection's name: 1-64 of `[A-Za-z0-9_-]`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(VectorError::Invalid(format!(
            "collection name `{}` must be 1-{MAX_NAME} letters, digits, `_` or `-`",
            name.escape_debug()
        )))
    }
}

/// The collection a table of a scope with `prefix` holds.
pub(crate) fn collection_of(table: &str, prefix: &str) -> Option<String> {
    table
        .strip_prefix(prefix)
        .filter(|name| check_name(name).is_ok())
        .map(str::to_string)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_never_share_a_table() {
        let a = Scope::new("acme", "docs");
        let b = Scope::new("acm", "edocs");
        let c = Scope::new("acme", "docs__x");
        assert_ne!(a.table("notes").unwrap(), b.table("notes").unwrap());
        // A namespace cannot reach into another's collections by its name.
        assert!(collection_of(&c.table("y").unwrap(), &a.prefix()).is_none());
        assert_eq!(
            collection_of(&a.table("notes").unwrap(), &a.prefix()).as_deref(),
            Some("notes")
        );
        for bad in ["", "a b", "../x", "x/y", &"n".repeat(65)] {
            assert!(a.table(bad).is_err(), "{bad}");
        }
        assert!(Scope::new("", "x").table("n").is_err());
    }
}
