//! The seed flags: the `A..B` range, `--shard K/N` and `--duration`, and
//! the [`SeedPlan`] they make.

use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Shards a range may be split into, at most.
pub const MAX_SHARDS: u64 = 10_000;
/// The longest time budget a sweep takes: a week.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Shard `index` of `count` (1-based): the seeds `start + index - 1`,
/// `start + index - 1 + count`, ... of a range, so shards interleave (each
/// gets its share of early and late seeds) and together run every seed
/// exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole range.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Parses `K/N` with `1 <= K <= N <= MAX_SHARDS`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes K/N with 1 <= K <= N <= {MAX_SHARDS}, not {text:?}");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<u64>().map_err(|_| bad())?,
            n.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if index == 0 || index > count || count > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses a time budget: a number and a unit, `s`, `m` or `h` (`90s`,
/// `10m`, `2h`), more than zero and at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("--duration takes a number and s, m or h (90s, 10m, 2h), not {text:?}");
    let text = text.trim();
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        _ => return Err(bad()),
    };
    let number = number.parse::<u64>().map_err(|_| bad())?;
    let seconds = number.checked_mul(seconds_per_unit).ok_or_else(bad)?;
    let duration = Duration::from_secs(seconds);
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(format!(
            "--duration must be more than 0 and at most 7 days, not {text}"
        ));
    }
    Ok(duration)
}

/// The seeds one sweep process runs: its shard of a range, until the range
/// or the time budget runs out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedPlan {
    pub range: Range<u64>,
    pub shard: Shard,
    /// Stop claiming new seeds after this much wall time (seeds running
    /// then still finish).
    pub budget: Option<Duration>,
}

impl SeedPlan {
    pub fn new(range: Range<u64>, shard: Shard, budget: Option<Duration>) -> SeedPlan {
        SeedPlan {
            range,
            shard,
            budget,
        }
    }

    /// Seeds in this shard of the range.
    pub fn len(&self) -> u64 {
        let first = self.range.start + (self.shard.index - 1);
        if first >= self.range.end {
            return 0;
        }
        (self.range.end - first).div_ceil(self.shard.count)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th seed of this shard, if it has that many.
    pub fn nth(&self, i: u64) -> Option<u64> {
        (i < self.len()).then(|| self.range.start + (self.shard.index - 1) + i * self.shard.count)
    }
}

impl From<Range<u64>> for SeedPlan {
    fn from(range: Range<u64>) -> SeedPlan {
        SeedPlan::new(range, Shard::WHOLE, None)
    }
}

/// Seeds run by one sweep at most; more is a typo, not a plan.
pub const MAX_SEEDS: u64 = 10_000_000;

/// Parses `A..B` (B exclusive, A < B) or a single seed `A`.
pub fn parse_range(text: &str) -> Result<Range<u64>, String> {
    let parse = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("{part:?} is not a seed (a non-negative integer)"))
    };
    let range = match text.split_once("..") {
        Some((start, end)) => parse(start)?..parse(end)?,
        None => {
            let seed = parse(text)?;
            seed..seed.checked_add(1).ok_or("seed too large")?
        }
    };
    if range.start >= range.end {
        return Err(format!(
            "empty range {text}: write A..B with A < B (B is exclusive)"
        ));
    }
    if range.end - range.start > MAX_SEEDS {
        return Err(format!(
            "{} seeds is more than the {MAX_SEEDS} a sweep runs",
            range.end - range.start
        ));
    }
    Ok(range)
}

/// The seeds a test sweeps: `TWINNET_SEED=N` for one, else
/// `0..TWINNET_SEEDS` (default `default_count`).
pub fn from_env(default_count: u64) -> Range<u64> {
    let var = |name| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    if let Some(seed) = var("TWINNET_SEED") {
        return seed..seed.saturating_add(1);
    }
    0..var("TWINNET_SEEDS").unwrap_or(default_count).min(MAX_SEEDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_a_range_into_disjoint_interleaved_parts() {
        for (range, count) in [(0..100, 3), (5..6, 4), (10..17, 7), (0..1000, 1)] {
            let mut all = Vec::new();
            for index in 1..=count {
                let plan = SeedPlan::new(range.clone(), Shard { index, count }, None);
                let seeds: Vec<u64> = (0..plan.len()).filter_map(|i| plan.nth(i)).collect();
                assert_eq!(plan.nth(plan.len()), None);
                assert!(seeds.iter().all(|s| (s - range.start) % count == index - 1));
                all.extend(seeds);
            }
            all.sort_unstable();
            assert_eq!(
                all,
                range.clone().collect::<Vec<_>>(),
                "{range:?} in {count}"
            );
        }
    }

    #[test]
    fn shard_and_duration_flags_parse_and_bad_ones_are_refused() {
        assert_eq!(Shard::parse("2/8"), Ok(Shard { index: 2, count: 8 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/100000", "/"] {
            assert!(Shard::parse(bad).unwrap_err().contains("K/N"), "{bad}");
        }
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7_200)));
        for bad in ["", "m", "10", "10d", "0s", "-1m", "200h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_range("0..100"), Ok(0..100));
        assert_eq!(parse_range("17"), Ok(17..18));
        assert!(parse_range("10..5").unwrap_err().contains("A < B"));
        assert!(parse_range("5..5").is_err());
        assert!(parse_range("a..5").unwrap_err().contains("not a seed"));
        assert!(parse_range("-1..5").is_err());
        assert!(parse_range("0..100000000").is_err());
        assert!(parse_range(&format!("{}", u64::MAX)).is_err());
    }
}
