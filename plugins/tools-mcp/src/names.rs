//! The node's names for servers' tools, and back: a tool `read` of the
//! server `files` is `files__read`, its prefix being `<server>__` unless
//! the operator sets another (`""` included).
//!
//! A name is taken back by the longest prefix it starts with, so a tool is
//! offered only when its name leads back to its own server (describe skips
//! the others); no lookup table has to survive between the instance that
//! described the tools and the one that runs a call.

use crate::settings::Server;

/// Between a server's name and its tool's in the default prefix.
pub const SEPARATOR: &str = "__";
/// The node's limit on a tool's name, in bytes (host/src/loader).
pub const MAX_TOOL_NAME: usize = 128;
/// The longest server name and prefix.
pub const MAX_PREFIX: usize = 64;

/// The prefix of a server that sets none.
pub fn default_prefix(server: &str) -> String {
    format!("{server}{SEPARATOR}")
}

/// A server's name: 1–64 of `A-Z a-z 0-9 _ -` (it is also part of a kv key
/// and of the default prefix).
pub fn check_server_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_PREFIX {
        return Err(format!(
            "server name `{name}` must be 1-{MAX_PREFIX} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err(format!(
            "server name `{name}` may hold only A-Z a-z 0-9 _ -"
        ));
    }
    Ok(())
}

/// A prefix: at most 64 of `A-Z a-z 0-9 _ - .`, possibly none.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.len() > MAX_PREFIX {
        return Err(format!(
            "prefix `{prefix}` is longer than {MAX_PREFIX} characters"
        ));
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(format!("prefix `{prefix}` may hold only A-Z a-z 0-9 _ - ."));
    }
    Ok(())
}

/// The node's name for a server's tool `tool`: the prefix and the name, as
/// the node takes tool names (1–128 bytes, no whitespace; control
/// characters are refused too). An MCP tool's name is never changed, so
/// that a call reaches the tool of that very name.
pub fn exposed(prefix: &str, tool: &str) -> Result<String, String> {
    if tool.is_empty() {
        return Err("the tool has an empty name".into());
    }
    let name = format!("{prefix}{tool}");
    if name.len() > MAX_TOOL_NAME {
        return Err(format!(
            "`{name}` is longer than the node's {MAX_TOOL_NAME}-byte limit on tool names"
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{}` holds whitespace or control characters, which the node's tool names may not",
            name.escape_debug()
        ));
    }
    Ok(name)
}

/// The server a node tool name belongs to (the longest prefix it starts
/// with, leaving a tool name) and the tool's name on that server.
pub fn resolve<'s, 'n>(servers: &'s [Server], name: &'n str) -> Option<(&'s Server, &'n str)> {
    servers
        .iter()
        .filter_map(|server| {
            let tool = name.strip_prefix(server.prefix.as_str())?;
            (!tool.is_empty()).then_some((server, tool))
        })
        .max_by_key(|(server, _)| server.prefix.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, prefix: &str) -> Server {
        Server {
            name: name.into(),
            url: format!("http://127.0.0.1:1/{name}"),
            stdio: None,
            prefix: prefix.into(),
            tools: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn prefixes_and_names() {
        assert_eq!(default_prefix("files"), "files__");
        assert_eq!(exposed("files__", "read").unwrap(), "files__read");
        assert_eq!(exposed("", "fs.read/v2").unwrap(), "fs.read/v2");
        assert!(exposed("p__", "").is_err());
        assert!(exposed("p__", "two words").is_err());
        assert!(exposed("p__", "tab\there").is_err());
        assert!(exposed("p__", "bell\u{7}").is_err());
        assert!(exposed("", &"x".repeat(128)).is_ok());
        let long = exposed("p__", &"x".repeat(126)).unwrap_err();
        assert!(long.contains("128"), "{long}");
    }

    #[test]
    fn server_names_and_prefixes_are_checked() {
        for good in ["files", "a", "git-hub_2", &"x".repeat(64)] {
            check_server_name(good).unwrap();
        }
        for bad in ["", "has space", "dots.no", "ü", &"x".repeat(65)] {
            assert!(check_server_name(bad).is_err(), "{bad}");
        }
        for good in ["", "fs.", "files__", "a-b_c"] {
            check_prefix(good).unwrap();
        }
        for bad in ["a b", "x/", "é", &"p".repeat(65)] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_lead_back_to_the_longest_prefix() {
        let servers = [
            server("files", "files__"),
            server("calc", ""),
            server("fs", "files__v2__"),
        ];
        let found = |name| resolve(&servers, name).map(|(s, t)| (s.name.as_str(), t));
        assert_eq!(found("files__read"), Some(("files", "read")));
        assert_eq!(found("files__v2__read"), Some(("fs", "read")));
        assert_eq!(found("calculator"), Some(("calc", "calculator")));
        // Nothing but the prefix is no tool: the next prefix takes it.
        assert_eq!(found("files__"), Some(("calc", "files__")));
        let no_catch_all = [server("files", "files__")];
        assert!(resolve(&no_catch_all, "files__").is_none());
        assert!(resolve(&no_catch_all, "other").is_none());
    }
}
