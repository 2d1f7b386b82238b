//! Child processes the harness starts (gateways, pip). Each runs in its own
//! process group, registered here, so that it and everything it forks (uvicorn
//! workers, …) can be ended together: when its guard drops, on error, on
//! ctrl-c/SIGTERM and from the panic hook. Children also get
//! `PR_SET_PDEATHSIG`, so they die if the harness itself is killed hard.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
/// A scratch folder removed on ctrl-c (normal exits drop their TempDir).
static SCRATCH: Mutex<Option<std::path::PathBuf>> = Mutex::new(None);

pub fn remove_on_interrupt(dir: Option<std::path::PathBuf>) {
    *SCRATCH.lock().unwrap_or_else(|p| p.into_inner()) = dir;
}

/// A started child; ends its whole process group when dropped.
pub struct ChildGuard {
    pub child: Child,
    pub pgid: i32,
    pub name: String,
}

impl ChildGuard {
    /// Whether the child itself is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        kill_group(self.pgid);
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` in a new process group with stdout and stderr appended to
/// `log`, registered for cleanup.
///
/// Call it from the main thread: PR_SET_PDEATHSIG fires when the *thread*
/// that forked the child ends, so a child spawned from a pooled thread (tokio's
/// blocking pool reaps idle threads) would be killed under our feet.
pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> std::io::Result<ChildGuard> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    // Hold the lock across the spawn so a concurrent kill_all sees the group.
    let mut groups = GROUPS.lock().unwrap_or_else(|p| p.into_inner());
    let child = cmd.spawn()?;
    let pgid = child.id() as i32;
    groups.insert(pgid);
    Ok(ChildGuard {
        child,
        pgid,
        name: name.to_string(),
    })
}

/// SIGTERM to the group, then SIGKILL after a grace period.
pub fn kill_group(pgid: i32) {
    let registered = GROUPS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&pgid);
    if !registered {
        return;
    }
    term_then_kill(&[pgid]);
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

fn term_then_kill(groups: &[i32]) {
    for &g in groups {
        // SAFETY: plain kill(2) on a process group we created.
        unsafe { libc::kill(-g, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && groups.iter().any(|&g| group_alive(g)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &g in groups {
        if group_alive(g) {
            // SAFETY: as above.
            unsafe { libc::kill(-g, libc::SIGKILL) };
        }
    }
}

/// Ends every registered group (ctrl-c, panic, exit).
pub fn kill_all() {
    let groups: Vec<i32> = std::mem::take(&mut *GROUPS.lock().unwrap_or_else(|p| p.into_inner()))
        .into_iter()
        .collect();
    if !groups.is_empty() {
        term_then_kill(&groups);
    }
}

/// Installs the panic hook and the ctrl-c/SIGTERM handler (on the current
/// tokio runtime) that end all children before the harness exits.
pub fn install_cleanup_handlers() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_all();
        prev(info);
    }));
    tokio::spawn(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("\ninterrupted: stopping the gateways");
        kill_all();
        if let Some(d) = SCRATCH.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = std::fs::remove_dir_all(d);
        }
        std::process::exit(130);
    });
}

/// The CPU used during one step, split three ways: the gateway's process
/// group, this harness, and the rest of the machine.
pub struct CpuMeter {
    pgid: Option<i32>,
    target0: Option<f64>,
    self0: f64,
    system0: f64,
    started: std::time::Instant,
}

/// What a [`CpuMeter`] read over its step.
pub struct CpuUse {
    /// The gateway's CPU seconds (None without a process group: `direct`).
    pub target_s: Option<f64>,
    /// The same in % of one core.
    pub target_pct: Option<f64>,
    pub harness_pct: f64,
    /// Everything else the machine ran, % of one core.
    pub other_pct: f64,
}

impl CpuMeter {
    pub fn start(pgid: Option<i32>) -> CpuMeter {
        CpuMeter {
            pgid,
            target0: pgid.map(group_cpu_s),
            self0: self_cpu_s(),
            system0: system_busy_s(),
            started: std::time::Instant::now(),
        }
    }

    pub fn read(&self) -> CpuUse {
        let wall = self.started.elapsed().as_secs_f64();
        let target_s = self
            .pgid
            .map(group_cpu_s)
            .zip(self.target0)
            .map(|(a, b)| a - b);
        let target_pct = target_s.map(|s| s / wall * 100.0);
        let harness_pct = (self_cpu_s() - self.self0) / wall * 100.0;
        let other_pct = (system_busy_s() - self.system0) / wall * 100.0
            - harness_pct
            - target_pct.unwrap_or(0.0);
        CpuUse {
            target_s,
            target_pct,
            harness_pct,
            other_pct,
        }
    }
}

/// CPU time (user + system) in seconds of every process in group `pgid`,
/// read from /proc. Processes that already exited are not counted.
pub fn group_cpu_s(pgid: i32) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some((pgrp, t)) = stat_cpu(&format!("/proc/{pid}/stat"))
            && pgrp == pgid
        {
            ticks += t;
        }
    }
    ticks as f64 / clk_tck()
}

/// CPU time in seconds of this process (the mock upstream and the load generator).
pub fn self_cpu_s() -> f64 {
    stat_cpu("/proc/self/stat")
        .map(|(_, t)| t as f64 / clk_tck())
        .unwrap_or(0.0)
}

/// CPU time in seconds that the whole machine spent busy (all cores, all
/// processes), from /proc/stat.
pub fn system_busy_s() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user).
    let busy: u64 = [0usize, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| f.get(i))
        .sum();
    busy as f64 / clk_tck()
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// (process group, utime + stime in ticks) from a /proc/<pid>/stat file.
fn stat_cpu(path: &str) -> Option<(i32, u64)> {
    let s = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may contain spaces.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) … utime(14) stime(15).
    let pgrp = f.get(2)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((pgrp, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_group_is_ended_with_its_guard() {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new("sh");
        // The shell forks a grandchild; both must go.
        cmd.args(["-c", "sleep 30 & sleep 30; wait"]);
        let mut g = spawn("sleeper", cmd, log.path()).unwrap();
        let pgid = g.pgid;
        assert!(g.alive());
        std::thread::sleep(Duration::from_millis(100));
        assert!(group_alive(pgid));
        drop(g);
        assert!(!group_alive(pgid));
    }

    #[test]
    fn proc_stat_parsing_reads_group_and_cpu_time() {
        assert!(self_cpu_s() >= 0.0);
        let me = std::process::id() as i32;
        // SAFETY: getpgrp has no preconditions.
        let pgrp = unsafe { libc::getpgrp() };
        let (g, _) = stat_cpu(&format!("/proc/{me}/stat")).unwrap();
        assert_eq!(g, pgrp);
        assert!(system_busy_s() > 0.0);
    }
}
