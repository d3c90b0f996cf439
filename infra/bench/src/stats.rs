//! Percentiles, medians and the formatting shared by every section.

use std::time::Duration;

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Median of a few measurements (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Latency summary of one run, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lat {
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Summarises latencies given in microseconds.
pub fn summarise_us(mut us: Vec<u32>) -> Lat {
    us.sort_unstable();
    let ms = |v: Option<u32>| v.map(|x| f64::from(x) / 1000.0).unwrap_or(f64::NAN);
    Lat {
        n: us.len(),
        p50_ms: ms(percentile(&us, 50.0)),
        p99_ms: ms(percentile(&us, 99.0)),
        max_ms: ms(us.last().copied()),
    }
}

/// Summarises latencies given in milliseconds.
pub fn summarise_ms(mut ms: Vec<f64>) -> Lat {
    ms.sort_by(f64::total_cmp);
    Lat {
        n: ms.len(),
        p50_ms: percentile(&ms, 50.0).unwrap_or(f64::NAN),
        p99_ms: percentile(&ms, 99.0).unwrap_or(f64::NAN),
        max_ms: ms.last().copied().unwrap_or(f64::NAN),
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `12.3 ms` style, with a precision that suits the magnitude.
pub fn fmt_ms(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// Three decimals: a ratio that misses its target must not print as the target.
pub fn fmt_ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}×")
    } else {
        "n/a".into()
    }
}

/// Verdict of a figure against its target: PASS / MISS, or no verdict in quick mode (CI only
/// checks that the suite works; it never judges speed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Miss,
    NotJudged,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "**MISS**",
            Verdict::NotJudged => "not judged (--quick)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7u32], 99.0), Some(7));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
