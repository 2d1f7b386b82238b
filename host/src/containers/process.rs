//! Containers kept running between calls (`containers.process`): a server
//! that speaks over stdio, such as an MCP server, is started once and then
//! talked to by call after call, as a browser keeps a connection.
//!
//! A process belongs to one plugin and one tenant and is found again by the
//! plugin's key and the spec it was started with: another tenant's, or one
//! started from another spec, is never handed out. One call holds it at a
//! time ([`Held`]); when the call lets go it waits in the pool, still
//! running, and is stopped and removed once unused for its idle time. Each
//! plugin keeps at most `max_processes` per tenant and the node
//! `max_processes_total`; when a tenant's share is full, its longest-idle
//! process makes room. Standard output not read yet is kept up to the
//! output cap (a process that writes more unread is stopped), standard
//! error as a tail of that size.

use super::{Containers, Removal, Run, RunError};
use bollard::container::LogOutput;
use futures_util::StreamExt;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How often idle processes are looked over.
const SWEEP: Duration = Duration::from_secs(1);

/// Whose a process is and what it runs.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Key {
    plugin: String,
    tenant: String,
    key: String,
    /// Of everything the spec sets: a changed spec starts a new process.
    spec: blake3::Hash,
}

impl Key {
    fn of(run: &Run, key: &str) -> Key {
        let spec = format!(
            "{:?}",
            (
                &run.image,
                &run.command,
                &run.env,
                &run.stdin,
                &run.workdir,
                (run.memory_mb, run.cpu_millis, run.pids, run.network),
            )
        );
        Key {
            plugin: run.plugin.clone(),
            tenant: run.tenant.clone(),
            key: key.to_string(),
            spec: blake3::hash(spec.as_bytes()),
        }
    }

    fn owner(&self) -> (String, String) {
        (self.plugin.clone(), self.tenant.clone())
    }
}

/// What a process wrote, kept by the task that reads its streams.
#[derive(Default)]
struct Output {
    state: Mutex<OutputState>,
    changed: Notify,
}

#[derive(Default)]
struct OutputState {
    stdout: VecDeque<u8>,
    stderr: VecDeque<u8>,
    ended: bool,
    exit_code: Option<i32>,
    /// More standard output came than the cap holds unread.
    overflowed: bool,
}

/// One running container with its standard input open.
pub struct Process {
    key: Key,
    id: String,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: Arc<Output>,
    /// How long it may wait unused.
    idle: Duration,
    /// The longest one read waits.
    read_limit: Duration,
    /// Removes the container when the process goes, and with it ends the
    /// reading task (its stream closes).
    _container: Removal,
    _reader: AbortOnDrop,
    _permits: [OwnedSemaphorePermit; 2],
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Process {
    /// Writes `bytes` to its standard input.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), RunError> {
        let write = async {
            self.input.write_all(bytes).await?;
            self.input.flush().await
        };
        match tokio::time::timeout(self.read_limit, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(RunError::Failed(format!(
                "cannot write to the process's standard input: {e}"
            ))),
            Err(_) => Err(RunError::Failed(format!(
                "the process did not take its input within {} ms",
                self.read_limit.as_millis()
            ))),
        }
    }

    /// Standard output: what is kept, else what comes within `wait` (at
    /// most the spec's timeout), at most `max` bytes; empty when nothing
    /// came in time; `None` once it ended and all of it was read.
    pub async fn read(&mut self, max: usize, wait: Duration) -> Result<Option<Vec<u8>>, RunError> {
        let deadline = tokio::time::Instant::now() + wait.min(self.read_limit);
        loop {
            let changed = self.output.changed.notified();
            tokio::pin!(changed);
            // Registered before looking: a write in between still wakes it.
            changed.as_mut().enable();
            {
                let mut out = crate::lock(&self.output.state);
                if out.overflowed {
                    return Err(RunError::Failed(
                        "the process wrote more standard output than the node keeps unread \
                         (containers.max_output_bytes): stopped"
                            .into(),
                    ));
                }
                if !out.stdout.is_empty() {
                    let n = out.stdout.len().min(max.max(1));
                    return Ok(Some(out.stdout.drain(..n).collect()));
                }
                if out.ended {
                    return Ok(None);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Ok(Some(Vec::new()));
            }
        }
    }

    /// The last of its standard error.
    pub fn stderr_tail(&self) -> Vec<u8> {
        crate::lock(&self.output.state)
            .stderr
            .iter()
            .copied()
            .collect()
    }

    /// Its exit code, once it ended.
    pub fn exit_code(&self) -> Option<i32> {
        crate::lock(&self.output.state).exit_code
    }

    /// Whether it may serve another call: running, its output within bounds.
    fn reusable(&self) -> bool {
        let out = crate::lock(&self.output.state);
        !out.ended && !out.overflowed
    }
}

/// A process one call holds; dropped, it goes back to its pool (or away,
/// when it ended or was stopped).
pub struct Held {
    process: Option<Process>,
    pool: Weak<Pool>,
    /// This `open` started it.
    pub fresh: bool,
}

impl Held {
    pub fn process(&mut self) -> Result<&mut Process, RunError> {
        self.process
            .as_mut()
            .ok_or_else(|| RunError::Failed("the process was stopped".into()))
    }

    /// Stops and removes it now.
    pub fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            tracing::debug!(container = %p.id, plugin = %p.key.plugin, "process stopped by its plugin");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let (Some(process), Some(pool)) = (self.process.take(), self.pool.upgrade())
            && process.reusable()
        {
            pool.park(process);
        }
    }
}

/// The processes kept between calls.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<Key, Vec<Parked>>>,
    /// Each plugin's share per tenant.
    shares: Mutex<HashMap<(String, String), Arc<Semaphore>>>,
    /// The node's, sized at first use.
    total: OnceLock<Arc<Semaphore>>,
    sweeping: OnceLock<()>,
}

struct Parked {
    process: Process,
    since: Instant,
}

impl Pool {
    fn park(&self, process: Process) {
        let key = process.key.clone();
        crate::lock(&self.idle)
            .entry(key)
            .or_default()
            .push(Parked {
                process,
                since: Instant::now(),
            });
    }

    /// An idle process of `key`, if one is still running.
    fn take(&self, key: &Key) -> Option<Process> {
        let mut idle = crate::lock(&self.idle);
        let parked = idle.get_mut(key)?;
        while let Some(p) = parked.pop() {
            if p.process.reusable() {
                return Some(p.process);
            }
        }
        None
    }

    /// Stops the longest-idle process of `owner` (plugin, tenant): true
    /// when there was one.
    fn evict_one(&self, owner: &(String, String)) -> bool {
        let mut idle = crate::lock(&self.idle);
        let oldest = idle
            .iter()
            .filter(|(k, _)| k.plugin == owner.0 && k.tenant == owner.1)
            .flat_map(|(k, v)| {
                v.iter()
                    .enumerate()
                    .map(move |(i, p)| (p.since, k.clone(), i))
            })
            .min_by_key(|(since, _, _)| *since);
        let Some((_, key, at)) = oldest else {
            return false;
        };
        let list = idle.get_mut(&key).expect("found above");
        drop(list.remove(at));
        if list.is_empty() {
            idle.remove(&key);
        }
        true
    }

    /// Stops the processes unused past their idle time, and every one that
    /// ended; how many.
    fn sweep(&self) -> usize {
        let mut idle = crate::lock(&self.idle);
        let mut gone = Vec::new();
        idle.retain(|_, list| {
            gone.extend(list.extract_if(.., |p| {
                p.since.elapsed() >= p.process.idle || !p.process.reusable()
            }));
            !list.is_empty()
        });
        let n = gone.len();
        drop(idle);
        drop(gone);
        n
    }

    /// Stops and removes every idle process, waiting for the engine (the
    /// node is stopping); how many.
    pub async fn stop_idle(&self) -> usize {
        let gone: Vec<Parked> = crate::lock(&self.idle)
            .drain()
            .flat_map(|(_, v)| v)
            .collect();
        let n = gone.len();
        for parked in gone {
            let Process { _container, .. } = parked.process;
            _container.remove_now().await;
        }
        n
    }

    fn share(&self, owner: &(String, String), size: u32) -> Arc<Semaphore> {
        crate::lock(&self.shares)
            .entry(owner.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(size as usize)))
            .clone()
    }
}

impl Containers {
    /// The idle process of `run` under `key`, else a new one started (its
    /// stdin written); `idle`: how long it may wait unused, at most the
    /// ceiling.
    pub async fn open_process(
        &self,
        key: &str,
        run: Run,
        idle: Option<Duration>,
    ) -> Result<Held, RunError> {
        let pool = &self.processes;
        let pool_key = Key::of(&run, key);
        self.sweep_in_background();
        if let Some(mut process) = pool.take(&pool_key) {
            // Each `open`'s spec bounds its own reads and writes.
            process.read_limit = run.timeout;
            return Ok(Held {
                process: Some(process),
                pool: Arc::downgrade(pool),
                fresh: false,
            });
        }
        let permits = self.process_permits(&pool_key.owner(), run.timeout).await?;
        let docker = self.docker().await?;
        let container = self.create(docker, &run, true).await?;
        let id = container.id.clone().unwrap_or_default();
        let attached = super::attach_and_start(docker, &id).await?;
        let output = Arc::new(Output::default());
        let cap = self.config.max_output_bytes as usize;
        let reader = tokio::spawn(read_streams(
            docker.clone(),
            id.clone(),
            attached.output,
            output.clone(),
            cap,
        ));
        let ceiling = Duration::from_millis(u64::from(self.config.max_idle_ms));
        let mut process = Process {
            key: pool_key,
            id,
            input: attached.input,
            output,
            idle: idle.map_or(ceiling, |i| i.min(ceiling)),
            read_limit: run.timeout,
            _container: container,
            _reader: AbortOnDrop(reader),
            _permits: permits,
        };
        if !run.stdin.is_empty() {
            process.write(&run.stdin).await?;
        }
        tracing::debug!(container = %process.id, plugin = %run.plugin, tenant = %run.tenant, key, "process started");
        Ok(Held {
            process: Some(process),
            pool: Arc::downgrade(pool),
            fresh: true,
        })
    }

    /// A place in the owner's share and in the node's: an idle process of
    /// the owner makes room when its share is full; otherwise waits up to
    /// `wait` for one to be let go.
    async fn process_permits(
        &self,
        owner: &(String, String),
        wait: Duration,
    ) -> Result<[OwnedSemaphorePermit; 2], RunError> {
        let pool = &self.processes;
        let share = pool.share(owner, self.config.max_processes);
        let total = pool
            .total
            .get_or_init(|| Arc::new(Semaphore::new(self.config.max_processes_total as usize)))
            .clone();
        let full = |what: &str, setting: &str| {
            RunError::Failed(format!(
                "{what} processes are all in use (containers.{setting}), and none was let go \
                 within {} ms",
                wait.as_millis()
            ))
        };
        let mine = loop {
            match share.clone().try_acquire_owned() {
                Ok(p) => break p,
                Err(_) if pool.evict_one(owner) => continue,
                Err(_) => {
                    let whose = format!("plugin `{}`'s for tenant `{}`", owner.0, owner.1);
                    break tokio::time::timeout(wait, share.clone().acquire_owned())
                        .await
                        .map_err(|_| full(&whose, "max_processes"))?
                        .expect("a share is never closed");
                }
            }
        };
        let node = tokio::time::timeout(wait, total.acquire_owned())
            .await
            .map_err(|_| full("the node's", "max_processes_total"))?
            .expect("the node's share is never closed");
        Ok([mine, node])
    }

    /// Starts the task that stops idle processes, once.
    fn sweep_in_background(&self) {
        let pool = Arc::downgrade(&self.processes);
        self.processes.sweeping.get_or_init(|| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SWEEP);
                loop {
                    tick.tick().await;
                    let Some(pool) = pool.upgrade() else { return };
                    let n = pool.sweep();
                    if n > 0 {
                        tracing::debug!(stopped = n, "idle processes stopped");
                    }
                }
            });
        });
    }
}

/// Reads a process's streams into `output` until they close, then records
/// its exit code.
async fn read_streams(
    docker: bollard::Docker,
    id: String,
    mut stream: Pin<
        Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
    >,
    output: Arc<Output>,
    cap: usize,
) {
    while let Some(item) = stream.next().await {
        let mut out = crate::lock(&output.state);
        match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                if out.stdout.len() + message.len() > cap {
                    out.overflowed = true;
                } else {
                    out.stdout.extend(message.iter());
                }
            }
            Ok(LogOutput::StdErr { message }) => {
                out.stderr.extend(message.iter());
                let over = out.stderr.len().saturating_sub(cap);
                out.stderr.drain(..over);
            }
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(_) => break,
        }
        let overflowed = out.overflowed;
        drop(out);
        output.changed.notify_waiters();
        if overflowed {
            break;
        }
    }
    let code = super::wait(&docker, &id).await.ok();
    let mut out = crate::lock(&output.state);
    out.ended = true;
    out.exit_code = code;
    drop(out);
    output.changed.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tenant: &str) -> Run {
        Run {
            image: "mcp:1".into(),
            command: vec!["python3".into(), "/srv/server.py".into()],
            env: vec![("A".into(), "1".into())],
            stdin: Vec::new(),
            workdir: None,
            memory_mb: 256,
            cpu_millis: 1000,
            pids: 64,
            timeout: Duration::from_secs(60),
            network: false,
            plugin: "tools-mcp".into(),
            tenant: tenant.into(),
        }
    }

    /// An idle process serves only its own plugin, tenant, key and spec.
    #[test]
    fn a_process_is_found_again_only_by_its_owner_key_and_spec() {
        let base = Key::of(&run("acme"), "mcp/git");
        assert_eq!(base, Key::of(&run("acme"), "mcp/git"));
        assert_ne!(base, Key::of(&run("globex"), "mcp/git"));
        assert_ne!(base, Key::of(&run("acme"), "mcp/files"));
        let other_plugin = Run {
            plugin: "tools-other".into(),
            ..run("acme")
        };
        assert_ne!(base, Key::of(&other_plugin, "mcp/git"));
        let other_env = Run {
            env: vec![("A".into(), "2".into())],
            ..run("acme")
        };
        assert_ne!(base, Key::of(&other_env, "mcp/git"));
        let with_network = Run {
            network: true,
            ..run("acme")
        };
        assert_ne!(base, Key::of(&with_network, "mcp/git"));
        // The read timeout is not the process's: it may change between calls.
        let longer = Run {
            timeout: Duration::from_secs(5),
            ..run("acme")
        };
        assert_eq!(base, Key::of(&longer, "mcp/git"));
    }
}
