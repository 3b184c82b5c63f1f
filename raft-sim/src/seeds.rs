//! The `A..B` seed range flag.

use std::ops::Range;

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
