//! The node's NVIDIA GPUs through NVML (`nvml-wrapper`), loaded at run time:
//! without NVIDIA's driver (`libnvidia-ml.so.1`) the inventory is empty and
//! says why, never an error. Values are read live at each ask.

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::struct_wrappers::device::{MemoryInfo, Utilization};
use serde::Serialize;
use serde_json::{Value, json};

/// One GPU as the node reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuDevice {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    pub memory_total_mb: u64,
    pub memory_free_mb: u64,
    pub utilization_pct: Option<u32>,
    pub temperature_c: Option<u32>,
    pub confidential_computing: Option<bool>,
}

impl GpuDevice {
    /// A device from NVML's readings; those NVML could not give are `None`
    /// (memory: 0).
    pub fn from_readings(
        index: u32,
        name: String,
        uuid: String,
        memory: Option<MemoryInfo>,
        utilization: Option<Utilization>,
        temperature_c: Option<u32>,
        confidential_computing: Option<bool>,
    ) -> GpuDevice {
        let mb = |bytes: u64| bytes >> 20;
        GpuDevice {
            index,
            name,
            uuid,
            memory_total_mb: memory.as_ref().map_or(0, |m| mb(m.total)),
            memory_free_mb: memory.as_ref().map_or(0, |m| mb(m.free)),
            utilization_pct: utilization.map(|u| u.gpu.min(100)),
            temperature_c,
            confidential_computing,
        }
    }

    /// A GPU of which only the memory (MiB) is known: what the scheduler
    /// decides on.
    #[cfg(test)]
    pub fn with_memory(index: u32, total_mb: u64, free_mb: u64) -> GpuDevice {
        GpuDevice {
            index,
            name: String::new(),
            uuid: String::new(),
            memory_total_mb: total_mb,
            memory_free_mb: free_mb,
            utilization_pct: None,
            temperature_c: None,
            confidential_computing: None,
        }
    }
}

/// Whether a need for GPU memory can be met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuAdmission {
    /// Some GPU has that much free now.
    Now,
    /// GPUs large enough exist, but none has that much free (why).
    Later(String),
    /// Never on this node: no GPU, or none that large (why).
    Never(String),
}

/// Whether `devices` run in confidential-computing mode (none: no GPU, or
/// the driver does not say).
pub fn confidential_computing(devices: &[GpuDevice]) -> Option<bool> {
    if devices.is_empty() {
        return None;
    }
    devices
        .iter()
        .map(|d| d.confidential_computing)
        .try_fold(true, |all, cc| cc.map(|cc| all && cc))
}

/// What `devices` (`absent`: why there are none) say about a need for `mb` MiB.
pub fn admission(devices: &[GpuDevice], absent: Option<&str>, mb: u64) -> GpuAdmission {
    if devices.is_empty() {
        return GpuAdmission::Never(format!(
            "needs {mb} MiB of GPU memory; this node has no GPU ({})",
            absent.unwrap_or("NVML lists none")
        ));
    }
    let largest = devices.iter().map(|d| d.memory_total_mb).max().unwrap_or(0);
    if largest < mb {
        return GpuAdmission::Never(format!(
            "needs {mb} MiB of GPU memory; the largest GPU has {largest} MiB"
        ));
    }
    let best = devices.iter().map(|d| d.memory_free_mb).max().unwrap_or(0);
    if best >= mb {
        GpuAdmission::Now
    } else {
        GpuAdmission::Later(format!(
            "needs {mb} MiB of GPU memory; the most any GPU has free is {best} MiB"
        ))
    }
}

pub struct Gpus {
    nvml: Option<Nvml>,
    /// Why there is no NVML.
    absent: Option<String>,
}

impl Gpus {
    /// NVML from the system's driver.
    pub fn open() -> Gpus {
        Self::with(Nvml::init())
    }

    /// NVML from `library` (tests: a path with no library).
    pub fn open_library(library: &std::ffi::OsStr) -> Gpus {
        Self::with(Nvml::builder().lib_path(library).init())
    }

    fn with(nvml: Result<Nvml, nvml_wrapper::error::NvmlError>) -> Gpus {
        match nvml {
            Ok(nvml) => Gpus {
                nvml: Some(nvml),
                absent: None,
            },
            Err(e) => Gpus {
                nvml: None,
                absent: Some(format!("no NVIDIA driver: {e}")),
            },
        }
    }

    /// Why there are no GPUs, where NVML is missing.
    pub fn absent(&self) -> Option<&str> {
        self.absent.as_deref()
    }

    /// Every GPU now; empty without NVML.
    pub fn devices(&self) -> Vec<GpuDevice> {
        let Some(nvml) = &self.nvml else {
            return Vec::new();
        };
        let count = nvml.device_count().unwrap_or(0);
        // System-wide on NVML: every GPU is in CC mode or none is.
        let cc = nvml
            .device_by_index(0)
            .ok()
            .and_then(|d| d.is_cc_enabled().ok());
        (0..count)
            .filter_map(|i| {
                let d = nvml.device_by_index(i).ok()?;
                Some(GpuDevice::from_readings(
                    i,
                    d.name().unwrap_or_default(),
                    d.uuid().unwrap_or_default(),
                    d.memory_info().ok(),
                    d.utilization_rates().ok(),
                    d.temperature(TemperatureSensor::Gpu).ok(),
                    cc,
                ))
            })
            .collect()
    }

    /// Whether some GPU has `mb` MiB free now, may have later, or never will.
    pub fn admission(&self, mb: u64) -> GpuAdmission {
        admission(&self.devices(), self.absent.as_deref(), mb)
    }

    /// As `/v2/health` shows it.
    pub fn json(&self) -> Value {
        json!({
            "devices": self.devices(),
            "nvml": self.nvml.is_some(),
            "absent": self.absent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_driver_the_inventory_is_empty_and_says_why() {
        let gpus = Gpus::open_library(std::ffi::OsStr::new("/nonexistent/libnvidia-ml.so.1"));
        assert!(gpus.devices().is_empty());
        assert!(gpus.absent().unwrap().contains("no NVIDIA driver"));
        assert_eq!(confidential_computing(&gpus.devices()), None);
        match gpus.admission(1024) {
            GpuAdmission::Never(e) => {
                assert!(e.contains("needs 1024 MiB") && e.contains("no GPU"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(gpus.json()["devices"], json!([]));
    }

    #[test]
    fn readings_become_a_device() {
        let d = GpuDevice::from_readings(
            1,
            "NVIDIA H100 80GB HBM3".into(),
            "GPU-8f6e".into(),
            Some(MemoryInfo {
                free: 80_000 << 20,
                total: 81_559 << 20,
                used: 1_559 << 20,
                reserved: 0,
                version: 2,
            }),
            Some(Utilization {
                gpu: 37,
                memory: 12,
            }),
            Some(41),
            Some(true),
        );
        assert_eq!(d.memory_total_mb, 81_559);
        assert_eq!(d.memory_free_mb, 80_000);
        assert_eq!(d.utilization_pct, Some(37));
        let none = GpuDevice::from_readings(0, "x".into(), "u".into(), None, None, None, None);
        assert_eq!((none.memory_total_mb, none.utilization_pct), (0, None));
    }

    #[test]
    fn a_need_for_memory_is_met_now_later_or_never() {
        let gpu = |total: u64, free: u64| {
            let mb = |m: u64| m << 20;
            GpuDevice::from_readings(
                0,
                "GPU".into(),
                "GPU-0".into(),
                Some(MemoryInfo {
                    free: mb(free),
                    total: mb(total),
                    used: mb(total - free),
                    reserved: 0,
                    version: 2,
                }),
                None,
                None,
                None,
            )
        };
        let two = [gpu(24_000, 2_000), gpu(80_000, 30_000)];
        assert_eq!(admission(&two, None, 20_000), GpuAdmission::Now);
        match admission(&two, None, 40_000) {
            GpuAdmission::Later(why) => assert!(why.contains("30000 MiB"), "{why}"),
            other => panic!("{other:?}"),
        }
        match admission(&two, None, 100_000) {
            GpuAdmission::Never(why) => assert!(why.contains("largest GPU has 80000"), "{why}"),
            other => panic!("{other:?}"),
        }
        match admission(&[], Some("no NVIDIA driver"), 1) {
            GpuAdmission::Never(why) => assert!(why.contains("no NVIDIA driver"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn this_machine_reports_what_it_has() {
        // Real NVML where a driver is installed; empty where not.
        let gpus = Gpus::open();
        match gpus.absent() {
            Some(why) => assert!(gpus.devices().is_empty(), "{why}"),
            None => {
                for d in gpus.devices() {
                    assert!(d.memory_total_mb > 0, "{d:?}");
                    assert!(!d.uuid.is_empty());
                }
            }
        }
    }
}
