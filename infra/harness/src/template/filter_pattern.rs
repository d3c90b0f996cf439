//! CloudWatch Logs subscription filter patterns, as far as the template uses them.

use super::scalar;
use crate::Error;
use serde_json::Value as Json;

/// Matches a CloudWatch Logs JSON filter pattern of the forms the template uses:
/// `{ $.a.b = * }` (the field exists), `{ $.a = "x" }` / `{ $.a = 1 }` (equals). An empty
/// pattern matches every line. Anything else is refused at start-up (not silently ignored).
pub fn filter_matches(pattern: &str, line: &str) -> Result<bool, Error> {
    let p = pattern.trim();
    if p.is_empty() {
        return Ok(true);
    }
    let inner = p
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| format!("filter pattern {pattern:?} is not emulated"))?;
    let (lhs, rhs) = inner
        .split_once('=')
        .ok_or_else(|| format!("filter pattern {pattern:?} is not emulated"))?;
    let path = lhs
        .trim()
        .strip_prefix("$.")
        .ok_or_else(|| format!("filter pattern {pattern:?} is not emulated"))?;
    let Ok(doc) = serde_json::from_str::<Json>(line) else {
        return Ok(false);
    };
    let mut cur = &doc;
    for key in path.split('.') {
        match cur.get(key) {
            Some(n) => cur = n,
            None => return Ok(false),
        }
    }
    let rhs = rhs.trim();
    Ok(rhs == "*" || scalar(cur) == rhs.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns() {
        let p = "{ $.capture.schema_version = * }";
        assert!(filter_matches(p, r#"{"capture":{"schema_version":1}}"#).unwrap());
        assert!(!filter_matches(p, r#"{"level":"INFO"}"#).unwrap());
        assert!(!filter_matches(p, "not json").unwrap());
        assert!(filter_matches("{ $.a = \"x\" }", r#"{"a":"x"}"#).unwrap());
        assert!(filter_matches("[ip, user]", "x").is_err());
    }
}
