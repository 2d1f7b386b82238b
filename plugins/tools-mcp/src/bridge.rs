//! The plugin's two exports over a [`Node`]: `describe` lists every
//! server's tools under the node's names for them, `invoke` calls one.
//!
//! The host asks `describe` when it loads the plugin, then every
//! `describe_every_s` (the manifest's 30 s, or the operator's), and soon
//! after a call finds a listed tool gone: a server that cannot be reached
//! is left out of that answer (the others still are listed) and comes back
//! in a later one. A server's `notifications/tools/list_changed`, seen on a
//! call's stream, is logged: the next listing carries the change.

use crate::client::{ClientError, Session, Transport};
use crate::names;
use crate::results;
use crate::sessions::{self, Store};
use crate::settings::{Server, Settings, Stdio, Timeouts};
use crate::stdio::{Pipe, StdioSession};
use hanzo_node_sdk::http::HttpErrorKind;
use hanzo_node_sdk::log;
use hanzo_node_sdk::tool::{self, ToolError, ToolSpec};
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[cfg(test)]
mod tests;

/// Pages of `tools/list` read at most from one server.
const MAX_PAGES: usize = 100;
/// What a server sends when its tools change.
const TOOLS_CHANGED: &str = "notifications/tools/list_changed";

/// What the plugin reaches: servers, its kv store, its settings and secrets.
pub trait Node: Transport + Store {
    fn setting(&self, key: &str) -> Option<String>;
    /// A declared secret's value; unset or empty is an error saying so.
    fn secret(&self, name: &str) -> Result<String, String>;
    /// The running process of stdio server `server` under `key`, else a
    /// new one: a container of its image, with `env`.
    fn open_process(
        &self,
        key: &str,
        server: &Stdio,
        env: Vec<(String, String)>,
    ) -> Result<Box<dyn Pipe>, ClientError>;
}

/// The process key of a stdio server: one per server (and tenant, the
/// node keeps them apart), another for listing at load.
fn process_key(server: &Server, listing: bool) -> String {
    if listing {
        format!("mcp-list/{}", server.name)
    } else {
        format!("mcp/{}", server.name)
    }
}

/// A session with stdio server `server`, its process started if need be.
fn stdio_session(
    node: &impl Node,
    server: &Server,
    stdio: &Stdio,
    listing: bool,
    timeout: std::time::Duration,
) -> Result<StdioSession, ClientError> {
    let env = stdio
        .env_values(|secret| node.secret(secret))
        .map_err(ClientError::Process)?;
    let pipe = node.open_process(&process_key(server, listing), stdio, env)?;
    StdioSession::start(pipe, node.nonce(), timeout)
}

/// Every server's tools, under the node's names for them.
pub fn describe(node: &impl Node) -> Vec<ToolSpec> {
    let settings = match Settings::read(|key| node.setting(key)) {
        Ok(settings) => settings,
        Err(e) => {
            log::error!("no MCP server's tools are offered: {e}");
            return Vec::new();
        }
    };
    if settings.servers.is_empty() {
        log::info!("no MCP servers are configured (config `servers`)");
    }
    let mut specs = Vec::new();
    for server in &settings.servers {
        match list(node, server, &settings.timeouts) {
            Ok(tools) => specs.extend(offer(&settings.servers, server, &tools)),
            Err(e) => log::warn!(
                "MCP server `{}` ({}) is left out: {e}",
                server.name,
                server.url
            ),
        }
    }
    specs
}

/// Calls the tool the node knows as `name`.
pub fn invoke(node: &impl Node, name: &str, arguments: &str) -> Result<String, ToolError> {
    let settings = Settings::read(|key| node.setting(key))
        .map_err(|e| ToolError::Failed(format!("the MCP servers' settings are invalid: {e}")))?;
    let Some((server, tool)) =
        names::resolve(&settings.servers, name).filter(|(server, tool)| server.offers(tool))
    else {
        return Err(tool::not_found(name));
    };
    let arguments: Value = serde_json::from_str(arguments)
        .map_err(|e| ToolError::InvalidArguments(format!("arguments are not JSON: {e}")))?;
    if !arguments.is_object() {
        return Err(ToolError::InvalidArguments(
            "MCP tools take a JSON object as arguments".into(),
        ));
    }
    let headers = server
        .header_values(|secret| node.secret(secret))
        .map_err(|e| ToolError::Failed(format!("MCP server `{}`: {e}", server.name)))?;
    let params = json!({ "name": tool, "arguments": arguments });
    let timeouts = &settings.timeouts;
    let answer = match &server.stdio {
        Some(stdio) => stdio_session(node, server, stdio, false, timeouts.list)
            .and_then(|mut session| session.request("tools/call", params, timeouts.call)),
        None => sessions::with_session(node, node, server, headers, timeouts, |session| {
            session.request("tools/call", params.clone(), timeouts.call)
        }),
    }
    .map_err(|e| unreachable(server, e))?;
    if answer.notifications.iter().any(|m| m == TOOLS_CHANGED) {
        log::info!(
            "MCP server `{}` says its tools changed ({TOOLS_CHANGED}); the node lists them \
             again within describe_every_s",
            server.name
        );
    }
    if !answer.requests.is_empty() {
        log::info!(
            "MCP server `{}` asked for {} during a call; this client offers none of it",
            server.name,
            answer.requests.join(", ")
        );
    }
    let outcome = match &answer.outcome {
        Ok(result) => results::call_result(result, tool),
        Err(e) => Err(results::call_error(e, tool)),
    };
    match outcome {
        Err(ToolError::NotFound(said)) => {
            // The host asks for the list again when a listed tool is not found.
            log::warn!(
                "MCP server `{}` no longer has tool `{tool}` ({said})",
                server.name
            );
            Err(ToolError::NotFound(format!(
                "MCP server `{}` no longer has tool `{tool}`: {said}",
                server.name
            )))
        }
        outcome => outcome,
    }
}

/// All of a server's tools (`tools/list`, page after page), in a session
/// of their own: the one who loads the plugin is not the caller of its
/// tools, whose sessions are kept per tenant.
fn list(node: &impl Node, server: &Server, timeouts: &Timeouts) -> Result<Vec<Value>, String> {
    if let Some(stdio) = &server.stdio {
        let mut session =
            stdio_session(node, server, stdio, true, timeouts.list).map_err(|e| e.to_string())?;
        return pages(|params| session.request("tools/list", params, timeouts.list))
            .map_err(|e| e.to_string());
    }
    let headers = server.header_values(|secret| node.secret(secret))?;
    let mut session =
        Session::open(node, &server.url, headers, timeouts).map_err(|e| e.to_string())?;
    let tools = pages(|params| session.request("tools/list", params, timeouts.list));
    session.close();
    tools.map_err(|e| e.to_string())
}

/// Every page of `tools/list`, `request` asking for one.
fn pages(
    mut request: impl FnMut(Value) -> Result<crate::answer::Answer, ClientError>,
) -> Result<Vec<Value>, ClientError> {
    let mut tools = Vec::new();
    let mut cursors = BTreeSet::new();
    let mut params = json!({});
    for _ in 0..MAX_PAGES {
        let answer = request(params)?;
        let mut page = answer
            .outcome
            .map_err(|e| ClientError::Protocol(format!("tools/list failed: {e}")))?;
        match page.get_mut("tools").map(Value::take) {
            Some(Value::Array(more)) => tools.extend(more),
            _ => {
                return Err(ClientError::Protocol(
                    "the answer to tools/list has no `tools` list".into(),
                ));
            }
        }
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(cursor) if !cursor.is_empty() => {
                if !cursors.insert(cursor.to_string()) {
                    return Err(ClientError::Protocol(format!(
                        "tools/list gave the cursor `{cursor}` twice"
                    )));
                }
                params = json!({ "cursor": cursor });
            }
            _ => return Ok(tools),
        }
    }
    Err(ClientError::Protocol(format!(
        "tools/list goes on for more than {MAX_PAGES} pages"
    )))
}

/// The specs of the tools of `server` the node offers: those the operator
/// lets through (`tools`) whose names the node takes and lead back to this
/// server (so no two servers' tools share a name), once each.
fn offer(servers: &[Server], server: &Server, tools: &[Value]) -> Vec<ToolSpec> {
    let mut specs = Vec::new();
    let mut listed = BTreeSet::new();
    for tool in tools {
        let Some(tool_name) = tool.get("name").and_then(Value::as_str) else {
            log::warn!("MCP server `{}` listed a tool without a name", server.name);
            continue;
        };
        if !listed.insert(tool_name) {
            log::warn!(
                "MCP server `{}` lists tool `{}` twice",
                server.name,
                tool_name.escape_debug()
            );
            continue;
        }
        if !server.offers(tool_name) {
            continue;
        }
        let skip = |why: &str| {
            log::warn!(
                "MCP server `{}`: tool `{}` is left out: {why}",
                server.name,
                tool_name.escape_debug()
            );
        };
        let name = match names::exposed(&server.prefix, tool_name) {
            Ok(name) => name,
            Err(why) => {
                skip(&why);
                continue;
            }
        };
        match names::resolve(servers, &name) {
            Some((owner, _)) if owner.name == server.name => {}
            Some((owner, _)) => {
                skip(&format!(
                    "its name `{name}` would reach server `{}`, whose prefix is longer",
                    owner.name
                ));
                continue;
            }
            None => {
                skip(&format!("its name `{name}` leads to no server"));
                continue;
            }
        }
        match results::spec(name, tool) {
            Ok(spec) => specs.push(spec),
            Err(why) => skip(&why),
        }
    }
    for missing in server.tools.iter().flatten() {
        if !listed.contains(missing.as_str()) {
            log::warn!(
                "MCP server `{}` has no tool `{missing}`, which its `tools` lists",
                server.name
            );
        }
    }
    let offered: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    log::info!(
        "MCP server `{}`: {} tools ({})",
        server.name,
        offered.len(),
        offered.join(", ")
    );
    specs
}

/// A call that got no answer, as the tool error it is.
fn unreachable(server: &Server, error: ClientError) -> ToolError {
    let at = format!("MCP server `{}` ({})", server.name, server.url);
    match error {
        ClientError::Http(e) if e.kind() == HttpErrorKind::Denied => ToolError::Denied(format!(
            "{at}: {e}; the operator grants it with allow_hosts in [plugins.tools-mcp]"
        )),
        ClientError::Http(e) => ToolError::Failed(format!("{at} cannot be reached: {e}")),
        other => ToolError::Failed(format!("{at}: {other}")),
    }
}
