//! `gateway-bench`: the latency an LLM gateway adds over calling the upstream
//! directly. One command starts a mock OpenAI upstream on 127.0.0.1, the
//! gateways under test in front of it (hanzo-node, LiteLLM, TensorZero), and
//! drives each with an open-loop load at fixed request rates, non-streaming
//! and streaming, interleaving runs against the mock itself (`direct`) so that
//! every target step has a baseline measured just before and just after it.
//! Prints a table and writes the same as JSON.

mod closed;
mod forwarder;
mod loadgen;
mod procs;
mod report;
mod targets;
mod verdict;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use loadgen::{Endpoint, Mode, StepConfig};
use mock_upstream::openai::LoadMock;
use report::{Skipped, Step};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum TargetKind {
    Direct,
    /// A bare hyper forwarder (this binary's `forward`): the cost floor.
    Forwarder,
    Hanzo,
    /// hanzo-node with a tenant: every request authenticated by its API key.
    HanzoAuth,
    Litellm,
    Tensorzero,
}

impl TargetKind {
    fn name(self) -> &'static str {
        match self {
            TargetKind::Direct => "direct",
            TargetKind::Forwarder => "forwarder",
            TargetKind::Hanzo => "hanzo",
            TargetKind::HanzoAuth => "hanzo-auth",
            TargetKind::Litellm => "litellm",
            TargetKind::Tensorzero => "tensorzero",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    NonStreaming,
    Streaming,
}

/// LLM-gateway latency benchmark: added latency over a mock OpenAI upstream.
#[derive(Debug, Parser)]
#[command(name = "gateway-bench", version)]
struct Args {
    /// Targets to measure; `direct` (the mock itself) is always measured, as the baseline.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "direct,forwarder,hanzo,litellm,tensorzero"
    )]
    targets: Vec<TargetKind>,
    /// Request rates (requests per second), each one step.
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000")]
    rates: Vec<f64>,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "non-streaming,streaming"
    )]
    modes: Vec<ModeArg>,
    /// Seconds each step schedules requests for.
    #[arg(long, default_value_t = 5.0)]
    duration_s: f64,
    /// Most requests one step schedules.
    #[arg(long, default_value_t = 10_000)]
    max_requests: u64,
    /// Most keep-alive connections per step (a step opens at most one per
    /// request per second of rate, so that none idles into a server's
    /// keep-alive timeout). When all are busy, requests wait for one, and
    /// that wait counts in their latency.
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// After a step's last scheduled send, seconds to wait for answers.
    #[arg(long, default_value_t = 5.0)]
    drain_s: f64,
    /// Unrecorded warm-up per target and mode, at the lowest rate (seconds).
    #[arg(long, default_value_t = 1.0)]
    warmup_s: f64,
    /// Pause between steps (ms), so one step's stragglers don't spill over.
    #[arg(long, default_value_t = 300)]
    cooldown_ms: u64,
    /// Repeat the whole matrix this many times.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// A target step with more than 1% errors or a p99 above this (ms) is
    /// saturated: its higher rates in that mode are skipped.
    #[arg(long, default_value_t = 1000.0)]
    saturation_p99_ms: f64,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The hanzo-node binary [default: $CARGO_TARGET_DIR/release/hanzo-node or target/release/hanzo-node].
    #[arg(long)]
    hanzo_bin: Option<PathBuf>,
    /// Where the plugins' .wasm files are [default: $CARGO_TARGET_DIR/wasm32-wasip2/plugin].
    #[arg(long)]
    wasm_dir: Option<PathBuf>,
    /// The repository (for plugins/*/plugin.toml) [default: where this crate was built from].
    #[arg(long)]
    repo_root: Option<PathBuf>,
    /// Where the Python venvs live [default: $HOME/.cache/hanzo-node/bench-venv].
    #[arg(long)]
    venv_dir: Option<PathBuf>,
    /// Python used to create the venvs.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Don't pip install: skip Python targets whose venv is missing.
    #[arg(long)]
    no_install: bool,
    /// What pip installs for LiteLLM (pinned: 1.82.7 and 1.82.8 on PyPI were
    /// compromised; 1.82.6 is the last release before them).
    #[arg(long, default_value = targets::LITELLM_SPEC)]
    litellm_spec: String,
    /// LiteLLM proxy workers [default: the number of CPUs].
    #[arg(long)]
    litellm_workers: Option<usize>,
    /// What pip installs for TensorZero (its wheel carries the gateway).
    #[arg(long, default_value = targets::TENSORZERO_SPEC)]
    tensorzero_spec: String,
    /// Seconds a gateway gets to start answering.
    #[arg(long, default_value_t = 120)]
    startup_timeout_s: u64,
    /// Seconds a pip install may take.
    #[arg(long, default_value_t = 1200)]
    install_timeout_s: u64,
    /// Worker threads of the mock upstream's runtime.
    #[arg(long, default_value_t = 2)]
    mock_threads: usize,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    loadgen_threads: usize,
    /// Before each step, wait up to this long (seconds) for other processes
    /// on the machine (builds, …) to use less than a quarter of a core; the
    /// step then runs either way, and its `other` CPU column tells.
    #[arg(long, default_value_t = 15.0)]
    quiet_wait_s: f64,
    /// Keep the scratch folder (configs, logs) instead of deleting it.
    #[arg(long)]
    keep_tmp: bool,
    /// Write each step's answers here, one line per request
    /// (`<target>-<mode>-<rate>rps-r<round>-<step>.tsv`: scheduled send, latency
    /// and send lag in µs), to see when the slow ones happened.
    #[arg(long)]
    trace_dir: Option<PathBuf>,
    /// Closed-loop connections: after the open-loop rounds, each target
    /// (direct included) takes requests back to back on this many
    /// connections, per mode and round, for its capacity and its CPU per
    /// request; 0 skips the closed loop.
    #[arg(long, default_value_t = 64)]
    closed_connections: usize,
    /// Seconds each closed-loop step runs.
    #[arg(long, default_value_t = 5.0)]
    closed_duration_s: f64,
    /// Most requests one closed-loop step sends.
    #[arg(long, default_value_t = 500_000)]
    closed_max_requests: u64,
    /// Tokio worker threads of the bare forwarder [default: the number of CPUs].
    #[arg(long)]
    forwarder_threads: Option<usize>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs the bare forwarder on 127.0.0.1:PORT in front of UPSTREAM (the
    /// harness starts it as the `forwarder` target).
    Forward {
        #[arg(long)]
        upstream: std::net::SocketAddr,
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
}

#[derive(Serialize)]
struct TargetInfo {
    name: String,
    status: &'static str,
    about: Option<String>,
    reason: Option<String>,
    endpoint: Option<String>,
    mode_skips: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Meta {
    started_unix_s: u64,
    host_cpus: usize,
    cpu_model: String,
    rates: Vec<f64>,
    modes: Vec<Mode>,
    duration_s: f64,
    max_requests: u64,
    connections: usize,
    drain_s: f64,
    warmup_s: f64,
    rounds: usize,
    mock_threads: usize,
    loadgen_threads: usize,
    mock: String,
    order: &'static str,
}

#[derive(Serialize)]
struct Verdict {
    target: String,
    mode: Mode,
    rate: f64,
    goal_us: f64,
    #[serde(flatten)]
    judgement: verdict::Judgement,
}

#[derive(Serialize)]
struct Output {
    meta: Meta,
    targets: Vec<TargetInfo>,
    steps: Vec<Step>,
    summary: Vec<report::Summary>,
    skipped_steps: Vec<Skipped>,
    verdicts: Vec<Verdict>,
    closed_loop: Vec<closed::ClosedStep>,
    cost_targets: Vec<closed::CostVerdict>,
    warnings: Vec<String>,
}

/// The goal from the issue: p99 added latency ≤ 0.5 ms at 2k rps.
const GOAL_ADDED_P99_US: f64 = 500.0;
const GOAL_RATE: f64 = 2000.0;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Cmd::Forward {
        upstream,
        port,
        threads,
    }) = args.command
    {
        return forwarder::run(upstream, port, threads);
    }
    if args.rates.is_empty() || args.rates.iter().any(|r| !(*r > 0.0 && r.is_finite())) {
        bail!("--rates must be positive numbers");
    }
    if args.duration_s <= 0.0 || args.duration_s > 600.0 {
        bail!("--duration-s must be in (0, 600]");
    }
    let mock = LoadMock::start(args.mock_threads).context("starting the mock upstream")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.loadgen_threads.max(1))
        .thread_name("loadgen")
        .enable_all()
        .build()?;
    let result = rt.block_on(run(&args, &mock));
    procs::kill_all();
    rt.shutdown_timeout(Duration::from_secs(2));
    drop(mock);
    result
}

fn cargo_target_dir(repo: &std::path::Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// A target in the run: running, or skipped with the reason.
struct Slot {
    kind: TargetKind,
    endpoint: Endpoint,
    running: Option<targets::Running>,
    /// Per mode: why its remaining steps are skipped.
    stop: BTreeMap<Mode, String>,
}

impl Slot {
    /// The target's name, endpoint and process group for a step in `mode`;
    /// the reason instead when its steps in that mode are skipped (it
    /// saturated, or its process ended: then every mode is).
    fn ready_for(
        &mut self,
        mode: Mode,
        modes: &[Mode],
    ) -> Result<(&'static str, Endpoint, Option<i32>), String> {
        if let Some(why) = self.running.as_mut().and_then(|r| r.exited()) {
            for m in modes {
                self.stop.entry(*m).or_insert_with(|| why.clone());
            }
        }
        if let Some(why) = self.stop.get(&mode) {
            return Err(why.clone());
        }
        Ok((
            self.kind.name(),
            self.endpoint.clone(),
            self.running.as_ref().and_then(|r| r.pgid()),
        ))
    }
}

async fn run(args: &Args, mock: &LoadMock) -> anyhow::Result<()> {
    procs::install_cleanup_handlers();
    let repo_root = args
        .repo_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")));
    let repo_root = repo_root.canonicalize().unwrap_or(repo_root);
    let target_dir = cargo_target_dir(&repo_root);
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let work = tempfile::Builder::new()
        .prefix("gateway-bench-")
        .tempdir()?;
    if let Some(dir) = &args.trace_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if !args.keep_tmp {
        procs::remove_on_interrupt(Some(work.path().to_path_buf()));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let opts = targets::Options {
        hanzo_bin: args
            .hanzo_bin
            .clone()
            .unwrap_or_else(|| target_dir.join("release/hanzo-node")),
        wasm_dir: args
            .wasm_dir
            .clone()
            .unwrap_or_else(|| target_dir.join("wasm32-wasip2/plugin")),
        repo_root: repo_root.clone(),
        venv_root: args
            .venv_dir
            .clone()
            .unwrap_or_else(|| home.join(".cache/hanzo-node/bench-venv")),
        python: args.python.clone(),
        no_install: args.no_install,
        litellm_spec: args.litellm_spec.clone(),
        litellm_workers: args.litellm_workers.unwrap_or(cpus).max(1),
        tensorzero_spec: args.tensorzero_spec.clone(),
        startup_timeout: Duration::from_secs(args.startup_timeout_s),
        install_timeout: Duration::from_secs(args.install_timeout_s),
        forwarder_threads: args.forwarder_threads.unwrap_or(cpus).max(1),
        work: work.path().to_path_buf(),
    };
    let modes: Vec<Mode> = {
        let mut m: Vec<Mode> = args
            .modes
            .iter()
            .map(|m| match m {
                ModeArg::NonStreaming => Mode::NonStreaming,
                ModeArg::Streaming => Mode::Streaming,
            })
            .collect();
        m.dedup();
        m
    };
    let mut rates = args.rates.clone();
    rates.sort_by(|a, b| a.total_cmp(b));
    rates.dedup();

    eprintln!("mock upstream: {}", mock.base_url());
    let direct = Endpoint {
        addr: mock.addr,
        chat_path: "/v1/chat/completions".into(),
        model: "gpt-4o-mini".into(),
        authorization: "Bearer sk-bench",
    };
    for &m in &modes {
        loadgen::probe(&direct, m, Duration::from_secs(5))
            .await
            .map_err(|e| {
                anyhow::anyhow!("the mock upstream does not answer ({}): {e}", m.label())
            })?;
    }

    // Start the gateways, one after the other (on this thread: see procs::spawn).
    let mut kinds: Vec<TargetKind> = args.targets.clone();
    kinds.retain(|k| *k != TargetKind::Direct);
    kinds.sort();
    kinds.dedup();
    let mut infos = vec![TargetInfo {
        name: "direct".into(),
        status: "ran",
        about: Some(format!("the mock upstream itself, {}", mock.base_url())),
        reason: None,
        endpoint: Some(mock.addr.to_string()),
        mode_skips: BTreeMap::new(),
    }];
    let mut slots: Vec<Slot> = Vec::new();
    for kind in kinds {
        eprintln!("starting {} …", kind.name());
        let started = match kind {
            TargetKind::Forwarder => targets::forwarder(&opts, mock.addr).await,
            TargetKind::Hanzo => targets::hanzo(&opts, mock.addr, false).await,
            TargetKind::HanzoAuth => targets::hanzo(&opts, mock.addr, true).await,
            TargetKind::Litellm => targets::litellm(&opts, mock.addr).await,
            TargetKind::Tensorzero => targets::tensorzero(&opts, mock.addr).await,
            TargetKind::Direct => unreachable!(),
        };
        match started {
            Ok(r) => {
                eprintln!("  {} ready: {}", kind.name(), r.about);
                for (m, why) in &r.mode_skips {
                    eprintln!("  {} {}: skipped: {why}", kind.name(), m.label());
                }
                infos.push(TargetInfo {
                    name: kind.name().into(),
                    status: "ran",
                    about: Some(r.about.clone()),
                    reason: None,
                    endpoint: Some(format!(
                        "http://{}{}",
                        r.endpoint.addr, r.endpoint.chat_path
                    )),
                    mode_skips: r
                        .mode_skips
                        .iter()
                        .map(|(m, w)| (m.label().to_string(), w.clone()))
                        .collect(),
                });
                slots.push(Slot {
                    kind,
                    endpoint: r.endpoint.clone(),
                    stop: r.mode_skips.clone(),
                    running: Some(r),
                });
            }
            Err(reason) => {
                eprintln!("  {} skipped: {reason}", kind.name());
                infos.push(TargetInfo {
                    name: kind.name().into(),
                    status: "skipped",
                    about: None,
                    reason: Some(reason),
                    endpoint: None,
                    mode_skips: BTreeMap::new(),
                });
            }
        }
    }

    let step_cfg = |rate: f64, duration: f64| StepConfig {
        rate,
        duration: Duration::from_secs_f64(duration),
        max_requests: args.max_requests,
        connections: args.connections.min(rate.ceil() as usize).max(8),
        drain: Duration::from_secs_f64(args.drain_s),
        trace: None,
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut closed_steps: Vec<closed::ClosedStep> = Vec::new();
    let total_steps = args.rounds * modes.len() * rates.len() * (2 * slots.len() + 1);
    let started = Instant::now();
    let mut seq = 0usize;

    for round in 1..=args.rounds.max(1) {
        for &mode in &modes {
            if round == 1 && args.warmup_s > 0.0 {
                let cfg = step_cfg(rates[0], args.warmup_s);
                eprintln!(
                    "warm-up, {}: {} s at {} rps per target",
                    mode.label(),
                    args.warmup_s,
                    rates[0]
                );
                let _ = loadgen::run_step(&direct, mode, &cfg).await;
                for slot in slots.iter_mut() {
                    if slot.stop.contains_key(&mode) {
                        continue;
                    }
                    let w = loadgen::run_step(&slot.endpoint, mode, &cfg).await;
                    if w.ok == 0 {
                        let why = format!(
                            "warm-up failed: {}",
                            w.first_error
                                .clone()
                                .unwrap_or_else(|| "no valid answer".into())
                        );
                        eprintln!("  {} {}: {why}", slot.kind.name(), mode.label());
                        slot.stop.insert(mode, why);
                    }
                    tokio::time::sleep(Duration::from_millis(args.cooldown_ms)).await;
                }
            }
            for &rate in &rates {
                let cfg = step_cfg(rate, args.duration_s);
                // direct, T1, direct, T2, …, direct: every target step has a
                // direct run just before and just after it.
                let mut order: Vec<Option<usize>> = vec![None];
                for i in 0..slots.len() {
                    order.push(Some(i));
                    order.push(None);
                }
                for which in order {
                    let (name, endpoint, pgid) = match which {
                        None => ("direct", direct.clone(), None),
                        Some(i) => match slots[i].ready_for(mode, &modes) {
                            Ok(ready) => ready,
                            Err(why) => {
                                skipped.push(Skipped {
                                    round,
                                    mode,
                                    rate,
                                    target: slots[i].kind.name().into(),
                                    reason: why,
                                });
                                continue;
                            }
                        },
                    };
                    // Two directs in a row (the target between was skipped): one is enough.
                    if which.is_none()
                        && steps.last().is_some_and(|s| {
                            s.target == "direct"
                                && s.round == round
                                && s.mode == mode
                                && s.rate == rate
                        })
                    {
                        continue;
                    }
                    wait_quiet(Duration::from_secs_f64(args.quiet_wait_s), &slots).await;
                    seq += 1;
                    let upstream0 = mock.counters.completions();
                    let cfg = StepConfig {
                        trace: args.trace_dir.as_ref().map(|dir| {
                            dir.join(format!(
                                "{name}-{}-{rate}rps-r{round}-{seq}.tsv",
                                mode.label()
                            ))
                        }),
                        ..cfg.clone()
                    };
                    let meter = procs::CpuMeter::start(pgid);
                    let stats = loadgen::run_step(&endpoint, mode, &cfg).await;
                    let cpu = meter.read();
                    let upstream = mock.counters.completions() - upstream0;
                    let step = Step::from_stats(
                        report::StepContext {
                            seq,
                            round,
                            mode,
                            rate,
                            target: name,
                            connections: cfg.connections,
                            target_cpu_pct: cpu.target_pct,
                            target_cpu_s: cpu.target_s,
                            harness_cpu_pct: cpu.harness_pct,
                            other_cpu_pct: cpu.other_pct,
                            upstream_calls: upstream,
                        },
                        &stats,
                    );
                    let l = step.latency_us.as_ref();
                    eprintln!(
                        "[{:>3}/{:<3} {:>4.0}s] {:<13} {:>6} rps {:<10}  ok {:>5}/{:<5} err {:>4}  p50 {:>8.3} ms  p99 {:>8.3} ms  send-lag p99 {:.3} ms",
                        seq,
                        total_steps,
                        started.elapsed().as_secs_f64(),
                        mode.label(),
                        rate,
                        name,
                        step.ok,
                        step.scheduled,
                        step.error_count,
                        l.map_or(f64::NAN, |p| p.p50 / 1000.0),
                        l.map_or(f64::NAN, |p| p.p99 / 1000.0),
                        step.send_lag_us
                            .as_ref()
                            .map_or(f64::NAN, |p| p.p99 / 1000.0),
                    );
                    if let Some(e) = &step.first_error {
                        eprintln!("      first error: {e}");
                    }
                    // A gateway that could not keep up is not driven harder.
                    if let Some(i) = which {
                        let err_frac = step.error_count as f64 / step.scheduled.max(1) as f64;
                        let p99_ms = l.map_or(f64::INFINITY, |p| p.p99 / 1000.0);
                        if err_frac > 0.01 || p99_ms > args.saturation_p99_ms {
                            slots[i].stop.insert(
                                mode,
                                format!(
                                    "saturated at {rate} rps ({} errors of {}, p99 {p99_ms:.1} ms)",
                                    step.error_count, step.scheduled
                                ),
                            );
                        }
                        if step.error_count > 0 {
                            // Let an overloaded gateway finish its backlog before the next step.
                            settle(&endpoint, mode).await;
                        }
                    }
                    steps.push(step);
                    tokio::time::sleep(Duration::from_millis(args.cooldown_ms)).await;
                }
            }
            if args.closed_connections > 0 {
                let mut order: Vec<Option<usize>> = vec![None];
                order.extend((0..slots.len()).map(Some));
                for which in order {
                    let (name, endpoint, pgid) = match which {
                        None => ("direct", direct.clone(), None),
                        Some(i) => match slots[i].ready_for(mode, &modes) {
                            Ok(ready) => ready,
                            Err(_) => continue,
                        },
                    };
                    wait_quiet(Duration::from_secs_f64(args.quiet_wait_s), &slots).await;
                    let c = closed::step(
                        round,
                        mode,
                        name,
                        &endpoint,
                        pgid,
                        args.closed_connections,
                        Duration::from_secs_f64(args.closed_duration_s),
                        args.closed_max_requests,
                        Duration::from_secs_f64(args.drain_s),
                        || mock.counters.completions(),
                    )
                    .await;
                    eprintln!(
                        "[closed {:>4.0}s] {:<13} {:<10}  ok {:>7} err {:>4}  {:>8.0} req/s  cpu {}",
                        started.elapsed().as_secs_f64(),
                        mode.label(),
                        name,
                        c.ok,
                        c.error_count(),
                        c.rps,
                        c.cpu_us_per_req
                            .map_or("-".into(), |u| format!("{u:.0} µs/req")),
                    );
                    if c.error_count() > 0 && which.is_some() {
                        settle(&endpoint, mode).await;
                    }
                    closed_steps.push(c);
                    tokio::time::sleep(Duration::from_millis(args.cooldown_ms)).await;
                }
            }
        }
    }

    let summaries = report::summarize(&steps);
    let mut target_names: Vec<String> = vec!["direct".into()];
    target_names.extend(slots.iter().map(|s| s.kind.name().to_string()));
    for i in &infos {
        if i.status == "skipped" && !target_names.contains(&i.name) {
            target_names.push(i.name.clone());
        }
    }

    // Honesty checks.
    let busy: Vec<&Step> = steps.iter().filter(|s| s.other_cpu_pct > 20.0).collect();
    if !busy.is_empty() {
        warnings.push(format!(
            "{} of {} steps ran while other processes used more than 20% of a core (worst {:.0}%, steps {}): the machine was not quiet, so those numbers carry its noise",
            busy.len(),
            steps.len(),
            busy.iter().map(|s| s.other_cpu_pct).fold(0.0, f64::max),
            busy.iter().map(|s| s.seq.to_string()).collect::<Vec<_>>().join(",")
        ));
    }
    for s in &steps {
        if let Some(d) = &s.dispatch_lag_us
            && (d.p99 > 500.0 || s.dispatched < s.scheduled)
        {
            warnings.push(format!(
                "step {} ({} {} rps {}): the load generator fell behind its schedule (dispatch lag p99 {:.3} ms, {} of {} dispatched); its latencies include that lateness",
                s.seq, s.target, s.rate, s.mode.label(), d.p99 / 1000.0, s.dispatched, s.scheduled
            ));
        }
        if s.max_inflight >= s.connections {
            warnings.push(format!(
                "step {} ({} {} rps {}): all {} connections were busy at once, so requests queued for a free one (the wait counts in latency: a target that slow at this rate is saturated; else raise --connections)",
                s.seq, s.target, s.rate, s.mode.label(), s.connections
            ));
        }
        if s.target != "direct" && s.ok > 0 && s.upstream_calls < s.ok {
            warnings.push(format!(
                "step {} ({} {} rps {}): {} valid answers but only {} upstream calls: some answers did not reach the mock (cache?)",
                s.seq, s.target, s.rate, s.mode.label(), s.ok, s.upstream_calls
            ));
        }
        if s.target != "direct" && s.upstream_calls > s.dispatched {
            warnings.push(format!(
                "step {} ({} {} rps {}): {} upstream calls for {} requests (retries?)",
                s.seq,
                s.target,
                s.rate,
                s.mode.label(),
                s.upstream_calls,
                s.dispatched
            ));
        }
    }
    for &mode in &modes {
        for &rate in &rates {
            let p99s: Vec<f64> = steps
                .iter()
                .filter(|s| s.target == "direct" && s.mode == mode && s.rate == rate)
                .filter_map(|s| s.latency_us.as_ref().map(|p| p.p99))
                .collect();
            if p99s.len() > 1 {
                let lo = p99s.iter().cloned().fold(f64::MAX, f64::min);
                let hi = p99s.iter().cloned().fold(f64::MIN, f64::max);
                if hi - lo > GOAL_ADDED_P99_US / 2.0 {
                    warnings.push(format!(
                        "direct {} at {rate} rps: p99 varied from {:.3} to {:.3} ms between runs; added-p99 differences smaller than that are machine noise",
                        mode.label(),
                        lo / 1000.0,
                        hi / 1000.0
                    ));
                }
            }
        }
    }

    // The goal, for every target measured at the goal's rate.
    let mut verdicts = Vec::new();
    for slot in &slots {
        for &mode in &modes {
            let at: Vec<&report::Summary> = summaries
                .iter()
                .filter(|x| x.target == slot.kind.name() && x.mode == mode && x.rate == GOAL_RATE)
                .collect();
            if at.is_empty() {
                let why = skipped
                    .iter()
                    .find(|k| k.target == slot.kind.name() && k.mode == mode && k.rate == GOAL_RATE)
                    .map(|k| k.reason.clone())
                    .unwrap_or_else(|| format!("{GOAL_RATE} rps not in --rates"));
                let mut judgement = verdict::judge(&[], &[], 0, GOAL_ADDED_P99_US);
                judgement.note = format!("not measured: {why}");
                verdicts.push(Verdict {
                    target: slot.kind.name().into(),
                    mode,
                    rate: GOAL_RATE,
                    goal_us: GOAL_ADDED_P99_US,
                    judgement,
                });
                continue;
            }
            let added: Vec<f64> = at.iter().filter_map(|x| x.added_p99_us).collect();
            let spreads: Vec<f64> = at.iter().filter_map(|x| x.baseline_p99_spread_us).collect();
            let errors: u64 = at.iter().map(|x| x.errors).sum();
            verdicts.push(Verdict {
                target: slot.kind.name().into(),
                mode,
                rate: GOAL_RATE,
                goal_us: GOAL_ADDED_P99_US,
                judgement: verdict::judge(&added, &spreads, errors, GOAL_ADDED_P99_US),
            });
        }
    }

    report::print_table(&steps, &summaries, &skipped, &modes, &rates, &target_names);
    println!();
    println!("targets:");
    for i in &infos {
        match (&i.about, &i.reason) {
            (Some(a), _) => println!("  {:<11} {a}", i.name),
            (None, Some(r)) => println!("  {:<11} skipped: {r}", i.name),
            _ => {}
        }
        for (m, why) in &i.mode_skips {
            println!("  {:<11} {m} skipped: {why}", "");
        }
    }
    println!();
    println!(
        "goal: added p99 <= {:.1} ms at {GOAL_RATE} rps ({} cpus: {}); median over rounds",
        GOAL_ADDED_P99_US / 1000.0,
        cpus,
        cpu_model()
    );
    for v in &verdicts {
        let j = &v.judgement;
        let status = match (j.met, j.added_p99_us) {
            (Some(true), _) => "met",
            (Some(false), _) => "NOT met",
            (None, Some(_)) => "?",
            (None, None) => "-",
        };
        println!(
            "  {:<11} {:<14} added p99 {:>9}  {status} {}",
            v.target,
            v.mode.label(),
            j.added_p99_us
                .map_or("-".into(), |u| format!("{:+.3} ms", u / 1000.0)),
            j.note
        );
    }
    let cost_targets = closed::cost_verdicts(&closed_steps, &modes, &target_names);
    closed::print(&closed_steps, &cost_targets, &modes);
    for c in &closed_steps {
        if c.other_cpu_pct > 20.0 {
            warnings.push(format!(
                "closed loop {} {} round {}: other processes used {:.0}% of a core: the machine was not quiet",
                c.target,
                c.mode.label(),
                c.round,
                c.other_cpu_pct
            ));
        }
        if c.target != "direct" && c.upstream_calls < c.ok {
            warnings.push(format!(
                "closed loop {} {} round {}: {} valid answers but only {} upstream calls (cache?)",
                c.target,
                c.mode.label(),
                c.round,
                c.ok,
                c.upstream_calls
            ));
        }
    }
    if !warnings.is_empty() {
        println!();
        println!("warnings:");
        for w in &warnings {
            println!("  - {w}");
        }
    }

    if let Some(path) = &args.json {
        let out = Output {
            meta: Meta {
                started_unix_s: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    .saturating_sub(started.elapsed().as_secs()),
                host_cpus: cpus,
                cpu_model: cpu_model(),
                rates: rates.clone(),
                modes: modes.clone(),
                duration_s: args.duration_s,
                max_requests: args.max_requests,
                connections: args.connections,
                drain_s: args.drain_s,
                warmup_s: args.warmup_s,
                rounds: args.rounds,
                mock_threads: args.mock_threads,
                loadgen_threads: args.loadgen_threads,
                mock: mock.base_url(),
                order: "per round, mode and rate: direct, target 1, direct, target 2, …, direct",
            },
            targets: infos,
            steps,
            summary: summaries,
            skipped_steps: skipped,
            verdicts,
            closed_loop: closed_steps,
            cost_targets,
            warnings,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!();
        println!("JSON: {}", path.display());
    }

    // Stop the gateways before the scratch folder goes away.
    drop(slots);
    procs::kill_all();
    if args.keep_tmp {
        let kept = work.keep();
        println!("scratch folder kept: {}", kept.display());
    }
    Ok(())
}

/// Waits (bounded) until the rest of the machine, other than this harness
/// and the gateways, uses less than 25% of a core over 300 ms.
async fn wait_quiet(max: Duration, slots: &[Slot]) {
    if max.is_zero() {
        return;
    }
    let groups: Vec<i32> = slots
        .iter()
        .filter_map(|s| s.running.as_ref().and_then(|r| r.pgid()))
        .collect();
    let until = Instant::now() + max;
    let mut told = false;
    loop {
        let ours =
            || procs::self_cpu_s() + groups.iter().map(|&g| procs::group_cpu_s(g)).sum::<f64>();
        let (sys0, ours0, t0) = (procs::system_busy_s(), ours(), Instant::now());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let other = ((procs::system_busy_s() - sys0) - (ours() - ours0))
            / t0.elapsed().as_secs_f64()
            * 100.0;
        if other < 25.0 {
            return;
        }
        if Instant::now() >= until {
            eprintln!(
                "      the machine is still busy (other processes at {other:.0}% of a core): measuring anyway"
            );
            return;
        }
        if !told {
            eprintln!(
                "      waiting for the machine to quiet down (other processes at {other:.0}% of a core) …"
            );
            told = true;
        }
    }
}

/// After a step with errors, waits (bounded) until the target answers a
/// single request again within a second.
async fn settle(ep: &Endpoint, mode: Mode) {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let t = Instant::now();
        if loadgen::probe(ep, mode, Duration::from_secs(5))
            .await
            .is_ok()
            && t.elapsed() < Duration::from_secs(1)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
