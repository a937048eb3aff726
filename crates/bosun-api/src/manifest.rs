//! Manifest bytes to objects: request bodies and files in JSON or YAML, decoded into
//! `serde_json::Value` while noting every key a map sets twice (the later value wins, as in
//! Kubernetes' decoders; `fieldValidation` reports them). Errors are 400 `Status` errors naming
//! the line and column. Pure.

use crate::ApiError;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// A decoded manifest and the paths of the fields it sets more than once.
pub type Decoded = (Value, Vec<String>);

/// Decode JSON bytes (one value, nothing after it but whitespace).
pub fn decode_json(body: &[u8]) -> Result<Decoded, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    decode_tracking(&mut de)
        .and_then(|decoded| de.end().map(|()| decoded))
        .map_err(|e| {
            ApiError::bad_request(&format!(
                "error decoding JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
}

/// How many events alias references may replay in one YAML body. A few hundred bytes of nested
/// aliases ("billion laughs") would otherwise cost a million events of CPU and memory; real
/// manifests use few aliases if any.
pub const MAX_YAML_ALIAS_EVENTS: usize = 100_000;

/// Decode YAML bytes (one document).
pub fn decode_yaml(body: &[u8]) -> Result<Decoded, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(&format!("the request body is not UTF-8: {e}")))?;
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.alias_limits.max_total_replayed_events = MAX_YAML_ALIAS_EVENTS;
    serde_saphyr::from_str_with_options::<TrackedValue>(text, options)
        .map(|t| (t.0, t.1))
        .map_err(|e| ApiError::bad_request(&format!("error decoding YAML: {e}")))
}

/// A value decoded with [`decode_tracking`], for decoders that take a type rather than a seed.
struct TrackedValue(Value, Vec<String>);

impl<'de> serde::Deserialize<'de> for TrackedValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        decode_tracking(deserializer).map(|(v, d)| TrackedValue(v, d))
    }
}

/// Deserialize a JSON value, noting every key a map repeats (the later value wins, as in
/// Kubernetes' decoders).
pub fn decode_tracking<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<(Value, Vec<String>), D::Error> {
    let duplicates = RefCell::new(Vec::new());
    let value = Tracked {
        path: String::new(),
        duplicates: &duplicates,
    }
    .deserialize(deserializer)?;
    Ok((value, duplicates.into_inner()))
}

struct Tracked<'a> {
    path: String,
    duplicates: &'a RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Tracked<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tracked<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let seed = Tracked {
                path: format!("{}[{}]", self.path, out.len()),
                duplicates: self.duplicates,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<KeyString>()? {
            let path = if self.path.is_empty() {
                key.0.clone()
            } else {
                format!("{}.{}", self.path, key.0)
            };
            let value = map.next_value_seed(Tracked {
                path: path.clone(),
                duplicates: self.duplicates,
            })?;
            if out.insert(key.0, value).is_some() {
                self.duplicates.borrow_mut().push(path);
            }
        }
        Ok(Value::Object(out))
    }
}

/// A map key: a string, or a YAML scalar key (numbers, booleans) written as one.
struct KeyString(String);

impl<'de> de::Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<KeyString, E> {
                Ok(KeyString(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyString, E> {
                Ok(KeyString("null".into()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicates_are_tracked_in_json_and_yaml() {
        let (value, dups) = decode_json(
            br#"{"metadata": {"name": "a", "name": "b"}, "spec": {"c": [{"x": 1, "x": 2}]}}"#,
        )
        .expect("json");
        assert_eq!(value["metadata"]["name"], "b", "the later value wins");
        assert_eq!(dups, vec!["metadata.name", "spec.c[0].x"]);
        let (value, dups) =
            decode_yaml(b"metadata:\n  name: a\n  name: b\nspec: {count: 1, 2: x}\n")
                .expect("yaml");
        assert_eq!(value["spec"], json!({"count": 1, "2": "x"}));
        assert_eq!(dups, vec!["metadata.name"]);
    }

    #[test]
    fn yaml_alias_bombs_are_refused_and_modest_aliases_work() {
        // Found by fuzz/manifest: nested aliases replay 10^levels events; the decoder's default
        // limit (a million) let this 5-level, 200-byte body expand to 100,000 scalars.
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for level in 1..5u8 {
            let (name, prev) = (char::from(b'a' + level), char::from(b'a' + level - 1));
            let refs = vec![format!("*{prev}"); 10].join(",");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let e = decode_yaml(bomb.as_bytes()).expect_err("refused");
        assert_eq!(e.code(), 400);
        assert!(e.message().starts_with("error decoding YAML"), "{e}");
        let (value, _) =
            decode_yaml(b"base: &b {cpu: 1}\nlimits: *b\nrequests: *b\n").expect("aliases");
        assert_eq!(value["requests"], json!({"cpu": 1}));
    }

    #[test]
    fn malformed_bytes_are_bad_requests_naming_the_place() {
        let e = decode_json(b"{\"a\": 1,\n \"b\"}").expect_err("bad json");
        assert_eq!(e.code(), 400);
        assert!(e.message().contains("line 2, column 5"), "{e}");
        assert_eq!(decode_json(b"{} {}").expect_err("trailing").code(), 400);
        assert_eq!(decode_yaml(b"a: [1,").expect_err("bad yaml").code(), 400);
        assert_eq!(
            decode_yaml(&[0xff, 0xfe]).expect_err("not utf-8").code(),
            400
        );
    }
}
