//! SQS message decoding: generated bodies through `inventory::stockout::decode`.

use super::{arb_json, run};
use inventory::domain::{FactoryOrderId, Sku, StockOutEvent};
use inventory::stockout::{Poison, decode};
use proptest::prelude::*;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

fn arb_event() -> impl Strategy<Value = StockOutEvent> {
    (
        ".{0,40}",
        any::<u128>(),
        // A valid SKU: the event carries a typed `Sku`, so an invalid one is poison.
        "[A-Za-z0-9][A-Za-z0-9._-]{0,63}".prop_map(|s| Sku::parse(&s).expect("valid by the regex")),
        any::<i64>(),
        ".{0,130}",
        any::<i64>(),
    )
        .prop_map(
            |(event_id, id, sku, quantity, correlation_id, occurred_at)| StockOutEvent {
                schema_version: StockOutEvent::SCHEMA_VERSION,
                event_id: event_id.into(),
                factory_order_id: FactoryOrderId::parse(&uuid::Uuid::from_u128(id).to_string())
                    .expect("a UUID"),
                sku,
                quantity,
                correlation_id: correlation_id.into(),
                occurred_at,
            },
        )
}

fn is_poison<T: std::fmt::Debug>(r: &Result<T, Poison>) -> bool {
    matches!(r, Err(Poison(_)))
}

#[test]
fn decode_never_panics_and_anything_invalid_is_poison() {
    run(
        "decode_never_panics_and_anything_invalid_is_poison",
        "Generated SQS bodies: arbitrary text, arbitrary JSON, SNS envelopes around both",
        3000,
        |runner| {
            let n = AtomicU64::new(0);
            let ok = AtomicU64::new(0);
            let body = prop_oneof![
                ".{0,300}",
                prop::collection::vec(any::<u8>(), 0..300)
                    .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                arb_json().prop_map(|v| v.to_string()),
                arb_json().prop_map(
                    |v| json!({"Type": "Notification", "Message": v.to_string()}).to_string()
                ),
                ".{0,100}".prop_map(|s| json!({"Type": "Notification", "Message": s}).to_string()),
                (1usize..5000).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
            ];
            let result = runner.run(&body, |b| {
                n.fetch_add(1, Ordering::Relaxed);
                let r = decode(&b);
                if r.is_ok() {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    prop_assert!(is_poison(&r), "{r:?}");
                }
                Ok(())
            });
            if let Err(err) = result {
                panic!("{err}");
            }
            (
                n.load(Ordering::Relaxed),
                format!(
                    "{} decoded, every other one Poison (never another error, never a panic)",
                    ok.load(Ordering::Relaxed)
                ),
            )
        },
    );
}

#[test]
fn valid_events_round_trip_and_mutations_are_poison() {
    run(
        "valid_events_round_trip_and_mutations_are_poison",
        "Generated valid stock-out events (raw and SNS-enveloped) and their mutations (field removed, unknown field, other schema version, non-UUID order id)",
        1500,
        |runner| {
            let n = AtomicU64::new(0);
            let fields = [
                "schema_version",
                "event_id",
                "factory_order_id",
                "sku",
                "quantity",
                "correlation_id",
                "occurred_at",
            ];
            let strategy = (
                arb_event(),
                0usize..7,
                prop_oneof![Just(0u64), 2u64..=u64::MAX],
                "[^-]{0,40}".prop_filter("not a UUID in another notation", |s| {
                    uuid::Uuid::parse_str(s).is_err()
                }),
            );
            let result = runner.run(&strategy, |(ev, field, version, bad_id)| {
                n.fetch_add(1, Ordering::Relaxed);
                let raw = serde_json::to_string(&ev).unwrap();
                prop_assert_eq!(decode(&raw).unwrap(), ev.clone());
                let env =
                    json!({"Type": "Notification", "MessageId": "m", "Message": raw}).to_string();
                prop_assert_eq!(decode(&env).unwrap(), ev.clone());
                let v = serde_json::to_value(&ev).unwrap();
                let mut missing = v.clone();
                missing.as_object_mut().unwrap().remove(fields[field]);
                prop_assert!(
                    is_poison(&decode(&missing.to_string())),
                    "without {}",
                    fields[field]
                );
                let mut extra = v.clone();
                extra["unexpected"] = json!(1);
                prop_assert!(is_poison(&decode(&extra.to_string())));
                let mut other = v.clone();
                other["schema_version"] = json!(version);
                prop_assert!(
                    is_poison(&decode(&other.to_string())),
                    "version {}",
                    version
                );
                let mut id = v;
                id["factory_order_id"] = json!(bad_id);
                prop_assert!(is_poison(&decode(&id.to_string())), "id {:?}", bad_id);
                Ok(())
            });
            if let Err(err) = result {
                panic!("{err}");
            }
            (
                n.load(Ordering::Relaxed),
                "every valid event decodes to itself raw and in an SNS envelope; each mutation is Poison".into(),
            )
        },
    );
}
