//! Authorization levels (the seed's): every route declares the least level a
//! caller needs, every credential carries the most it may use.

use serde::{Deserialize, Serialize};

/// A level, ordered: `public` < `user` < `agent` < `admin`. A credential of
/// one level may call every route of that level or below.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Anyone who reaches the port, with no credential (`/v2/health`).
    Public,
    /// A tenant's client: its own jobs, agents, kv, usage, the LLM APIs.
    #[default]
    User,
    /// A tenant's autonomous agents and peer nodes (signed requests).
    Agent,
    /// The operator: plugins, deployments, usage across tenants, tenants.
    Admin,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Public => "public",
            Level::User => "user",
            Level::Agent => "agent",
            Level::Admin => "admin",
        }
    }

    /// Parses `public`, `user`, `agent` or `admin`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "public" => Some(Level::Public),
            "user" => Some(Level::User),
            "agent" => Some(Level::Agent),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_parse() {
        assert!(Level::Public < Level::User && Level::User < Level::Agent);
        assert!(Level::Agent < Level::Admin);
        for l in [Level::Public, Level::User, Level::Agent, Level::Admin] {
            assert_eq!(Level::parse(l.as_str()), Some(l));
        }
        assert_eq!(Level::parse("root"), None);
        assert_eq!(Level::default(), Level::User);
    }
}
