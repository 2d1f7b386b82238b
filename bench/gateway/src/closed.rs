//! The closed loop: every target (the mock itself included) takes requests
//! back to back on a fixed number of connections, which measures what it can
//! serve on this machine (its capacity, next to the bare forwarder's in the
//! same round) and what one request costs it in CPU time (its process
//! group's CPU seconds over the answers: no idle wake-ups, as at a fixed
//! rate). The cost targets are judged on these numbers.

use crate::loadgen::{self, Endpoint, Mode};
use crate::procs;
use crate::report::{Percentiles, cpu_us_per_answer, round1};
use crate::verdict::median_of;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// CPU per request the gateway may use (µs): the targets.
pub const GOAL_CPU_US_JSON: f64 = 50.0;
pub const GOAL_CPU_US_STREAMING: f64 = 70.0;
/// Closed-loop capacity a gateway should reach, as a share of the bare forwarder's.
pub const GOAL_CAPACITY_VS_FORWARDER: f64 = 0.5;

#[derive(Debug, Clone, Serialize)]
pub struct ClosedStep {
    pub round: usize,
    pub mode: Mode,
    pub target: String,
    pub connections: usize,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    /// Valid answers per second.
    pub rps: f64,
    pub latency_us: Option<Percentiles>,
    /// The gateway's processes, % of one core (None for `direct`).
    pub target_cpu_pct: Option<f64>,
    /// The gateway's CPU time per valid answer (µs).
    pub cpu_us_per_req: Option<f64>,
    pub harness_cpu_pct: f64,
    pub other_cpu_pct: f64,
    /// Chat completions the mock answered during the step.
    pub upstream_calls: u64,
}

impl ClosedStep {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One closed-loop step: `pgid` is the target's process group (None for the
/// mock); a request unanswered `drain` after the step's end is a timeout.
#[allow(clippy::too_many_arguments)]
pub async fn step(
    round: usize,
    mode: Mode,
    target: &str,
    ep: &Endpoint,
    pgid: Option<i32>,
    connections: usize,
    duration: Duration,
    max_requests: u64,
    drain: Duration,
    upstream_calls: impl Fn() -> u64,
) -> ClosedStep {
    let upstream0 = upstream_calls();
    let meter = procs::CpuMeter::start(pgid);
    let s = loadgen::run_closed(ep, mode, connections, duration, max_requests, drain).await;
    let cpu = meter.read();
    ClosedStep {
        round,
        mode,
        target: target.to_string(),
        connections,
        ok: s.ok,
        errors: s.errors.clone(),
        first_error: s.first_error.clone(),
        rps: round1(s.rps()),
        latency_us: Percentiles::of(&s.latency),
        target_cpu_pct: cpu.target_pct.map(round1),
        cpu_us_per_req: cpu_us_per_answer(cpu.target_s, s.ok),
        harness_cpu_pct: round1(cpu.harness_pct),
        other_cpu_pct: round1(cpu.other_pct.max(0.0)),
        upstream_calls: upstream_calls() - upstream0,
    }
}

/// One cost target for one gateway and mode, over the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct CostVerdict {
    pub target: String,
    pub mode: Mode,
    /// `cpu_us_per_request` or `capacity_vs_forwarder`.
    pub measure: &'static str,
    /// Median over rounds.
    pub value: Option<f64>,
    /// Every round's value.
    pub rounds: Vec<f64>,
    pub goal: f64,
    pub met: Option<bool>,
    pub note: String,
}

/// The cost targets for every gateway other than the forwarder.
pub fn cost_verdicts(steps: &[ClosedStep], modes: &[Mode], targets: &[String]) -> Vec<CostVerdict> {
    let mut out = Vec::new();
    for t in targets
        .iter()
        .filter(|t| *t != "direct" && *t != "forwarder")
    {
        for &mode in modes {
            let mine: Vec<&ClosedStep> = steps
                .iter()
                .filter(|s| &s.target == t && s.mode == mode && s.ok > 0)
                .collect();
            let errors: u64 = steps
                .iter()
                .filter(|s| &s.target == t && s.mode == mode)
                .map(ClosedStep::error_count)
                .sum();
            let cpu: Vec<f64> = mine.iter().filter_map(|s| s.cpu_us_per_req).collect();
            let goal = match mode {
                Mode::NonStreaming => GOAL_CPU_US_JSON,
                Mode::Streaming => GOAL_CPU_US_STREAMING,
            };
            out.push(judge(
                t,
                mode,
                "cpu_us_per_request",
                cpu,
                errors,
                goal,
                |v, g| v <= g,
            ));
            let ratios: Vec<f64> = mine
                .iter()
                .filter_map(|s| {
                    let fw = steps.iter().find(|f| {
                        f.target == "forwarder" && f.mode == mode && f.round == s.round && f.ok > 0
                    })?;
                    Some((s.rps / fw.rps * 100.0).round() / 100.0)
                })
                .collect();
            out.push(judge(
                t,
                mode,
                "capacity_vs_forwarder",
                ratios,
                errors,
                GOAL_CAPACITY_VS_FORWARDER,
                |v, g| v >= g,
            ));
        }
    }
    out
}

fn judge(
    target: &str,
    mode: Mode,
    measure: &'static str,
    rounds: Vec<f64>,
    errors: u64,
    goal: f64,
    ok: fn(f64, f64) -> bool,
) -> CostVerdict {
    let value = median_of(rounds.clone());
    let (met, note) = match value {
        None => (None, "not measured".to_string()),
        Some(_) if errors > 0 => (Some(false), format!("{errors} errors")),
        Some(v) => {
            let all = rounds.iter().all(|&r| ok(r, goal));
            let none = rounds.iter().all(|&r| !ok(r, goal));
            match (ok(v, goal), all, none) {
                (true, true, _) => (Some(true), "every round".to_string()),
                (false, _, true) => (Some(false), "no round".to_string()),
                _ => (
                    None,
                    format!("rounds disagree ({rounds:?}); rerun on a quieter machine"),
                ),
            }
        }
    };
    CostVerdict {
        target: target.to_string(),
        mode,
        measure,
        value,
        rounds,
        goal,
        met,
        note,
    }
}

pub fn print(steps: &[ClosedStep], verdicts: &[CostVerdict], modes: &[Mode]) {
    if steps.is_empty() {
        return;
    }
    println!();
    println!(
        "closed loop: {} connections sending back to back; x fwd: capacity over the bare forwarder's in the same round; µs/req: the gateway's CPU time per answer",
        steps[0].connections
    );
    for &mode in modes {
        println!();
        println!("== closed loop, {} ==", mode.label());
        println!(
            "{:<14} {:>9} {:>6} {:>7}  {:>8} {:>8}  {:>7} {:>7}  {:>6} {:>6}",
            "target", "req/s", "x fwd", "err", "p50", "p99", "gw cpu", "µs/req", "h cpu", "other"
        );
        for s in steps.iter().filter(|s| s.mode == mode) {
            let fw = steps
                .iter()
                .find(|f| f.target == "forwarder" && f.mode == mode && f.round == s.round)
                .filter(|f| f.rps > 0.0);
            let label = if steps.iter().any(|s| s.round > 1) {
                format!("{} r{}", s.target, s.round)
            } else {
                s.target.clone()
            };
            let l = s.latency_us.as_ref();
            println!(
                "{:<14} {:>9.0} {:>6} {:>7}  {:>8.3} {:>8.3}  {:>7} {:>7}  {:>5.0}% {:>5.0}%",
                label,
                s.rps,
                fw.map_or("-".into(), |f| format!("{:.2}", s.rps / f.rps)),
                s.error_count(),
                l.map_or(f64::NAN, |p| p.p50 / 1000.0),
                l.map_or(f64::NAN, |p| p.p99 / 1000.0),
                s.target_cpu_pct.map_or("-".into(), |c| format!("{c:.0}%")),
                s.cpu_us_per_req.map_or("-".into(), |c| format!("{c:.0}")),
                s.harness_cpu_pct,
                s.other_cpu_pct,
            );
            if let Some(e) = &s.first_error {
                println!("{:<14} first error: {e}", "");
            }
        }
    }
    if verdicts.is_empty() {
        return;
    }
    println!();
    println!(
        "cost targets: CPU per request <= {GOAL_CPU_US_JSON} µs non-streaming, <= {GOAL_CPU_US_STREAMING} µs streaming; closed-loop capacity >= {GOAL_CAPACITY_VS_FORWARDER}x the bare forwarder; median over rounds"
    );
    for v in verdicts {
        let status = match v.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "?",
        };
        let value = match (v.measure, v.value) {
            (_, None) => "-".to_string(),
            ("cpu_us_per_request", Some(x)) => format!("{x:.0} µs/req"),
            (_, Some(x)) => format!("{x:.2}x fwd"),
        };
        println!(
            "  {:<11} {:<14} {:<22} {:>12}  {status} ({})",
            v.target,
            v.mode.label(),
            v.measure,
            value,
            v.note
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(round: usize, target: &str, rps: f64, cpu: Option<f64>) -> ClosedStep {
        ClosedStep {
            round,
            mode: Mode::NonStreaming,
            target: target.into(),
            connections: 64,
            ok: 100,
            errors: BTreeMap::new(),
            first_error: None,
            rps,
            latency_us: None,
            target_cpu_pct: None,
            cpu_us_per_req: cpu,
            harness_cpu_pct: 0.0,
            other_cpu_pct: 0.0,
            upstream_calls: 100,
        }
    }

    #[test]
    fn capacity_is_judged_against_the_forwarder_of_the_same_round() {
        let steps = vec![
            s(1, "forwarder", 40_000.0, Some(20.0)),
            s(1, "hanzo", 24_000.0, Some(45.0)),
            s(2, "forwarder", 30_000.0, Some(22.0)),
            s(2, "hanzo", 18_000.0, Some(48.0)),
        ];
        let v = cost_verdicts(&steps, &[Mode::NonStreaming], &["hanzo".into()]);
        assert_eq!(v.len(), 2);
        let cpu = &v[0];
        assert_eq!(cpu.measure, "cpu_us_per_request");
        assert_eq!(cpu.value, Some(46.5));
        assert_eq!(cpu.met, Some(true));
        let cap = &v[1];
        assert_eq!(cap.rounds, vec![0.6, 0.6]);
        assert_eq!(cap.met, Some(true));
    }

    #[test]
    fn rounds_that_disagree_give_no_verdict_and_errors_fail() {
        let steps = vec![
            s(1, "forwarder", 40_000.0, None),
            s(1, "hanzo", 10_000.0, Some(40.0)),
            s(2, "forwarder", 40_000.0, None),
            s(2, "hanzo", 10_000.0, Some(60.0)),
        ];
        let v = cost_verdicts(&steps, &[Mode::NonStreaming], &["hanzo".into()]);
        assert_eq!(v[0].met, None, "{}", v[0].note);
        assert_eq!(v[1].met, Some(false), "0.25x in both rounds");
        let mut bad = steps.clone();
        bad[1].errors.insert("io".into(), 1);
        let v = cost_verdicts(&bad, &[Mode::NonStreaming], &["hanzo".into()]);
        assert_eq!(v[0].met, Some(false));
    }
}
