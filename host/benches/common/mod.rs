//! What the benchmarks that run the real `hanzo-node` binary share: where
//! the built plugins are, installing one into a plugin folder, and a node
//! started on a free port (killed when dropped).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A folder `plugins/folder` holding `component` and `manifest`.
pub fn install(plugins: &Path, folder: &str, component: &Path, manifest: &str) {
    let dir = plugins.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let file = component.file_name().unwrap();
    std::fs::copy(component, dir.join(file)).unwrap();
    // The component line goes first: appended, it would land in the
    // manifest's last table.
    let rest: String = manifest
        .lines()
        .filter(|l| !l.trim_start().starts_with("component"))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = format!("component = \"{}\"\n{rest}", file.to_string_lossy());
    std::fs::write(dir.join("plugin.toml"), text).unwrap();
}

pub struct Node {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hanzo-node serve` on a free loopback port with `plugins`, its data
/// under `root`; returns once it listens.
pub fn start_node(root: &Path, plugins: &Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hanzo-node"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--plugins"])
        .arg(plugins)
        .arg("--data-dir")
        .arg(root.join("data"))
        .env("HANZO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hanzo-node");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "hanzo-node exited before listening"
        );
        if let Some(url) = line.trim().strip_prefix("listening on http://") {
            return Node {
                addr: url.parse().unwrap(),
                child,
            };
        }
    }
}
