//! Ids, each its own type, validated once where it enters (a path, a header, a message, a row)
//! and never again. On the wire (events, API bodies) and in the database each is its plain
//! string (serde-transparent; the store binds `as_str()` and parses rows in `store/rows.rs`).
//!
//! - [`FactoryOrderId`], [`SaleId`]: UUIDs in their hyphenated, lower-case form; anything else
//!   is refused ([`ValidationError::Id`]), so a stock-out message with a bad order id is
//!   rejected as a whole. Made here as UUIDv7 (time-ordered, index friendly).
//! - [`EventId`]: a stock-out event's id, which is also its outbox row's key. Made here as a
//!   UUIDv7, but the event contract takes any string: opaque text once made.
//! - [`CorrelationId`]: what a caller sends (1–128 of `[A-Za-z0-9._:-]`), else a fresh UUIDv4
//!   ([`CorrelationId::adopt`]); carried as opaque text by events and rows.

use super::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A fresh UUIDv7 string (time-ordered, index friendly).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Validates an id taken from a path or a message: its hyphenated, lower-case form.
pub fn parse_id(s: &str) -> Result<String, ValidationError> {
    uuid::Uuid::parse_str(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ValidationError::Id)
}

/// The parts every id type shares: `as_str`, `Display`, `From<Id> for String`, comparison
/// with its text.
macro_rules! id_common {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// A UUID id: parsed ([`parse_id`]) from a path, a message or a row; deserialising anything
/// that is not a UUID fails.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh id: UUIDv7, like every id the store makes.
            // No `Default`: a "default" id that is a new random one each time would surprise.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                $name(new_id())
            }

            /// Validates an id taken from a path, a message or a row ([`parse_id`]).
            pub fn parse(s: &str) -> Result<Self, ValidationError> {
                parse_id(s).map($name)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, ValidationError> {
                $name::parse(&s)
            }
        }

        id_common!($name);
    };
}

/// A text id: any string on the wire and in rows (what the event contract accepts).
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }

        id_common!($name);
    };
}

uuid_id!(
    /// A factory order's id: the factory's idempotency key, in every stock-out event and every
    /// order operation's argument.
    FactoryOrderId
);

uuid_id!(
    /// A sale's id: the sales table's primary key, chosen by the API before the commit so a
    /// sale whose answer was lost can be looked up (`GET /sales/{id}`).
    SaleId
);

text_id!(
    /// A stock-out event's id, and the key of its outbox row.
    EventId
);

impl EventId {
    /// A fresh event id: UUIDv7.
    // No `Default`, as for the UUID ids.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        EventId(new_id())
    }
}

text_id!(
    /// The id that follows one request through logs, events and the factory's callback.
    CorrelationId
);

impl CorrelationId {
    /// Adopts a caller's correlation id when it is well formed, otherwise makes a new one.
    pub fn adopt(given: Option<&str>) -> Self {
        match given {
            Some(s)
                if !s.is_empty()
                    && s.len() <= 128
                    && s.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
                    }) =>
            {
                CorrelationId(s.to_owned())
            }
            _ => CorrelationId(uuid::Uuid::new_v4().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids() {
        let id = new_id();
        assert_eq!(parse_id(&id), Ok(id.clone()));
        assert_eq!(parse_id("../1"), Err(ValidationError::Id));
    }

    #[test]
    fn factory_order_ids_are_canonical_uuids() {
        let id = FactoryOrderId::new();
        assert_eq!(FactoryOrderId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.to_string(), id.as_str());
        let upper = "0193A2B4-0000-7000-8000-00000000000A";
        assert_eq!(
            FactoryOrderId::parse(upper).map(String::from),
            Ok(upper.to_lowercase())
        );
        for bad in ["", "o", "../../etc/passwd", "0193a2b4-0000-7000-8000"] {
            assert_eq!(
                FactoryOrderId::parse(bad),
                Err(ValidationError::Id),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn factory_order_ids_are_plain_strings_on_the_wire() {
        let raw = "\"0193a2b4-0000-7000-8000-000000000000\"";
        let id: FactoryOrderId = serde_json::from_str(raw).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), raw);
        assert!(serde_json::from_str::<FactoryOrderId>("\"o-1\"").is_err());
        assert!(serde_json::from_str::<FactoryOrderId>("7").is_err());
    }

    #[test]
    fn sale_ids_are_canonical_uuids_and_plain_strings_on_the_wire() {
        let id = SaleId::new();
        assert_eq!(SaleId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(SaleId::parse("../1"), Err(ValidationError::Id));
        let raw = format!("\"{id}\"");
        assert_eq!(serde_json::to_string(&id).unwrap(), raw);
        assert_eq!(serde_json::from_str::<SaleId>(&raw).unwrap(), id);
        assert!(serde_json::from_str::<SaleId>("\"s-1\"").is_err());
    }

    #[test]
    fn event_and_correlation_ids_are_opaque_text_on_the_wire() {
        for raw in ["\"e\"", "\"has space\"", "\"\""] {
            let e: EventId = serde_json::from_str(raw).unwrap();
            assert_eq!(serde_json::to_string(&e).unwrap(), raw);
            let c: CorrelationId = serde_json::from_str(raw).unwrap();
            assert_eq!(serde_json::to_string(&c).unwrap(), raw);
        }
        assert_ne!(EventId::new(), EventId::new());
    }
}
