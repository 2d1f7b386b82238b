//! The goal's verdict: is the added p99 at the goal's rate within the goal,
//! given how much the numbers move by themselves? Two measures of that noise
//! are taken: how far the direct runs around each target step were apart (the
//! machine), and how far the target's own added p99 varied across rounds (the
//! target under the same load). The larger one is the margin: met only when
//! the median over rounds is below the goal by it, not met only when above it.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// Median over rounds of the added p99 (µs).
    pub added_p99_us: Option<f64>,
    /// Median over rounds of the spread of the two direct runs around the step.
    pub direct_noise_us: f64,
    /// Range (max − min) of the target's added p99 across rounds; None with one round.
    pub own_spread_us: Option<f64>,
    pub rounds: usize,
    /// None: not measured, or inconclusive.
    pub met: Option<bool>,
    pub note: String,
}

/// The median of `values`; `None` when there are none.
pub fn median_of(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[n / 2]),
        n => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// `added`: the target's added p99 in each round; `direct_spreads`: the
/// spread of the direct runs around each of those steps; `errors`: failed
/// requests in those steps; `goal_us`: the most added p99 allowed.
pub fn judge(added: &[f64], direct_spreads: &[f64], errors: u64, goal_us: f64) -> Judgement {
    let rounds = added.len();
    let median = median_of(added.to_vec());
    let direct_noise = median_of(direct_spreads.to_vec()).unwrap_or(0.0);
    let own_spread = (rounds >= 2).then(|| {
        added.iter().cloned().fold(f64::MIN, f64::max)
            - added.iter().cloned().fold(f64::MAX, f64::min)
    });
    let margin = direct_noise.max(own_spread.unwrap_or(0.0));
    let ms = |us: f64| us / 1000.0;
    let noise_text = match own_spread {
        Some(o) => format!(
            "±{:.3} ms: the larger of the direct runs' spread ({:.3} ms) and the target's own range over {rounds} rounds ({:.3} ms)",
            ms(margin),
            ms(direct_noise),
            ms(o)
        ),
        None => format!(
            "±{:.3} ms: the direct runs' spread; one round gives no range of the target's own",
            ms(margin)
        ),
    };
    let (met, note) = match median {
        None => (None, "no valid answers".to_string()),
        Some(_) if errors > 0 => (Some(false), format!("{errors} errors")),
        Some(m) if m - margin > goal_us => (
            Some(false),
            format!("above the goal even allowing for the noise ({noise_text})"),
        ),
        Some(_) if own_spread.is_none() => (
            None,
            format!(
                "inconclusive: one round cannot show the target's own spread; run --rounds 2 or more ({noise_text})"
            ),
        ),
        Some(m) if m + margin <= goal_us => (
            Some(true),
            format!("within the goal even allowing for the noise ({noise_text})"),
        ),
        Some(_) => (
            None,
            format!(
                "inconclusive: too close to the goal for the noise ({noise_text}); rerun on a quieter machine or with more rounds"
            ),
        ),
    };
    Judgement {
        added_p99_us: median,
        direct_noise_us: direct_noise,
        own_spread_us: own_spread,
        rounds,
        met,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOAL: f64 = 500.0;

    #[test]
    fn medians() {
        assert_eq!(median_of(vec![]), None);
        assert_eq!(median_of(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_of(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn met_only_when_below_the_goal_by_both_noises() {
        // Median 300, direct noise 50, own range 100: 300 + 100 <= 500.
        let j = judge(&[250.0, 300.0, 350.0], &[40.0, 50.0, 60.0], 0, GOAL);
        assert_eq!(j.added_p99_us, Some(300.0));
        assert_eq!(j.direct_noise_us, 50.0);
        assert_eq!(j.own_spread_us, Some(100.0));
        assert_eq!(j.met, Some(true), "{}", j.note);
    }

    #[test]
    fn the_targets_own_spread_makes_a_close_result_inconclusive() {
        // The direct runs were steady (10), but the target moved by 300
        // between rounds: a median of 400 says nothing about 500.
        let j = judge(&[250.0, 400.0, 550.0], &[10.0, 10.0, 10.0], 0, GOAL);
        assert_eq!(j.own_spread_us, Some(300.0));
        assert_eq!(j.met, None, "{}", j.note);
        assert!(j.note.starts_with("inconclusive"), "{}", j.note);
        // Judged by the direct runs alone, it would have passed.
        assert!(400.0 + j.direct_noise_us <= GOAL);
    }

    #[test]
    fn not_met_when_above_the_goal_by_the_margin() {
        let j = judge(&[900.0, 1000.0], &[50.0, 50.0], 0, GOAL);
        assert_eq!(j.added_p99_us, Some(950.0));
        assert_eq!(j.met, Some(false), "{}", j.note);
        // Above the goal, but within the target's own range: not a verdict.
        let j = judge(&[300.0, 800.0], &[50.0, 50.0], 0, GOAL);
        assert_eq!(j.met, None, "{}", j.note);
    }

    #[test]
    fn one_round_can_fail_but_never_pass() {
        let j = judge(&[100.0], &[20.0], 0, GOAL);
        assert_eq!(j.own_spread_us, None);
        assert_eq!(j.met, None, "{}", j.note);
        assert!(j.note.contains("--rounds 2"), "{}", j.note);
        let j = judge(&[1200.0], &[20.0], 0, GOAL);
        assert_eq!(j.met, Some(false), "{}", j.note);
    }

    #[test]
    fn errors_fail_and_nothing_measured_is_no_verdict() {
        assert_eq!(judge(&[100.0, 110.0], &[5.0], 3, GOAL).met, Some(false));
        let j = judge(&[], &[], 0, GOAL);
        assert_eq!((j.added_p99_us, j.met), (None, None));
    }
}
