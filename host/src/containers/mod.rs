//! The container engine behind `hanzo:node/containers`: Docker's Engine API
//! (bollard) over its unix socket. A run creates a container labelled with
//! the node's id, attaches to it, starts it, feeds its standard input,
//! collects its output up to a cap, waits for it up to its timeout (then
//! kills it) and removes it, whatever happened: a run that is dropped half
//! way removes its container too. Containers a node left behind when it
//! crashed carry its label and are removed at its next start.
//!
//! Every container runs with no capabilities, `no-new-privileges`, bounded
//! memory (no swap), CPU and process count, and no network unless the run
//! asks for it (and the plugin was granted it: `caps::containers`).

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

pub mod process;

/// The label every container this node starts carries: the node's id.
pub const NODE_LABEL: &str = "dev.hanzo.node";
/// The node process that ran it (its pid and start time).
const PROCESS_LABEL: &str = "dev.hanzo.process";
/// The plugin and tenant that ran it, for the operator's `docker ps`.
const PLUGIN_LABEL: &str = "dev.hanzo.plugin";
const TENANT_LABEL: &str = "dev.hanzo.tenant";

/// `[containers]` in node.toml: where the engine is and the ceilings of
/// every run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainersConfig {
    /// The engine's unix socket; unset: `DOCKER_HOST`, else
    /// `/var/run/docker.sock`.
    pub socket: Option<String>,
    pub max_memory_mb: u32,
    /// CPU in thousandths of a core.
    pub max_cpu_millis: u32,
    pub max_pids: u32,
    pub max_timeout_ms: u32,
    /// Of standard output and of standard error, each.
    pub max_output_bytes: u32,
    /// Largest standard input a run may be given.
    pub max_stdin_bytes: u32,
    /// Processes (`containers.process`) one plugin keeps for one tenant,
    /// in use or idle.
    pub max_processes: u32,
    /// Processes the node keeps in all.
    pub max_processes_total: u32,
    /// Longest a process may wait unused before it is stopped.
    pub max_idle_ms: u32,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        ContainersConfig {
            socket: None,
            max_memory_mb: 512,
            max_cpu_millis: 1000,
            max_pids: 128,
            max_timeout_ms: 60_000,
            max_output_bytes: 1 << 20,
            max_stdin_bytes: 1 << 20,
            max_processes: 4,
            max_processes_total: 32,
            max_idle_ms: 300_000,
        }
    }
}

/// One run, its limits already checked against the ceilings.
#[derive(Debug, Clone)]
pub struct Run {
    pub image: String,
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
    pub workdir: Option<String>,
    pub memory_mb: u32,
    pub cpu_millis: u32,
    pub pids: u32,
    pub timeout: Duration,
    pub network: bool,
    pub plugin: String,
    pub tenant: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// None when the run was killed at its timeout.
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
    pub timed_out: bool,
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("no container engine: {0}")]
    Unavailable(String),
    #[error("no image `{0}`")]
    ImageNotFound(String),
    #[error("the container engine failed: {0}")]
    Failed(String),
}

/// The node's connection to its container engine, made on first use (a
/// node with no engine runs everything else).
pub struct Containers {
    pub config: ContainersConfig,
    /// This node's id, in [`NODE_LABEL`].
    node_id: String,
    /// This process, in [`PROCESS_LABEL`]: its own runs are not leftovers.
    process: String,
    docker: OnceCell<Docker>,
    /// Processes kept running between calls.
    pub processes: std::sync::Arc<process::Pool>,
}

impl Containers {
    pub fn new(config: ContainersConfig, node_id: String) -> Containers {
        Containers {
            config,
            node_id,
            process: format!(
                "{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
            docker: OnceCell::new(),
            processes: Default::default(),
        }
    }

    /// Where the engine is looked for, for messages.
    fn socket(&self) -> String {
        self.config
            .socket
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
    }

    /// The engine, its API version agreed on. A failure is not kept: the
    /// next run looks again (the engine may start later).
    async fn docker(&self) -> Result<&Docker, RunError> {
        self.docker
            .get_or_try_init(|| async {
                let socket = self.socket();
                let unavailable =
                    |e: bollard::errors::Error| RunError::Unavailable(format!("{socket}: {e}"));
                let path = socket.strip_prefix("unix://").unwrap_or(&socket);
                let docker = Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
                    .map_err(unavailable)?;
                // Engines older than the client's API answer only what they know.
                let docker = docker.negotiate_version().await.map_err(unavailable)?;
                docker.ping().await.map_err(unavailable)?;
                Ok(docker)
            })
            .await
    }

    /// Whether an engine answers, and its version (for the log at start).
    pub async fn probe(&self) -> Result<String, RunError> {
        let docker = self.docker().await?;
        let version = docker
            .version()
            .await
            .map_err(|e| RunError::Failed(e.to_string()))?;
        Ok(version.version.unwrap_or_default())
    }

    /// Removes the containers this node started before this process and did
    /// not remove (it crashed during a run): how many. Runs of this process
    /// are left alone, so this may run beside them.
    pub async fn remove_leftovers(&self) -> Result<usize, RunError> {
        let docker = self.docker().await?;
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{NODE_LABEL}={}", self.node_id)],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let left = docker
            .list_containers(Some(options))
            .await
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let mut removed = 0;
        for c in left
            .into_iter()
            .filter(|c| c.labels.as_ref().and_then(|l| l.get(PROCESS_LABEL)) != Some(&self.process))
        {
            if let Some(id) = c.id
                && remove(docker, &id).await.is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Runs `run` to its end or its timeout; its container is removed
    /// before this returns (or, dropped half way, right after).
    pub async fn run(&self, run: Run) -> Result<Outcome, RunError> {
        let docker = self.docker().await?;
        let container = self.create(docker, &run, false).await?;
        let id = container.id.clone().unwrap_or_default();
        let outcome = self.attach_and_wait(docker, &id, &run).await;
        container.remove_now().await;
        outcome
    }

    /// Creates the container `run` asks for, labelled as this node's, with
    /// every limit set; `interactive`: its standard input stays open after
    /// the first attached writer closes (a process talked to over stdio).
    async fn create(
        &self,
        docker: &Docker,
        run: &Run,
        interactive: bool,
    ) -> Result<Removal, RunError> {
        match docker.inspect_image(&run.image).await {
            Ok(_) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Err(RunError::ImageNotFound(run.image.clone())),
            Err(e) => return Err(RunError::Failed(e.to_string())),
        }
        let labels = HashMap::from([
            (NODE_LABEL.to_string(), self.node_id.clone()),
            (PROCESS_LABEL.to_string(), self.process.clone()),
            (PLUGIN_LABEL.to_string(), run.plugin.clone()),
            (TENANT_LABEL.to_string(), run.tenant.clone()),
        ]);
        let memory = i64::from(run.memory_mb) << 20;
        let body = ContainerCreateBody {
            image: Some(run.image.clone()),
            cmd: (!run.command.is_empty()).then(|| run.command.clone()),
            env: Some(run.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: run.workdir.clone(),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(!interactive),
            tty: Some(false),
            network_disabled: Some(!run.network),
            labels: Some(labels),
            host_config: Some(HostConfig {
                memory: Some(memory),
                memory_swap: Some(memory),
                nano_cpus: Some(i64::from(run.cpu_millis) * 1_000_000),
                pids_limit: Some(i64::from(run.pids)),
                network_mode: (!run.network).then(|| "none".to_string()),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(None, body)
            .await
            .map_err(|e| RunError::Failed(e.to_string()))?;
        Ok(Removal {
            docker: docker.clone(),
            id: Some(created.id),
        })
    }

    async fn attach_and_wait(
        &self,
        docker: &Docker,
        id: &str,
        run: &Run,
    ) -> Result<Outcome, RunError> {
        let mut attached = attach_and_start(docker, id).await?;
        let started = Instant::now();
        let stdin = run.stdin.clone();
        let mut input = attached.input;
        // Input is written while output is read: a command that answers as
        // it reads would otherwise fill its pipe and stall.
        let feed = async move {
            let _ = input.write_all(&stdin).await;
            // Closing the stream closes the command's standard input.
            let _ = input.shutdown().await;
        };
        let cap = self.config.max_output_bytes as usize;
        let mut output = Captured::new(cap);
        let collect = async {
            while let Some(item) = attached.output.next().await {
                match item {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        output.stdout(&message)
                    }
                    Ok(LogOutput::StdErr { message }) => output.stderr(&message),
                    Ok(LogOutput::StdIn { .. }) => {}
                    Err(_) => break,
                }
            }
        };
        let finished = tokio::time::timeout(run.timeout, async {
            tokio::join!(feed, collect);
            wait(docker, id).await
        })
        .await;
        let (exit_code, timed_out) = match finished {
            Ok(code) => (Some(code?), false),
            Err(_) => {
                let kill = KillContainerOptionsBuilder::default()
                    .signal("KILL")
                    .build();
                let _ = docker.kill_container(id, Some(kill)).await;
                (None, true)
            }
        };
        Ok(Outcome {
            exit_code,
            truncated: output.truncated,
            stdout: output.stdout,
            stderr: output.stderr,
            timed_out,
            duration: started.elapsed(),
        })
    }
}

/// Attaches to all three streams of container `id`, then starts it (so
/// that nothing it writes first is missed).
async fn attach_and_start(
    docker: &Docker,
    id: &str,
) -> Result<bollard::container::AttachContainerResults, RunError> {
    let failed = |e: bollard::errors::Error| RunError::Failed(e.to_string());
    let options = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .build();
    let attached = docker
        .attach_container(id, Some(options))
        .await
        .map_err(failed)?;
    docker.start_container(id, None).await.map_err(failed)?;
    Ok(attached)
}

/// The container's exit code, once it stopped.
async fn wait(docker: &Docker, id: &str) -> Result<i32, RunError> {
    let mut waiting = docker.wait_container(id, None);
    match waiting.next().await {
        Some(Ok(r)) => Ok(r.status_code as i32),
        // bollard reports a non-zero exit as an error carrying the code.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code as i32),
        Some(Err(e)) => Err(RunError::Failed(e.to_string())),
        None => Err(RunError::Failed(
            "the engine ended the wait without an exit code".into(),
        )),
    }
}

async fn remove(docker: &Docker, id: &str) -> Result<(), bollard::errors::Error> {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    docker.remove_container(id, Some(options)).await
}

/// A created container, removed when this is dropped: a run cancelled half
/// way (its caller gone, its plugin's time up) leaves nothing behind.
struct Removal {
    docker: Docker,
    id: Option<String>,
}

impl Removal {
    async fn remove_now(mut self) {
        if let Some(id) = self.id.take()
            && let Err(e) = remove(&self.docker, &id).await
        {
            tracing::warn!(container = %id, error = %e, "could not remove a container");
        }
    }
}

impl Drop for Removal {
    fn drop(&mut self) {
        if let Some(id) = self.id.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let docker = self.docker.clone();
            handle.spawn(async move {
                let _ = remove(&docker, &id).await;
            });
        }
    }
}

/// Standard output and error, each kept up to a cap.
struct Captured {
    cap: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    truncated: bool,
}

impl Captured {
    fn new(cap: usize) -> Captured {
        Captured {
            cap,
            stdout: Vec::new(),
            stderr: Vec::new(),
            truncated: false,
        }
    }

    fn stdout(&mut self, bytes: &[u8]) {
        self.truncated |= keep(&mut self.stdout, bytes, self.cap);
    }

    fn stderr(&mut self, bytes: &[u8]) {
        self.truncated |= keep(&mut self.stderr, bytes, self.cap);
    }
}

/// Appends what fits under `cap`; true when some did not.
fn keep(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    bytes.len() > room
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped_per_stream() {
        let mut c = Captured::new(4);
        c.stdout(b"abc");
        c.stderr(b"xy");
        assert!(!c.truncated);
        c.stdout(b"def");
        assert_eq!(c.stdout, b"abcd");
        assert!(c.truncated);
        assert_eq!(c.stderr, b"xy");
    }
}
