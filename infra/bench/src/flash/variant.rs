//! The flash sale's variants (`--variants` tags, bucket counts), the order they run in, and the
//! run configuration.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    Raw,
    Handler,
    /// The handler on a product with 4 stock buckets.
    HandlerB4,
    /// The handler on a product with 16 stock buckets.
    HandlerB16,
    HttpCaptureOn,
    HttpCaptureOff,
}

impl Variant {
    pub const ALL: [Variant; 6] = [
        Variant::Raw,
        Variant::Handler,
        Variant::HandlerB4,
        Variant::HandlerB16,
        Variant::HttpCaptureOn,
        Variant::HttpCaptureOff,
    ];
    /// What runs on the current configuration when `--variants` is not given (scripts/bench.sh,
    /// and CI's quick bench).
    pub const DEFAULT: [Variant; 4] = [
        Variant::Raw,
        Variant::Handler,
        Variant::HttpCaptureOn,
        Variant::HttpCaptureOff,
    ];
    /// What runs on the RDS-like configuration when `--variants` is not given: the single-row
    /// raw limit, the one-round-trip sale, and the same with 4 and 16 stock buckets.
    pub const RDS_DEFAULT: [Variant; 4] = [
        Variant::Raw,
        Variant::Handler,
        Variant::HandlerB4,
        Variant::HandlerB16,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Variant::Raw => "raw SQL",
            Variant::Handler => "handler",
            Variant::HandlerB4 => "handler, 4 buckets",
            Variant::HandlerB16 => "handler, 16 buckets",
            Variant::HttpCaptureOn => "HTTP, capture on",
            Variant::HttpCaptureOff => "HTTP, capture off",
        }
    }
    pub fn tag(self) -> &'static str {
        match self {
            Variant::Raw => "raw",
            Variant::Handler => "handler",
            Variant::HandlerB4 => "handler-b4",
            Variant::HandlerB16 => "handler-b16",
            Variant::HttpCaptureOn => "http-on",
            Variant::HttpCaptureOff => "http-off",
        }
    }
    /// The variant with this tag (`--variants`).
    pub fn from_tag(tag: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.tag() == tag.trim())
    }
    /// Every tag, for error messages and help.
    pub fn tags() -> String {
        Variant::ALL.map(Variant::tag).join(", ")
    }
    /// The stock buckets of the run's hot product (`products.buckets`).
    pub fn buckets(self) -> i64 {
        match self {
            Variant::HandlerB4 => 4,
            Variant::HandlerB16 => 16,
            _ => 1,
        }
    }
}

/// The variants of a `--variants` list, in the order given, without repeats.
pub fn parse_variants<S: AsRef<str>>(tags: &[S]) -> Result<Vec<Variant>, String> {
    let mut out = Vec::new();
    for t in tags {
        let v = Variant::from_tag(t.as_ref())
            .ok_or_else(|| format!("unknown variant {:?} ({})", t.as_ref(), Variant::tags()))?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err(format!("no variant given ({})", Variant::tags()));
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct Config {
    pub concurrencies: Vec<usize>,
    pub rounds: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// The variants to run, in this order in the first round ([`Variant::DEFAULT`] or
    /// [`Variant::RDS_DEFAULT`] unless `--variants` names others).
    pub variants: Vec<Variant>,
}

/// The order of the variants in a round: `variants` rotated by one per round, so over as many
/// rounds as variants every variant runs in every position.
pub fn round_order(variants: &[Variant], round: usize) -> Vec<Variant> {
    let mut v = variants.to_vec();
    let n = v.len().max(1);
    v.rotate_left(round % n);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use inventory::domain::MAX_STOCK;

    #[test]
    fn every_variant_takes_every_position() {
        for set in [
            &Variant::DEFAULT[..],
            &Variant::RDS_DEFAULT[..],
            &Variant::ALL[..],
        ] {
            for v in set {
                let positions: std::collections::BTreeSet<usize> = (0..set.len())
                    .map(|r| round_order(set, r).iter().position(|x| x == v).unwrap())
                    .collect();
                assert_eq!(positions.len(), set.len(), "{v:?} {positions:?}");
            }
        }
        assert!(round_order(&[], 3).is_empty());
    }

    #[test]
    fn variant_tags_parse() {
        for v in Variant::ALL {
            assert_eq!(Variant::from_tag(v.tag()), Some(v));
        }
        assert_eq!(
            parse_variants(&["raw", "handler", "handler-b4", "handler-b16"]).unwrap(),
            Variant::RDS_DEFAULT
        );
        assert_eq!(
            parse_variants(&["handler-b16", "raw", "handler-b16"]).unwrap(),
            [Variant::HandlerB16, Variant::Raw]
        );
        let e = parse_variants(&["raw", "handler-b8"]).unwrap_err();
        assert!(e.contains("handler-b8") && e.contains("handler-b16"), "{e}");
        assert!(parse_variants::<&str>(&[]).is_err());
        // Tags are unique, and the bucket counts are what the tags say.
        let tags: std::collections::BTreeSet<&str> = Variant::ALL.map(Variant::tag).into();
        assert_eq!(tags.len(), Variant::ALL.len());
        assert_eq!(Variant::ALL.map(Variant::buckets), [1, 1, 4, 16, 1, 1]);
        // The normal bench (and CI's quick one) keeps its four variants.
        assert_eq!(
            Variant::DEFAULT.map(Variant::tag),
            ["raw", "handler", "http-on", "http-off"]
        );
    }

    #[test]
    fn a_bucket_holds_its_share_of_the_hot_stock() {
        // stock_buckets.stock is an INT: the hot stock fits in one row, so in any of them.
        for v in Variant::ALL {
            assert!(MAX_STOCK / v.buckets() <= i64::from(i32::MAX));
        }
    }
}
