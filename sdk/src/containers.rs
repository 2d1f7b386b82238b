//! Containers (`hanzo:node/containers`), for tool runtimes: run an image the
//! operator granted, once, with a command, limits and no network unless
//! granted ([`run`]), or keep one running between calls and talk to it over
//! its standard input and output ([`Process`], since hanzo:node 0.3.1).
//!
//! ```no_run
//! use hanzo_node_sdk::containers::{self, RunSpec};
//!
//! let result = containers::run(&RunSpec {
//!     command: vec!["sh".into(), "-c".into(), "wc -c".into()],
//!     stdin: b"hello".to_vec(),
//!     ..RunSpec::image("hanzo-tools:1")
//! });
//! ```
//!
//! Access needs `permissions.containers` (the images) in the manifest, and
//! the operator's grant of those images in `[plugins.<name>] containers`;
//! otherwise every run fails with [`ContainerError::Denied`], naming it.

pub use crate::wit::hanzo::node::containers::{ContainerError, RunResult, RunSpec};

impl RunSpec {
    /// A run of `image`'s own command, with no input, the node's limits and
    /// no network.
    pub fn image(image: impl Into<String>) -> RunSpec {
        RunSpec {
            image: image.into(),
            command: Vec::new(),
            env: Vec::new(),
            stdin: Vec::new(),
            workdir: None,
            memory_mb: None,
            cpu_millis: None,
            pids: None,
            timeout_ms: None,
            network: false,
        }
    }
}

impl ContainerError {
    /// The error in words (the generated `Display` only names the case).
    pub fn message(&self) -> String {
        match self {
            ContainerError::Denied(m)
            | ContainerError::Unavailable(m)
            | ContainerError::Invalid(m)
            | ContainerError::Failed(m) => m.clone(),
            ContainerError::ImageNotFound(image) => {
                format!("the container engine has no image `{image}`")
            }
        }
    }
}

/// Runs `spec` to its end (or its timeout): the exit code and the output.
pub fn run(spec: &RunSpec) -> Result<RunResult, ContainerError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::containers::run(spec);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = spec;
        Err(ContainerError::Unavailable(crate::NO_HOST.to_string()))
    }
}

/// A container kept running between calls, talked to over stdio (a stdio
/// MCP server, a REPL). The node keeps it per plugin and tenant under the
/// key given to [`Process::open`]; dropping this gives it back, still
/// running, to the next `open` of the same key and spec.
///
/// ```no_run
/// use hanzo_node_sdk::containers::{Process, RunSpec};
///
/// let mut p = Process::open("repl", &RunSpec::image("python-tools:1"), None)?;
/// if p.fresh() {
///     // set it up: it is new
/// }
/// p.write(b"1 + 1\n")?;
/// let answer = p.read(4096, 1000)?;
/// # Ok::<(), hanzo_node_sdk::containers::ContainerError>(())
/// ```
pub struct Process {
    #[cfg(target_arch = "wasm32")]
    inner: crate::wit::hanzo::node::containers::Process,
}

impl Process {
    /// The idle process of this key and spec, else a new one (`spec.stdin`
    /// written first). `idle_ms`: how long it may wait unused (none: the
    /// node's ceiling).
    pub fn open(
        key: &str,
        spec: &RunSpec,
        idle_ms: Option<u32>,
    ) -> Result<Process, ContainerError> {
        #[cfg(target_arch = "wasm32")]
        return crate::wit::hanzo::node::containers::Process::open(key, spec, idle_ms)
            .map(|inner| Process { inner });
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (key, spec, idle_ms);
            Err(ContainerError::Unavailable(crate::NO_HOST.to_string()))
        }
    }

    /// Whether this `open` started it.
    pub fn fresh(&self) -> bool {
        #[cfg(target_arch = "wasm32")]
        return self.inner.fresh();
        #[cfg(not(target_arch = "wasm32"))]
        true
    }

    /// Writes to its standard input.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ContainerError> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.write(bytes);
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = bytes;
            Err(ContainerError::Unavailable(crate::NO_HOST.to_string()))
        }
    }

    /// Its standard output: what is there, else what comes within
    /// `wait_ms`, at most `max_bytes`. Empty: nothing in time; `None`: it
    /// ended and everything was read.
    pub fn read(
        &mut self,
        max_bytes: u32,
        wait_ms: u32,
    ) -> Result<Option<Vec<u8>>, ContainerError> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.read(max_bytes, wait_ms);
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (max_bytes, wait_ms);
            Err(ContainerError::Unavailable(crate::NO_HOST.to_string()))
        }
    }

    /// The last of its standard error.
    pub fn stderr_tail(&self) -> Vec<u8> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.stderr_tail();
        #[cfg(not(target_arch = "wasm32"))]
        Vec::new()
    }

    /// Its exit code, once it ended.
    pub fn exit_code(&self) -> Option<i32> {
        #[cfg(target_arch = "wasm32")]
        return self.inner.exit_code();
        #[cfg(not(target_arch = "wasm32"))]
        None
    }

    /// Stops and removes it now, instead of giving it back.
    pub fn stop(self) {
        #[cfg(target_arch = "wasm32")]
        self.inner.stop();
    }
}
