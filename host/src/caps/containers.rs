//! `hanzo:node/containers`: runs an image the operator granted the calling
//! plugin (`crate::grants::ContainerGrant`), with the run's limits checked
//! against the node's ceilings, on the node's engine (`crate::containers`).

use crate::bindings::containers::{ContainerError, Host, RunResult, RunSpec};
use crate::call_state::CallState;
use crate::containers::{ContainersConfig, Run, RunError};
use crate::grants::Capability;
use std::time::Duration;

/// Longest command line and environment, in bytes, and most entries.
const MAX_ARGS_BYTES: usize = 256 * 1024;
const MAX_ARGS: usize = 4096;

impl Host for CallState {
    async fn run(&mut self, spec: RunSpec) -> wasmtime::Result<Result<RunResult, ContainerError>> {
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
        let engine = node.containers();
        let run = match checked(spec, &engine.config) {
            Ok(mut run) => {
                run.plugin = self.grants.plugin.clone();
                run.tenant = self.tenant.to_string();
                run
            }
            Err(e) => return Ok(Err(ContainerError::Invalid(e))),
        };
        Ok(match engine.run(run).await {
            Ok(o) => Ok(RunResult {
                exit_code: o.exit_code,
                stdout: o.stdout,
                stderr: o.stderr,
                truncated: o.truncated,
                timed_out: o.timed_out,
                duration_ms: o.duration.as_millis() as u64,
            }),
            Err(RunError::Unavailable(m)) => Err(ContainerError::Unavailable(m)),
            Err(RunError::ImageNotFound(i)) => Err(ContainerError::ImageNotFound(i)),
            Err(RunError::Failed(m)) => Err(ContainerError::Failed(m)),
        })
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
