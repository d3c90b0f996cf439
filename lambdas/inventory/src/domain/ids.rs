//! Ids: UUID strings. A factory order's id is typed ([`FactoryOrderId`]): it is the factory's
//! idempotency key, travels in every stock-out event and is every order operation's argument,
//! so it is validated once, where it enters (a path, a message, a row), and never again.
//! Sale and event ids stay plain strings ([`new_id`]).

use super::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Ids of sales and events: UUIDv7 strings (time-ordered, index friendly).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Validates an id taken from a path or a message: its hyphenated, lower-case form.
pub fn parse_id(s: &str) -> Result<String, ValidationError> {
    uuid::Uuid::parse_str(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ValidationError::Id)
}

/// A factory order's id: a UUID in its hyphenated, lower-case form. On the wire (events, API
/// bodies) it is that plain string; deserialising anything that is not a UUID fails, so a
/// stock-out message with a bad id is rejected as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct FactoryOrderId(String);

impl FactoryOrderId {
    /// A fresh id: UUIDv7, like every id the store makes (time-ordered, index friendly).
    // No `Default`: a "default" id that is a new random one each time would surprise.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        FactoryOrderId(new_id())
    }

    /// Validates an id taken from a path, a message or a row ([`parse_id`]).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        parse_id(s).map(FactoryOrderId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FactoryOrderId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, ValidationError> {
        FactoryOrderId::parse(&s)
    }
}

impl From<FactoryOrderId> for String {
    fn from(id: FactoryOrderId) -> String {
        id.0
    }
}

impl fmt::Display for FactoryOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
}
