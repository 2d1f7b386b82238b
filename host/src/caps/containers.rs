//! `hanzo:node/containers`: runs an image the operator granted the calling
//! plugin (`crate::grants::ContainerGrant`), with the run's limits checked
//! against the node's ceilings, on the node's engine (`crate::containers`):
//! once (`run`), or kept running to talk to over stdio (`process`, whose
//! handle gives the process back to the pool when dropped).

use crate::bindings::containers::{ContainerError, Host, HostProcess, RunResult, RunSpec};
use crate::bindings::resources::ContainerProcess;
use crate::call_state::{CallState, Services};
use crate::containers::process::Held;
use crate::containers::{ContainersConfig, Run, RunError};
use crate::grants::Capability;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Resource;

/// Longest command line and environment, in bytes, and most entries.
const MAX_ARGS_BYTES: usize = 256 * 1024;
const MAX_ARGS: usize = 4096;

impl Host for CallState {
    async fn run(&mut self, spec: RunSpec) -> wasmtime::Result<Result<RunResult, ContainerError>> {
        let (node, run) = match self.admit(spec)? {
            Ok(admitted) => admitted,
            Err(e) => return Ok(Err(e)),
        };
        Ok(match node.containers().run(run).await {
            Ok(o) => Ok(RunResult {
                exit_code: o.exit_code,
                stdout: o.stdout,
                stderr: o.stderr,
                truncated: o.truncated,
                timed_out: o.timed_out,
                duration_ms: o.duration.as_millis() as u64,
            }),
            Err(e) => Err(container_error(e)),
        })
    }
}

/// The node to run on, and the run as admitted.
type Admitted = (Arc<dyn Services>, Run);

impl CallState {
    /// The run `spec` asks for, when the plugin was granted containers, the
    /// image and (if asked) network, with its limits under the ceilings.
    fn admit(&self, spec: RunSpec) -> wasmtime::Result<Result<Admitted, ContainerError>> {
        let node = match self.granted(Capability::Containers)? {
            Ok(node) => node,
            Err(denied) => return Ok(Err(ContainerError::Denied(denied.to_string()))),
        };
        let grant = &self.grants.containers;
        if !grant.allows(&spec.image) {
            return Ok(Err(ContainerError::Denied(format!(
                "plugin `{}` is not granted the image `{}` (granted: {}; the operator lists \
                 images in `[plugins.{}] containers`)",
                self.grants.plugin,
                spec.image,
                grant.images.join(", "),
                self.grants.plugin
            ))));
        }
        if spec.network && !grant.network {
            return Ok(Err(ContainerError::Denied(format!(
                "plugin `{}` is not granted network for its containers \
                 (`[plugins.{}] container_network`)",
                self.grants.plugin, self.grants.plugin
            ))));
        }
        Ok(match checked(spec, &node.containers().config) {
            Ok(mut run) => {
                run.plugin = self.grants.plugin.clone();
                run.tenant = self.tenant.to_string();
                Ok((node, run))
            }
            Err(e) => Err(ContainerError::Invalid(e)),
        })
    }

    fn held(&mut self, process: &Resource<ContainerProcess>) -> wasmtime::Result<&mut Held> {
        Ok(&mut self.table().get_mut(process)?.0)
    }
}

/// Longest key of a process.
const MAX_KEY_BYTES: usize = 256;

impl HostProcess for CallState {
    async fn open(
        &mut self,
        key: String,
        spec: RunSpec,
        idle_ms: Option<u32>,
    ) -> wasmtime::Result<Result<Resource<ContainerProcess>, ContainerError>> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Ok(Err(ContainerError::Invalid(format!(
                "key: 1 to {MAX_KEY_BYTES} bytes"
            ))));
        }
        if idle_ms == Some(0) {
            return Ok(Err(ContainerError::Invalid(
                "idle-ms: must be more than 0".into(),
            )));
        }
        let (node, run) = match self.admit(spec)? {
            Ok(admitted) => admitted,
            Err(e) => return Ok(Err(e)),
        };
        let idle = idle_ms.map(|ms| Duration::from_millis(u64::from(ms)));
        match node.containers().open_process(&key, run, idle).await {
            Ok(held) => Ok(Ok(self.table().push(ContainerProcess(held))?)),
            Err(e) => Ok(Err(container_error(e))),
        }
    }

    async fn fresh(&mut self, process: Resource<ContainerProcess>) -> wasmtime::Result<bool> {
        Ok(self.held(&process)?.fresh)
    }

    async fn write(
        &mut self,
        process: Resource<ContainerProcess>,
        bytes: Vec<u8>,
    ) -> wasmtime::Result<Result<(), ContainerError>> {
        let held = self.held(&process)?;
        Ok(match held.process() {
            Ok(p) => p.write(&bytes).await.map_err(container_error),
            Err(e) => Err(container_error(e)),
        })
    }

    async fn read(
        &mut self,
        process: Resource<ContainerProcess>,
        max_bytes: u32,
        wait_ms: u32,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, ContainerError>> {
        let held = self.held(&process)?;
        let wait = Duration::from_millis(u64::from(wait_ms));
        Ok(match held.process() {
            // The read is a copy into the guest: bounded like any output.
            Ok(p) => p
                .read((max_bytes as usize).min(MAX_READ_BYTES), wait)
                .await
                .map_err(container_error),
            Err(e) => Err(container_error(e)),
        })
    }

    async fn stderr_tail(
        &mut self,
        process: Resource<ContainerProcess>,
    ) -> wasmtime::Result<Vec<u8>> {
        let held = self.held(&process)?;
        Ok(held.process().map(|p| p.stderr_tail()).unwrap_or_default())
    }

    async fn exit_code(
        &mut self,
        process: Resource<ContainerProcess>,
    ) -> wasmtime::Result<Option<i32>> {
        let held = self.held(&process)?;
        Ok(held.process().ok().and_then(|p| p.exit_code()))
    }

    async fn stop(&mut self, process: Resource<ContainerProcess>) -> wasmtime::Result<()> {
        self.held(&process)?.stop();
        Ok(())
    }

    async fn drop(&mut self, process: Resource<ContainerProcess>) -> wasmtime::Result<()> {
        // Gives the process back to its pool, still running.
        self.table().delete(process)?;
        Ok(())
    }
}

/// Most bytes one `read` hands the guest.
const MAX_READ_BYTES: usize = 1 << 20;

fn container_error(e: RunError) -> ContainerError {
    match e {
        RunError::Unavailable(m) => ContainerError::Unavailable(m),
        RunError::ImageNotFound(i) => ContainerError::ImageNotFound(i),
        RunError::Failed(m) => ContainerError::Failed(m),
    }
}

/// The run `spec` asks for, each limit at most the node's ceiling (none:
/// the ceiling); `Err` names the field that is not acceptable.
fn checked(spec: RunSpec, ceilings: &ContainersConfig) -> Result<Run, String> {
    if spec.image.trim().is_empty() {
        return Err("image: empty".into());
    }
    let limit = |field: &str, asked: Option<u32>, max: u32| match asked {
        None => Ok(max),
        Some(0) => Err(format!("{field}: must be more than 0")),
        Some(n) if n > max => Err(format!("{field}: {n} is over the node's ceiling of {max}")),
        Some(n) => Ok(n),
    };
    let args = spec.command.iter().map(String::len).sum::<usize>()
        + spec
            .env
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    if args > MAX_ARGS_BYTES || spec.command.len() + spec.env.len() > MAX_ARGS {
        return Err(format!(
            "command, env: more than {MAX_ARGS} entries or {MAX_ARGS_BYTES} bytes"
        ));
    }
    if let Some((k, _)) = spec
        .env
        .iter()
        .find(|(k, _)| k.is_empty() || k.contains('='))
    {
        return Err(format!("env: `{k}` is not a variable name"));
    }
    if spec.stdin.len() > ceilings.max_stdin_bytes as usize {
        return Err(format!(
            "stdin: {} bytes is over the node's ceiling of {}",
            spec.stdin.len(),
            ceilings.max_stdin_bytes
        ));
    }
    Ok(Run {
        memory_mb: limit("memory-mb", spec.memory_mb, ceilings.max_memory_mb)?,
        cpu_millis: limit("cpu-millis", spec.cpu_millis, ceilings.max_cpu_millis)?,
        pids: limit("pids", spec.pids, ceilings.max_pids)?,
        timeout: Duration::from_millis(u64::from(limit(
            "timeout-ms",
            spec.timeout_ms,
            ceilings.max_timeout_ms,
        )?)),
        image: spec.image,
        command: spec.command,
        env: spec.env,
        stdin: spec.stdin,
        workdir: spec.workdir,
        network: spec.network,
        plugin: String::new(),
        tenant: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunSpec {
        RunSpec {
            image: "tools:1".into(),
            command: vec!["sh".into()],
            env: vec![("A".into(), "1".into())],
            stdin: Vec::new(),
            workdir: None,
            memory_mb: None,
            cpu_millis: Some(250),
            pids: None,
            timeout_ms: None,
            network: false,
        }
    }

    #[test]
    fn limits_default_to_the_ceilings_and_may_not_pass_them() {
        let ceilings = ContainersConfig::default();
        let run = checked(spec(), &ceilings).unwrap();
        assert_eq!(run.memory_mb, ceilings.max_memory_mb);
        assert_eq!(run.cpu_millis, 250);
        assert_eq!(run.timeout, Duration::from_millis(60_000));
        let over = RunSpec {
            memory_mb: Some(ceilings.max_memory_mb + 1),
            ..spec()
        };
        assert!(
            checked(over, &ceilings)
                .unwrap_err()
                .starts_with("memory-mb")
        );
        let zero = RunSpec {
            pids: Some(0),
            ..spec()
        };
        assert!(checked(zero, &ceilings).unwrap_err().starts_with("pids"));
        let bad_env = RunSpec {
            env: vec![("A=B".into(), "1".into())],
            ..spec()
        };
        assert!(checked(bad_env, &ceilings).unwrap_err().starts_with("env"));
        let empty = RunSpec {
            image: " ".into(),
            ..spec()
        };
        assert!(checked(empty, &ceilings).is_err());
    }
}
