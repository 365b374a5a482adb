//! Percentiles of latency samples.

use serde::Serialize;

/// Nearest-rank percentiles of a set of samples, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// The percentiles of `samples`, `None` when there are none.
pub fn percentiles(mut samples: Vec<u64>) -> Option<Percentiles> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let n = samples.len();
    let rank = |p: usize| -> u64 {
        // Nearest rank: the smallest value with at least p% of the samples
        // at or below it.
        let index = (p * n).div_ceil(100).clamp(1, n) - 1;
        samples[index]
    };
    Some(Percentiles {
        samples: n,
        p50: rank(50),
        p90: rank(90),
        p99: rank(99),
        max: samples[n - 1],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let p = percentiles((1..=100).rev().collect()).unwrap();
        assert_eq!(
            (p.samples, p.p50, p.p90, p.p99, p.max),
            (100, 50, 90, 99, 100)
        );
        let one = percentiles(vec![7]).unwrap();
        assert_eq!((one.p50, one.p99, one.max), (7, 7, 7));
        assert_eq!(percentiles(Vec::new()), None);
    }
}
