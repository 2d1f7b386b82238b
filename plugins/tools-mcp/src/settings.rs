//! The operator's settings: the MCP servers (config `servers`) and the
//! timeouts.
//!
//! `servers` is JSON: a string of it, or node.toml's array or table (which
//! the host passes on as JSON), as a list of servers or a table of them by
//! name:
//!
//! ```toml
//! config = { servers = '[{"name": "files", "url": "http://127.0.0.1:8123/mcp"}]' }
//! config = { servers = [{ name = "files", url = "http://127.0.0.1:8123/mcp" }] }
//! [plugins.tools-mcp.config.servers.files]
//! url = "http://127.0.0.1:8123/mcp"
//! ```

use crate::names;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Headers the transport sets itself, which a server's `headers` may not.
const TRANSPORT_HEADERS: &[&str] = &[
    "accept",
    "connection",
    "content-length",
    "content-type",
    "host",
    "mcp-protocol-version",
    "mcp-session-id",
    "transfer-encoding",
];

/// One MCP server, as the operator listed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub name: String,
    /// Its streamable HTTP endpoint; for a stdio server, `stdio:<image>`
    /// (for messages).
    pub url: String,
    /// A server spoken to over stdio, run as a container process; none: an
    /// HTTP server at `url`.
    pub stdio: Option<Stdio>,
    /// What its tools' names get in front.
    pub prefix: String,
    /// Only these of its tools are offered; all when unset.
    pub tools: Option<BTreeSet<String>>,
    pub headers: Vec<Header>,
}

/// A stdio server: the image the operator granted tools-mcp, run as a
/// container process that the node keeps between calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Stdio {
    pub image: String,
    /// The command; empty: the image's own.
    pub command: Vec<String>,
    /// Its environment, values literal or secrets (`"secret:NAME"`).
    pub env: Vec<(String, HeaderValue)>,
    pub memory_mb: Option<u32>,
    pub cpu_millis: Option<u32>,
    pub pids: Option<u32>,
    /// Network for the process (the operator's `container_network` too).
    pub network: bool,
    /// How long the process may wait unused (none: the node's ceiling).
    pub idle_ms: Option<u32>,
}

impl Stdio {
    /// The environment with its values, secrets read through `secret`.
    pub fn env_values(
        &self,
        secret: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Vec<(String, String)>, String> {
        self.env
            .iter()
            .map(|(name, value)| Ok((name.clone(), value.read(&secret)?)))
            .collect()
    }
}

/// A header sent with every request to a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Lower-case.
    pub name: String,
    pub value: HeaderValue,
}

/// A value the operator wrote for a header, or for a stdio server's
/// environment variable.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    Literal(String),
    /// The value of the declared secret of this name (`"secret:NAME"`).
    Secret(String),
    /// `Bearer ` and the value of the declared secret of this name
    /// (`bearer_secret`).
    Bearer(String),
}

impl HeaderValue {
    /// As written: a secret's name after `secret:`, else the text itself.
    fn parse(text: &str) -> Result<HeaderValue, String> {
        Ok(match text.strip_prefix("secret:") {
            Some(secret) => HeaderValue::Secret(secret_name(secret)?),
            None => HeaderValue::Literal(text.to_string()),
        })
    }

    /// The value, secrets read through `secret`.
    fn read(&self, secret: impl Fn(&str) -> Result<String, String>) -> Result<String, String> {
        Ok(match self {
            HeaderValue::Literal(v) => v.clone(),
            HeaderValue::Secret(name) => secret(name)?,
            HeaderValue::Bearer(name) => format!("Bearer {}", secret(name)?),
        })
    }
}

impl Server {
    /// Whether the operator lets the node offer tool `tool` of this server.
    pub fn offers(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|tools| tools.contains(tool))
    }

    /// The headers with their values, secrets read through `secret`.
    pub fn header_values(
        &self,
        secret: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Vec<(String, String)>, String> {
        self.headers
            .iter()
            .map(|h| Ok((h.name.clone(), h.value.read(&secret)?)))
            .collect()
    }
}

/// How long requests to servers may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// `initialize` and `tools/list`: first byte, and between bytes. Short,
    /// since the node waits for them while it loads the plugin.
    pub list: Duration,
    /// `tools/call`.
    pub call: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub servers: Vec<Server>,
    pub timeouts: Timeouts,
}

impl Settings {
    /// The settings from the plugin's config (`setting` reads one key).
    pub fn read(setting: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let ms = |key: &str, default: u64| -> Result<Duration, String> {
            match setting(key) {
                Some(text) if !text.trim().is_empty() => text
                    .trim()
                    .parse()
                    .map(Duration::from_millis)
                    .map_err(|e| format!("config `{key}` = `{text}` is invalid: {e}")),
                _ => Ok(Duration::from_millis(default)),
            }
        };
        Ok(Settings {
            servers: parse_servers(setting("servers").as_deref().unwrap_or(""))?,
            timeouts: Timeouts {
                connect: ms("connect_timeout_ms", 5_000)?,
                list: ms("list_timeout_ms", 10_000)?,
                call: ms("call_timeout_ms", 110_000)?,
            },
        })
    }
}

/// One server as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Option<String>,
    url: Option<String>,
    prefix: Option<String>,
    tools: Option<Vec<String>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    bearer_secret: Option<String>,
    // A stdio server's.
    image: Option<String>,
    command: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    memory_mb: Option<u32>,
    cpu_millis: Option<u32>,
    pids: Option<u32>,
    network: Option<bool>,
    idle_s: Option<u32>,
}

/// The servers of config `servers`; none when it is blank.
pub fn parse_servers(text: &str) -> Result<Vec<Server>, String> {
    let entries = match document(text)? {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| (format!("servers[{i}]"), None, item))
            .collect::<Vec<_>>(),
        Value::Object(table) => table
            .into_iter()
            .map(|(name, item)| (format!("servers.{name}"), Some(name), item))
            .collect(),
        _ => {
            return Err(
                "config `servers` must be a list of servers or a table of them by name".into(),
            );
        }
    };
    let mut servers: Vec<Server> = Vec::with_capacity(entries.len());
    for (at, key, item) in entries {
        let server = server(key, item).map_err(|e| format!("config {at}: {e}"))?;
        if let Some(other) = servers
            .iter()
            .find(|s| s.name == server.name || s.prefix == server.prefix)
        {
            let what = if other.name == server.name {
                format!("name `{}`", server.name)
            } else {
                format!("prefix `{}`", server.prefix)
            };
            return Err(format!(
                "config {at}: servers `{}` and `{}` have the same {what}",
                other.name, server.name
            ));
        }
        servers.push(server);
    }
    Ok(servers)
}

/// The value of `servers`.
fn document(text: &str) -> Result<Value, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    serde_json::from_str(text).map_err(|e| format!("config `servers` is not JSON: {e}"))
}

fn server(key: Option<String>, item: Value) -> Result<Server, String> {
    let entry: Entry = serde_json::from_value(item).map_err(|e| e.to_string())?;
    let name = match (key, entry.name.clone()) {
        (Some(key), Some(name)) if key != name => {
            return Err(format!("`name` = `{name}` differs from its key"));
        }
        (Some(name), _) | (None, Some(name)) => name,
        (None, None) => return Err("a server needs a `name`".into()),
    };
    names::check_server_name(&name)?;
    let stdio = stdio(&entry)?;
    let url = match (&entry.url, &stdio) {
        (Some(_), Some(_)) => {
            return Err("`url` (an HTTP server) and `image` (a stdio server) are both set".into());
        }
        (None, None) => return Err("a server needs a `url` or an `image`".into()),
        (None, Some(stdio)) => format!("stdio:{}", stdio.image),
        (Some(url), None) => {
            let url = url.trim().to_string();
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if !matches!(scheme.as_deref(), Some("http" | "https"))
                || url.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(format!("`url` = `{url}` is not an http:// or https:// URL"));
            }
            url
        }
    };
    if stdio.is_some() && (!entry.headers.is_empty() || entry.bearer_secret.is_some()) {
        return Err(
            "`headers` and `bearer_secret` are for HTTP servers (a stdio server has `env`)".into(),
        );
    }
    let prefix = entry.prefix.unwrap_or_else(|| names::default_prefix(&name));
    names::check_prefix(&prefix)?;
    let tools = match entry.tools {
        Some(tools) if tools.is_empty() => {
            return Err("`tools` names no tool (leave it out to offer all)".into());
        }
        tools => tools.map(|t| t.into_iter().collect()),
    };
    let mut headers = Vec::with_capacity(entry.headers.len() + 1);
    for (name, value) in entry.headers {
        let name = header_name(&name)?;
        let value = HeaderValue::parse(&value)?;
        if matches!(&value, HeaderValue::Literal(v) if v.chars().any(|c| c.is_control())) {
            return Err(format!("header `{name}` holds control characters"));
        }
        headers.push(Header { name, value });
    }
    if let Some(secret) = entry.bearer_secret {
        if headers.iter().any(|h| h.name == "authorization") {
            return Err("`bearer_secret` and an `authorization` header both set it".into());
        }
        headers.push(Header {
            name: "authorization".into(),
            value: HeaderValue::Bearer(secret_name(&secret)?),
        });
    }
    Ok(Server {
        name,
        url,
        stdio,
        prefix,
        tools,
        headers,
    })
}

/// A stdio server's settings, when the entry names an `image`.
fn stdio(entry: &Entry) -> Result<Option<Stdio>, String> {
    let Some(image) = &entry.image else {
        let set = [
            ("command", entry.command.is_some()),
            ("env", entry.env.is_some()),
            ("memory_mb", entry.memory_mb.is_some()),
            ("cpu_millis", entry.cpu_millis.is_some()),
            ("pids", entry.pids.is_some()),
            ("network", entry.network.is_some()),
            ("idle_s", entry.idle_s.is_some()),
        ];
        return match set.iter().find(|(_, set)| *set) {
            Some((key, _)) => Err(format!(
                "`{key}` is for stdio servers (those with an `image`)"
            )),
            None => Ok(None),
        };
    };
    let image = image.trim();
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`image` = `{}` is not an image name",
            image.escape_debug()
        ));
    }
    let mut env = Vec::new();
    for (name, value) in entry.env.iter().flatten() {
        if name.is_empty() || name.contains('=') || name.chars().any(|c| c.is_control()) {
            return Err(format!(
                "`{}` is not an environment variable's name",
                name.escape_debug()
            ));
        }
        env.push((name.clone(), HeaderValue::parse(value)?));
    }
    let idle_ms = match entry.idle_s {
        Some(0) => return Err("`idle_s` must be more than 0".into()),
        Some(s) => Some(s.saturating_mul(1000)),
        None => None,
    };
    Ok(Some(Stdio {
        image: image.to_string(),
        command: entry.command.clone().unwrap_or_default(),
        env,
        memory_mb: entry.memory_mb,
        cpu_millis: entry.cpu_millis,
        pids: entry.pids,
        network: entry.network.unwrap_or(false),
        idle_ms,
    }))
}

/// A header name (an RFC 9110 token) the transport does not set itself,
/// lower-cased.
fn header_name(name: &str) -> Result<String, String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!("`{}` is not a header name", name.escape_debug()));
    }
    let name = name.to_ascii_lowercase();
    if TRANSPORT_HEADERS.contains(&name.as_str()) {
        return Err(format!(
            "header `{name}` is the transport's own and cannot be set"
        ));
    }
    Ok(name)
}

fn secret_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{}` is not a secret's name", name.escape_debug()));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn names(servers: &[Server]) -> Vec<(&str, &str, &str)> {
        servers
            .iter()
            .map(|s| (s.name.as_str(), s.url.as_str(), s.prefix.as_str()))
            .collect()
    }

    #[test]
    fn json_list_toml_list_and_toml_table() {
        let json = parse_servers(
            r#"[{"name": "files", "url": "http://127.0.0.1:8123/mcp"},
                {"name": "calc", "url": "https://calc.example/mcp", "prefix": "", "tools": ["calculator"]}]"#,
        )
        .unwrap();
        assert_eq!(
            names(&json),
            [
                ("files", "http://127.0.0.1:8123/mcp", "files__"),
                ("calc", "https://calc.example/mcp", "")
            ]
        );
        assert!(json[1].offers("calculator") && !json[1].offers("add"));
        assert!(json[0].offers("anything"));
        // As the host passes node.toml's arrays and tables on (JSON).
        let toml_list = parse_servers(
            r#"[{"headers":{"X-Team":"infra"},"name":"files","url":"http://127.0.0.1:8123/mcp"}]"#,
        )
        .unwrap();
        assert_eq!(
            names(&toml_list),
            [("files", "http://127.0.0.1:8123/mcp", "files__")]
        );
        assert_eq!(
            toml_list[0].headers,
            [Header {
                name: "x-team".into(),
                value: HeaderValue::Literal("infra".into())
            }]
        );
        let table = parse_servers(
            r#"{"files":{"prefix":"","url":"http://127.0.0.1:1/mcp"},"git":{"url":"http://127.0.0.1:2/mcp"}}"#,
        )
        .unwrap();
        assert_eq!(
            names(&table),
            [
                ("files", "http://127.0.0.1:1/mcp", ""),
                ("git", "http://127.0.0.1:2/mcp", "git__")
            ]
        );
        assert_eq!(parse_servers("").unwrap(), []);
        assert_eq!(parse_servers(" [] ").unwrap(), []);
    }

    #[test]
    fn secrets_stay_names_until_a_request() {
        let servers = parse_servers(
            r#"[{"name": "f", "url": "http://h:1/mcp", "bearer_secret": "MCP_SECRET_1",
                 "headers": {"X-Api-Key": "secret:MCP_SECRET_2", "X-Team": "infra"}}]"#,
        )
        .unwrap();
        let values: HashMap<&str, &str> = [("MCP_SECRET_1", "tok"), ("MCP_SECRET_2", "key")].into();
        let secret = |name: &str| {
            values
                .get(name)
                .map(|v| v.to_string())
                .ok_or_else(|| format!("secret `{name}` is not set"))
        };
        let mut headers = servers[0].header_values(secret).unwrap();
        headers.sort();
        assert_eq!(
            headers,
            [
                ("authorization".to_string(), "Bearer tok".to_string()),
                ("x-api-key".into(), "key".into()),
                ("x-team".into(), "infra".into())
            ]
        );
        let unset =
            parse_servers(r#"[{"name": "f", "url": "http://h:1/", "bearer_secret": "NOPE"}]"#)
                .unwrap();
        assert_eq!(
            unset[0].header_values(secret).unwrap_err(),
            "secret `NOPE` is not set"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let error = |text: &str| parse_servers(text).unwrap_err();
        for (text, says) in [
            ("{not json", "config `servers` is not JSON"),
            ("42", "a list of servers"),
            (
                r#"[{"url": "http://h/"}]"#,
                "servers[0]: a server needs a `name`",
            ),
            (r#"[{"name": "a"}]"#, "needs a `url` or an `image`"),
            (
                r#"[{"name": "a", "url": "http://h/", "image": "x:1"}]"#,
                "both set",
            ),
            (
                r#"[{"name": "a", "url": "http://h/", "command": ["x"]}]"#,
                "`command` is for stdio servers",
            ),
            (
                r#"[{"name": "a", "image": "x:1", "bearer_secret": "S"}]"#,
                "for HTTP servers",
            ),
            (r#"[{"name": "a", "image": "x 1"}]"#, "not an image name"),
            (
                r#"[{"name": "a", "image": "x:1", "env": {"A=B": "1"}}]"#,
                "environment variable",
            ),
            (r#"[{"name": "a", "image": "x:1", "idle_s": 0}]"#, "idle_s"),
            (
                r#"[{"name": "a", "url": "http://h/", "prefx": ""}]"#,
                "unknown field `prefx`",
            ),
            (r#"[{"name": "a b", "url": "http://h/"}]"#, "server name"),
            (r#"[{"name": "a", "url": "ftp://h/"}]"#, "not an http"),
            (r#"[{"name": "a", "url": "http://h/ x"}]"#, "not an http"),
            (
                r#"[{"name": "a", "url": "http://h/", "prefix": "a b"}]"#,
                "prefix",
            ),
            (
                r#"[{"name": "a", "url": "http://h/", "tools": []}]"#,
                "names no tool",
            ),
            (
                r#"[{"name": "a", "url": "http://h/", "headers": {"Accept": "x"}}]"#,
                "transport's own",
            ),
            (
                r#"[{"name": "a", "url": "http://h/", "headers": {"a b": "x"}}]"#,
                "not a header name",
            ),
            (
                r#"[{"name": "a", "url": "http://h/", "headers": {"x": "a\nb"}}]"#,
                "control",
            ),
            (
                r#"[{"name": "a", "url": "http://h/", "headers": {"x": "secret: "}}]"#,
                "secret's name",
            ),
            (
                r#"[{"name": "a", "url": "http://h/", "bearer_secret": "S", "headers": {"Authorization": "x"}}]"#,
                "both set",
            ),
            (
                r#"[{"name": "a", "url": "http://h/"}, {"name": "a", "url": "http://i/"}]"#,
                "servers[1]: servers `a` and `a` have the same name `a`",
            ),
            (
                r#"[{"name": "a", "url": "http://h/", "prefix": ""}, {"name": "b", "url": "http://i/", "prefix": ""}]"#,
                "same prefix ``",
            ),
            (
                r#"{"a": {"name": "b", "url": "http://h/"}}"#,
                "differs from its key",
            ),
        ] {
            let e = error(text);
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_stdio_server() {
        let servers = parse_servers(
            r#"{"git": {"image": "mcp-git:1", "command": ["python3", "/srv/git.py"],
                        "env": {"TOKEN": "secret:MCP_SECRET_1", "MODE": "ro"},
                        "memory_mb": 128, "idle_s": 60}}"#,
        )
        .unwrap();
        let git = &servers[0];
        assert_eq!(
            (git.url.as_str(), git.prefix.as_str()),
            ("stdio:mcp-git:1", "git__")
        );
        let stdio = git.stdio.as_ref().unwrap();
        assert_eq!(stdio.command, ["python3", "/srv/git.py"]);
        assert_eq!(
            (stdio.memory_mb, stdio.idle_ms, stdio.network),
            (Some(128), Some(60_000), false)
        );
        let env = stdio.env_values(|name| Ok(format!("<{name}>"))).unwrap();
        assert_eq!(
            env,
            [
                ("MODE".to_string(), "ro".to_string()),
                ("TOKEN".into(), "<MCP_SECRET_1>".into())
            ]
        );
    }

    #[test]
    fn timeouts_default_and_parse() {
        let settings = Settings::read(|key| match key {
            "servers" => Some(r#"[{"name": "a", "url": "http://h/"}]"#.into()),
            "call_timeout_ms" => Some(" 2500 ".into()),
            "list_timeout_ms" => Some("".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.servers.len(), 1);
        assert_eq!(
            settings.timeouts,
            Timeouts {
                connect: Duration::from_millis(5_000),
                list: Duration::from_millis(10_000),
                call: Duration::from_millis(2_500),
            }
        );
        let e =
            Settings::read(|key| (key == "connect_timeout_ms").then(|| "soon".into())).unwrap_err();
        assert!(e.contains("connect_timeout_ms"), "{e}");
        assert_eq!(Settings::read(|_| None).unwrap().servers, []);
    }
}
