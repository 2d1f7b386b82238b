//! `hanzo:node/log`: a plugin's log lines join the host's tracing output,
//! tagged with the tenant and plugin that wrote them. A plugin cannot flood
//! the log (each plugin has a token bucket of lines; what it drops is
//! counted, shown in `/v2/health` and reported in a line of the host's own)
//! nor forge lines (control characters are escaped, so a message stays one
//! line of the plugin's).

use crate::bindings::log::{Host, Level};
use crate::call_state::CallState;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest message kept; a plugin cannot flood the log with one call.
const MAX_MESSAGE: usize = 16 * 1024;

/// How often a plugin that keeps dropping lines is reported.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// `[log]` in node.toml: what plugins may write to the node's log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Lines per second one plugin may log, over time (0: no limit).
    pub plugin_lines_per_s: u32,
    /// Lines one plugin may log at once before the rate applies.
    pub plugin_burst: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            plugin_lines_per_s: 100,
            plugin_burst: 200,
        }
    }
}

/// Lines per second and the burst over it. (`governor` would do, but it
/// turns on hashbrown features that make wasmtime rebuild; this is all the
/// log needs.)
#[derive(Debug, Clone, Copy)]
struct Quota {
    per_s: f64,
    burst: f64,
}

impl LogConfig {
    fn quota(&self) -> Option<Quota> {
        (self.plugin_lines_per_s > 0).then(|| Quota {
            per_s: self.plugin_lines_per_s as f64,
            burst: self.plugin_burst.max(self.plugin_lines_per_s) as f64,
        })
    }
}

/// A token bucket: `burst` lines at once, refilled at `per_s`.
struct Bucket {
    quota: Quota,
    /// Tokens left, and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(quota: Quota) -> Bucket {
        Bucket {
            quota,
            state: Mutex::new((quota.burst, Instant::now())),
        }
    }

    fn take(&self) -> bool {
        let mut s = crate::lock(&self.state);
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.quota.per_s;
        s.0 = (s.0 + refill).min(self.quota.burst);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The log budget of every plugin, by name (so a new version of a plugin
/// does not get a fresh one).
pub struct PluginLogs {
    quota: Option<Quota>,
    plugins: Mutex<BTreeMap<String, Arc<PluginLog>>>,
}

/// One plugin's bucket and what it dropped.
pub struct PluginLog {
    limiter: Option<Bucket>,
    dropped: AtomicU64,
    /// Dropped lines already reported, and when.
    reported: Mutex<(u64, Option<Instant>)>,
}

impl PluginLogs {
    pub fn new(cfg: &LogConfig) -> PluginLogs {
        PluginLogs::with_quota(cfg.quota())
    }

    fn with_quota(quota: Option<Quota>) -> PluginLogs {
        PluginLogs {
            quota,
            plugins: Mutex::default(),
        }
    }

    fn of(&self, plugin: &str) -> Arc<PluginLog> {
        let mut plugins = crate::lock(&self.plugins);
        if let Some(p) = plugins.get(plugin) {
            return p.clone();
        }
        let p = Arc::new(PluginLog {
            limiter: self.quota.map(Bucket::new),
            dropped: AtomicU64::new(0),
            reported: Mutex::new((0, None)),
        });
        plugins.insert(plugin.to_string(), p.clone());
        p
    }

    /// Whether `plugin` may log a line now; a refused line is counted, and
    /// reported at once the first time, then at most every ten seconds.
    pub fn admit(&self, plugin: &str) -> bool {
        let p = self.of(plugin);
        let admitted = p.limiter.as_ref().is_none_or(Bucket::take);
        let dropped = if admitted {
            p.dropped.load(Ordering::Relaxed)
        } else {
            p.dropped.fetch_add(1, Ordering::Relaxed) + 1
        };
        let mut reported = crate::lock(&p.reported);
        let due = match reported.1 {
            None => !admitted,
            // Past the interval, or the plugin is back under its rate.
            Some(at) => admitted || at.elapsed() >= REPORT_EVERY,
        };
        if due && dropped > reported.0 {
            tracing::warn!(
                plugin,
                dropped = dropped - reported.0,
                dropped_total = dropped,
                "plugin log lines dropped: the plugin logs faster than its limit ([log] plugin_lines_per_s)"
            );
            *reported = (dropped, Some(Instant::now()));
        }
        admitted
    }

    /// Lines dropped since start, by plugin (only plugins that dropped any).
    pub fn dropped(&self) -> BTreeMap<String, u64> {
        crate::lock(&self.plugins)
            .iter()
            .map(|(name, p)| (name.clone(), p.dropped.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// The message as one line: control characters (newlines, carriage
/// returns, ANSI escapes, …), Unicode line separators and bidirectional
/// overrides escaped, so nothing a plugin writes looks like a line of the
/// host's or moves the terminal.
pub fn escape(message: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !message.chars().any(unsafe_char) {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len() + 16);
    for c in message.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// At most [`MAX_MESSAGE`] bytes, cut at a character boundary.
fn truncate(message: Cow<'_, str>) -> Cow<'_, str> {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut cut = MAX_MESSAGE;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut m = message[..cut].to_string();
    m.push('…');
    Cow::Owned(m)
}

impl Host for CallState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let plugin = self.grants.plugin.as_str();
        if !self.node()?.admit_log(plugin) {
            return Ok(());
        }
        let message = truncate(escape(&message));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(escape("plain text, ünïcode"), Cow::Borrowed(_)));
        assert_eq!(
            escape("ok\n2026-12-06T00:00:00Z  INFO hanzo_node: forged\r"),
            "ok\\n2026-12-06T00:00:00Z  INFO hanzo_node: forged\\r"
        );
        assert_eq!(escape("\x1b[31mred\x1b[0m"), "\\u{1b}[31mred\\u{1b}[0m");
        assert_eq!(escape("a\tb\0c\u{7f}"), "a\\tb\\u{0}c\\u{7f}");
        assert_eq!(escape("x\u{2028}y\u{202e}z"), "x\\u{2028}y\\u{202e}z");
        assert!(
            !escape("\n\r\x1b\u{85}\u{2029}").contains(['\n', '\r', '\x1b', '\u{85}', '\u{2029}'])
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let m = "é".repeat(MAX_MESSAGE);
        let cut = truncate(Cow::Owned(m));
        assert!(cut.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        // Escaping happens first, so escapes cannot push a line past the cap.
        let newlines = "\n".repeat(MAX_MESSAGE);
        let cut = truncate(escape(&newlines));
        assert!(cut.len() <= MAX_MESSAGE + '…'.len_utf8());
    }

    #[test]
    fn each_plugin_has_its_own_bucket_and_drops_are_counted() {
        // One line an hour after a burst of five: nothing refills in a test.
        let quota = Quota {
            per_s: 1.0 / 3600.0,
            burst: 5.0,
        };
        let logs = PluginLogs::with_quota(Some(quota));
        let admitted = (0..20).filter(|_| logs.admit("noisy")).count();
        assert_eq!(admitted, 5);
        assert!(logs.admit("quiet"));
        assert_eq!(logs.dropped(), BTreeMap::from([("noisy".to_string(), 15)]));

        let unlimited = PluginLogs::new(&LogConfig {
            plugin_lines_per_s: 0,
            plugin_burst: 0,
        });
        assert!((0..1000).all(|_| unlimited.admit("any")));
        assert!(unlimited.dropped().is_empty());
    }
}
