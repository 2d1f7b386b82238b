//! The kernel's configfs-tsm report interface (Linux 6.7+): one directory
//! per request under `/sys/kernel/config/tsm/report`; write 64 bytes to
//! `inblob`, read the signed evidence from `outblob` (a TDX quote, an SNP
//! report) and the platform's certificates from `auxblob`. It is how a TDX
//! guest gets a quote without the `tdx-guest` crate (which needs nightly).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub const ROOT: &str = "/sys/kernel/config/tsm/report";

/// Evidence from configfs-tsm.
pub struct TsmReport {
    /// Which driver answered: `tdx_guest`, `sev_guest`, ...
    pub provider: String,
    pub outblob: Vec<u8>,
    /// Certificates, where the provider returns them.
    pub auxblob: Vec<u8>,
}

/// Whether the interface is there (a TEE guest with the driver loaded).
pub fn available(root: &Path) -> bool {
    root.is_dir()
}

/// Requests evidence over `inblob` through the report directory `root`.
pub fn report(root: &Path, inblob: &[u8; 64]) -> io::Result<TsmReport> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir: PathBuf = root.join(format!(
        "hanzo-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&dir)?;
    // The entry is removed whatever happens: the kernel keeps it otherwise.
    let result = (|| {
        std::fs::write(dir.join("inblob"), inblob)?;
        let outblob = std::fs::read(dir.join("outblob"))?;
        let provider = std::fs::read_to_string(dir.join("provider"))?
            .trim()
            .to_string();
        // Older kernels and some providers have no auxblob.
        let auxblob = std::fs::read(dir.join("auxblob")).unwrap_or_default();
        Ok(TsmReport {
            provider,
            outblob,
            auxblob,
        })
    })();
    let _ = std::fs::remove_dir(&dir);
    result
}
