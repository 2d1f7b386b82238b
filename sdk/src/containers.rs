//! Containers (`hanzo:node/containers`), for tool runtimes: run an image the
//! operator granted, once, with a command, limits and no network unless
//! granted.
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
