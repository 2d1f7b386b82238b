//! Results: one record per measured step, the summary rows (per target, mode
//! and rate, with the latency added over the `direct` runs next to it), the
//! printed table and the JSON file.

use crate::loadgen::{Hist, Mode, StepStats};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// In microseconds; None for an empty histogram.
    pub fn of(h: &Hist) -> Option<Percentiles> {
        (!h.is_empty()).then(|| Percentiles {
            p50: h.value_at_quantile(0.50) as f64,
            p90: h.value_at_quantile(0.90) as f64,
            p99: h.value_at_quantile(0.99) as f64,
            max: h.max() as f64,
            mean: (h.mean() * 10.0).round() / 10.0,
        })
    }
}

/// One measured step, in the order run.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Position in the run order.
    pub seq: usize,
    pub round: usize,
    pub mode: Mode,
    pub rate: f64,
    pub target: String,
    pub scheduled: u64,
    pub dispatched: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub error_count: u64,
    pub first_error: Option<String>,
    /// Valid answers per second over the step.
    pub achieved_rps: f64,
    /// All in microseconds.
    pub latency_us: Option<Percentiles>,
    pub ttft_us: Option<Percentiles>,
    pub dispatch_lag_us: Option<Percentiles>,
    pub send_lag_us: Option<Percentiles>,
    pub max_inflight: usize,
    /// Connections in the step's pool.
    pub connections: usize,
    /// CPU used during the step, in % of one core: the gateway's process
    /// group (all its processes), and this harness (mock + load generator).
    pub target_cpu_pct: Option<f64>,
    /// The gateway's CPU time during the step per valid answer (µs): what
    /// one request costs it, idle wake-ups at this rate included.
    pub target_cpu_us_per_req: Option<f64>,
    pub harness_cpu_pct: f64,
    /// Everything else the machine ran during the step (other processes:
    /// builds, …), % of one core. High values make the step's numbers noise.
    pub other_cpu_pct: f64,
    /// Chat completions the mock answered during the step.
    pub upstream_calls: u64,
}

/// Where a step ran and what was measured around it.
pub struct StepContext<'a> {
    pub seq: usize,
    pub round: usize,
    pub mode: Mode,
    pub rate: f64,
    pub target: &'a str,
    pub connections: usize,
    pub target_cpu_pct: Option<f64>,
    /// The gateway's CPU seconds during the step.
    pub target_cpu_s: Option<f64>,
    pub harness_cpu_pct: f64,
    pub other_cpu_pct: f64,
    pub upstream_calls: u64,
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A gateway's CPU time per valid answer (µs, one decimal); `None` without
/// a reading or without an answer.
pub fn cpu_us_per_answer(cpu_s: Option<f64>, ok: u64) -> Option<f64> {
    cpu_s
        .filter(|_| ok > 0)
        .map(|cpu| round1(cpu / ok as f64 * 1e6))
}

impl Step {
    pub fn from_stats(c: StepContext<'_>, s: &StepStats) -> Step {
        let wall = s.wall.as_secs_f64();
        Step {
            seq: c.seq,
            round: c.round,
            mode: c.mode,
            rate: c.rate,
            target: c.target.to_string(),
            scheduled: s.scheduled,
            dispatched: s.dispatched,
            ok: s.ok,
            errors: s.errors.clone(),
            error_count: s.error_count(),
            first_error: s.first_error.clone(),
            achieved_rps: if wall > 0.0 {
                round1(s.ok as f64 / wall)
            } else {
                0.0
            },
            latency_us: Percentiles::of(&s.latency),
            ttft_us: if c.mode == Mode::Streaming {
                Percentiles::of(&s.ttft)
            } else {
                None
            },
            dispatch_lag_us: Percentiles::of(&s.dispatch_lag),
            send_lag_us: Percentiles::of(&s.send_lag),
            max_inflight: s.max_inflight,
            connections: c.connections,
            target_cpu_pct: c.target_cpu_pct.map(round1),
            target_cpu_us_per_req: cpu_us_per_answer(c.target_cpu_s, s.ok),
            harness_cpu_pct: round1(c.harness_cpu_pct),
            other_cpu_pct: round1(c.other_cpu_pct.max(0.0)),
            upstream_calls: c.upstream_calls,
        }
    }
}

/// A step that was not run, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub round: usize,
    pub mode: Mode,
    pub rate: f64,
    pub target: String,
    pub reason: String,
}

/// Added latency of one target step over the direct runs around it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub round: usize,
    pub mode: Mode,
    pub rate: f64,
    pub target: String,
    pub seq: usize,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Target percentile minus the mean of the same percentile of the
    /// `direct` steps just before and just after it (same rate and mode).
    /// A difference of percentiles, not a percentile of differences.
    pub added_p50_us: Option<f64>,
    pub added_p99_us: Option<f64>,
    /// The baseline used, and how far its two runs were apart (the noise floor).
    pub baseline_p50_us: Option<f64>,
    pub baseline_p99_us: Option<f64>,
    pub baseline_p99_spread_us: Option<f64>,
    pub baseline_seqs: Vec<usize>,
    pub errors: u64,
}

/// Pairs every non-direct step with the direct steps adjacent to it in the
/// run order (same round, mode and rate).
pub fn summarize(steps: &[Step]) -> Vec<Summary> {
    let mut out = Vec::new();
    for s in steps.iter().filter(|s| s.target != "direct") {
        let same = |d: &&Step| {
            d.target == "direct" && d.round == s.round && d.mode == s.mode && d.rate == s.rate
        };
        let before = steps
            .iter()
            .filter(same)
            .filter(|d| d.seq < s.seq)
            .max_by_key(|d| d.seq);
        let after = steps
            .iter()
            .filter(same)
            .filter(|d| d.seq > s.seq)
            .min_by_key(|d| d.seq);
        let base: Vec<&Step> = before.into_iter().chain(after).collect();
        let pick = |f: fn(&Percentiles) -> f64| -> Vec<f64> {
            base.iter()
                .filter_map(|d| d.latency_us.as_ref().map(f))
                .collect()
        };
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let b50 = pick(|p| p.p50);
        let b99 = pick(|p| p.p99);
        let (bp50, bp99) = (mean(&b50), mean(&b99));
        let p50 = s.latency_us.as_ref().map(|p| p.p50);
        let p99 = s.latency_us.as_ref().map(|p| p.p99);
        out.push(Summary {
            round: s.round,
            mode: s.mode,
            rate: s.rate,
            target: s.target.clone(),
            seq: s.seq,
            p50_us: p50,
            p99_us: p99,
            added_p50_us: p50.zip(bp50).map(|(a, b)| a - b),
            added_p99_us: p99.zip(bp99).map(|(a, b)| a - b),
            baseline_p50_us: bp50,
            baseline_p99_us: bp99,
            baseline_p99_spread_us: (b99.len() == 2).then(|| (b99[0] - b99[1]).abs()),
            baseline_seqs: base.iter().map(|d| d.seq).collect(),
            errors: s.error_count,
        });
    }
    out
}

fn ms(us: Option<f64>) -> String {
    match us {
        Some(v) => format!("{:.3}", v / 1000.0),
        None => "-".into(),
    }
}

fn signed_ms(us: Option<f64>) -> String {
    match us {
        Some(v) => format!("{:+.3}", v / 1000.0),
        None => "-".into(),
    }
}

/// The table: per mode, rate and target (direct first, its runs merged into
/// one row showing their mean and spread).
pub fn print_table(
    steps: &[Step],
    summaries: &[Summary],
    skipped: &[Skipped],
    modes: &[Mode],
    rates: &[f64],
    targets: &[String],
) {
    println!();
    println!(
        "latency in ms, measured from the scheduled send time (open loop); +p50/+p99: added over the direct runs just before and after (difference of percentiles); ±base: how far those two direct p99s were apart"
    );
    for &mode in modes {
        println!();
        println!("== {} ==", mode.label());
        println!(
            "{:>6}  {:<11} {:>13} {:>6}  {:>7} {:>7} {:>7} {:>8}  {:>8} {:>8} {:>7}  {:>7} {:>7}  {:>8}  {:>6} {:>7} {:>6} {:>6}",
            "rps",
            "target",
            "ok/sched",
            "err",
            "p50",
            "p90",
            "p99",
            "max",
            "+p50",
            "+p99",
            "±base",
            "ttft50",
            "ttft99",
            "lag p99",
            "gw cpu",
            "µs/req",
            "h cpu",
            "other"
        );
        for &rate in rates {
            let rounds: Vec<usize> = {
                let mut r: Vec<usize> = steps.iter().map(|s| s.round).collect();
                r.sort();
                r.dedup();
                r
            };
            for round in rounds {
                for t in targets {
                    let these: Vec<&Step> = steps
                        .iter()
                        .filter(|s| {
                            s.mode == mode && s.rate == rate && s.round == round && &s.target == t
                        })
                        .collect();
                    let label = if rounds_many(steps) {
                        format!("{t} r{round}")
                    } else {
                        t.clone()
                    };
                    if these.is_empty() {
                        if let Some(sk) = skipped.iter().find(|k| {
                            k.mode == mode && k.rate == rate && k.round == round && &k.target == t
                        }) {
                            println!("{:>6}  {:<11} skipped: {}", rate, label, sk.reason);
                        }
                        continue;
                    }
                    if t == "direct" {
                        print_direct(rate, &label, &these);
                    } else {
                        for s in these {
                            let sum = summaries.iter().find(|x| x.seq == s.seq);
                            print_row(rate, &label, s, sum);
                        }
                    }
                }
            }
        }
    }
    println!();
    println!(
        "lag p99: send lag (scheduled time -> a connection started the request: the load generator's lateness plus waiting for a free connection); gw cpu: the gateway's processes (µs/req: their CPU time per valid answer), h cpu: this harness (mock + load generator), other: the rest of the machine (other processes: noise), % of one core"
    );
}

fn rounds_many(steps: &[Step]) -> bool {
    steps.iter().any(|s| s.round > 1)
}

fn print_row(rate: f64, label: &str, s: &Step, sum: Option<&Summary>) {
    let l = s.latency_us.as_ref();
    let t = s.ttft_us.as_ref();
    println!(
        "{:>6}  {:<11} {:>13} {:>6}  {:>7} {:>7} {:>7} {:>8}  {:>8} {:>8} {:>7}  {:>7} {:>7}  {:>8}  {:>6} {:>7} {:>6} {:>6}",
        rate,
        label,
        format!("{}/{}", s.ok, s.scheduled),
        s.error_count,
        ms(l.map(|p| p.p50)),
        ms(l.map(|p| p.p90)),
        ms(l.map(|p| p.p99)),
        ms(l.map(|p| p.max)),
        signed_ms(sum.and_then(|x| x.added_p50_us)),
        signed_ms(sum.and_then(|x| x.added_p99_us)),
        ms(sum.and_then(|x| x.baseline_p99_spread_us)),
        ms(t.map(|p| p.p50)),
        ms(t.map(|p| p.p99)),
        ms(s.send_lag_us.as_ref().map(|p| p.p99)),
        s.target_cpu_pct.map_or("-".into(), |c| format!("{c:.0}%")),
        s.target_cpu_us_per_req
            .map_or("-".into(), |c| format!("{c:.0}")),
        format!("{:.0}%", s.harness_cpu_pct),
        format!("{:.0}%", s.other_cpu_pct),
    );
}

/// Direct runs at one rate: mean of each percentile, and the p99 spread.
fn print_direct(rate: f64, label: &str, runs: &[&Step]) {
    let mean = |f: fn(&Percentiles) -> f64, pick: fn(&Step) -> Option<&Percentiles>| {
        let v: Vec<f64> = runs.iter().filter_map(|s| pick(s).map(f)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    fn lat(s: &Step) -> Option<&Percentiles> {
        s.latency_us.as_ref()
    }
    fn ttft(s: &Step) -> Option<&Percentiles> {
        s.ttft_us.as_ref()
    }
    fn lag(s: &Step) -> Option<&Percentiles> {
        s.send_lag_us.as_ref()
    }
    let p99s: Vec<f64> = runs
        .iter()
        .filter_map(|s| s.latency_us.as_ref().map(|p| p.p99))
        .collect();
    let spread = (p99s.len() > 1).then(|| {
        p99s.iter().cloned().fold(f64::MIN, f64::max)
            - p99s.iter().cloned().fold(f64::MAX, f64::min)
    });
    let ok: u64 = runs.iter().map(|s| s.ok).sum();
    let sched: u64 = runs.iter().map(|s| s.scheduled).sum();
    let err: u64 = runs.iter().map(|s| s.error_count).sum();
    let maxv = runs
        .iter()
        .filter_map(|s| s.latency_us.as_ref().map(|p| p.max))
        .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    let hcpu = runs.iter().map(|s| s.harness_cpu_pct).sum::<f64>() / runs.len() as f64;
    let ocpu = runs.iter().map(|s| s.other_cpu_pct).sum::<f64>() / runs.len() as f64;
    println!(
        "{:>6}  {:<11} {:>13} {:>6}  {:>7} {:>7} {:>7} {:>8}  {:>8} {:>8} {:>7}  {:>7} {:>7}  {:>8}  {:>6} {:>7} {:>6} {:>6}",
        rate,
        format!("{label} ×{}", runs.len()),
        format!("{ok}/{sched}"),
        err,
        ms(mean(|p| p.p50, lat)),
        ms(mean(|p| p.p90, lat)),
        ms(mean(|p| p.p99, lat)),
        ms(maxv),
        "",
        "",
        ms(spread),
        ms(mean(|p| p.p50, ttft)),
        ms(mean(|p| p.p99, ttft)),
        ms(mean(|p| p.p99, lag)),
        "-",
        "-",
        format!("{hcpu:.0}%"),
        format!("{ocpu:.0}%"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(seq: usize, target: &str, rate: f64, p50: f64, p99: f64) -> Step {
        Step {
            seq,
            round: 1,
            mode: Mode::NonStreaming,
            rate,
            target: target.into(),
            scheduled: 10,
            dispatched: 10,
            ok: 10,
            errors: BTreeMap::new(),
            error_count: 0,
            first_error: None,
            achieved_rps: rate,
            latency_us: Some(Percentiles {
                p50,
                p90: p99,
                p99,
                max: p99,
                mean: p50,
            }),
            ttft_us: None,
            dispatch_lag_us: None,
            send_lag_us: None,
            max_inflight: 1,
            connections: 8,
            target_cpu_pct: None,
            target_cpu_us_per_req: None,
            harness_cpu_pct: 0.0,
            other_cpu_pct: 0.0,
            upstream_calls: 10,
        }
    }

    #[test]
    fn added_latency_is_over_the_direct_runs_around_the_step() {
        let steps = vec![
            step(1, "direct", 500.0, 100.0, 200.0),
            step(2, "a", 500.0, 400.0, 900.0),
            step(3, "direct", 500.0, 120.0, 300.0),
            step(4, "b", 500.0, 300.0, 700.0),
            step(5, "direct", 500.0, 80.0, 100.0),
            // Another rate: its direct runs are not a baseline for the ones above.
            step(6, "direct", 1000.0, 1.0, 1.0),
            step(7, "a", 1000.0, 50.0, 60.0),
        ];
        let s = summarize(&steps);
        assert_eq!(s.len(), 3);
        let a = &s[0];
        assert_eq!(a.baseline_seqs, vec![1, 3]);
        assert_eq!(a.added_p50_us, Some(400.0 - 110.0));
        assert_eq!(a.added_p99_us, Some(900.0 - 250.0));
        assert_eq!(a.baseline_p99_spread_us, Some(100.0));
        let b = &s[1];
        assert_eq!(b.baseline_seqs, vec![3, 5]);
        assert_eq!(b.added_p99_us, Some(700.0 - 200.0));
        // Only a direct run before it: that one is the baseline, no spread.
        let a2 = &s[2];
        assert_eq!(a2.baseline_seqs, vec![6]);
        assert_eq!(a2.added_p50_us, Some(49.0));
        assert_eq!(a2.baseline_p99_spread_us, None);
    }
}
