//! `fieldValidation`: what the server does with fields a kind does not have, and with fields
//! a body sets twice.
//!
//! - `Strict`: the request fails with 400 Bad Request, `strict decoding error: unknown field
//!   "spec.foo"` (every such field, comma-separated, as Kubernetes words it);
//! - `Warn` (the default when a client sends none, as in Kubernetes since 1.27): the fields are
//!   dropped and each is named in a `Warning: 299 - "unknown field \"spec.foo\""` header;
//! - `Ignore`: the fields are dropped silently.
//!
//! Unknown means "not in the kind's schema" ([`crate::schema`], the same schemas the OpenAPI
//! documents serve). Kinds bosun has no schema for keep every field. Duplicates are found
//! while decoding ([`decode_tracking`]), in JSON and YAML alike.

use crate::schema::{Catalog, Gvk, Shape};
use bosun_api::{ApiError, ResourceInfo};
use serde_json::Value;

/// The `fieldValidation` directive of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    Strict,
    Warn,
    Ignore,
}

impl Directive {
    /// From the query parameter; absent means `Warn`.
    pub fn from_query(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some("Ignore") => Ok(Self::Ignore),
            Some(other) => Err(ApiError::bad_request(&format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// What a body holds that its kind does not take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Paths of fields the kind's schema does not have (`spec.foo`, `spec.containers[0].bar`).
    pub unknown: Vec<String>,
    /// Paths of fields set more than once.
    pub duplicates: Vec<String>,
}

impl Findings {
    pub fn is_empty(&self) -> bool {
        self.unknown.is_empty() && self.duplicates.is_empty()
    }

    /// Each finding as Kubernetes words it: `unknown field "spec.foo"`.
    pub fn messages(&self) -> Vec<String> {
        self.unknown
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .chain(
                self.duplicates
                    .iter()
                    .map(|p| format!("duplicate field \"{p}\"")),
            )
            .collect()
    }
}

/// Decide a write: under `Strict` any finding fails it; otherwise the findings become
/// warnings (`Warn`) or nothing (`Ignore`). The caller has already dropped the unknown fields.
pub fn decide(
    directive: Directive,
    res: &ResourceInfo,
    findings: &Findings,
) -> Result<Vec<String>, ApiError> {
    if findings.is_empty() {
        return Ok(Vec::new());
    }
    match directive {
        Directive::Strict => Err(ApiError::bad_request(&format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            findings.messages().join(", "),
            kind = res.kind,
            version = res.version,
        ))),
        Directive::Warn => Ok(findings.messages()),
        Directive::Ignore => Ok(Vec::new()),
    }
}

/// Drop the fields of `obj` that the schema of `gvk` does not have, returning their paths.
/// Kinds without a schema keep everything.
pub fn prune_unknown(catalog: &Catalog, gvk: &Gvk, obj: &mut Value) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(shape) = catalog.shape(gvk) {
        walk(catalog, shape, obj, &mut String::new(), &mut found);
    }
    found
}

fn walk(
    catalog: &Catalog,
    shape: &Shape,
    value: &mut Value,
    path: &mut String,
    out: &mut Vec<String>,
) {
    match (shape, value) {
        (Shape::Struct(index), Value::Object(map)) => {
            let Some(fields) = catalog.fields(*index) else {
                return;
            };
            let mut unknown = Vec::new();
            for (key, child) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match fields.get(key.as_str()) {
                    Some(field) => walk(catalog, field, child, path, out),
                    None => {
                        out.push(path.clone());
                        unknown.push(key.clone());
                    }
                }
                path.truncate(len);
            }
            for key in unknown {
                map.remove(&key);
            }
        }
        (Shape::Map(values), Value::Object(map)) => {
            for (key, child) in map.iter_mut() {
                let len = path.len();
                path.push_str(&format!("[{key}]"));
                walk(catalog, values, child, path, out);
                path.truncate(len);
            }
        }
        (Shape::List(items), Value::Array(list)) => {
            for (i, child) in list.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(catalog, items, child, path, out);
                path.truncate(len);
            }
        }
        // Type mismatches are validation's business, not this one's.
        _ => {}
    }
}

/// Check a decoded object for a write to `res`: drop its unknown fields and decide by the
/// directive. With `old` (an update or a patch), only fields the stored object does not
/// already carry count, so a stored object from before a schema change does not fail every
/// later write. Returns the warnings to send.
pub fn check(
    directive: Directive,
    res: &ResourceInfo,
    obj: &mut Value,
    duplicates: Vec<String>,
    old: Option<&Value>,
) -> Result<Vec<String>, ApiError> {
    let catalog = crate::schema::catalog();
    let gvk = Gvk::new(res.group, res.version, res.kind);
    let mut unknown = prune_unknown(catalog, &gvk, obj);
    if let Some(old) = old
        && !unknown.is_empty()
    {
        let before = prune_unknown(catalog, &gvk, &mut old.clone());
        unknown.retain(|p| !before.contains(p));
    }
    decide(
        directive,
        res,
        &Findings {
            unknown,
            duplicates,
        },
    )
}

pub use bosun_api::manifest::decode_tracking;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployments() -> &'static ResourceInfo {
        bosun_api::resources::find("apps", "v1", "deployments").expect("deployments")
    }
    fn gvk() -> Gvk {
        Gvk::new("apps", "v1", "Deployment")
    }

    #[test]
    fn unknown_fields_are_found_with_their_paths_and_dropped() {
        let mut obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "labels": {"any": "key"}, "bogus": 1},
            "spec": {"foo": true, "replicas": 1, "template": {"spec": {"containers": [
                {"name": "a", "image": "i"}, {"name": "b", "image": "i", "bar": {}}]}}},
        });
        let found = prune_unknown(crate::schema::catalog(), &gvk(), &mut obj);
        assert_eq!(
            found,
            vec![
                "metadata.bogus",
                "spec.foo",
                "spec.template.spec.containers[1].bar"
            ]
        );
        assert!(obj["spec"].get("foo").is_none());
        assert!(
            obj["spec"]["template"]["spec"]["containers"][1]
                .get("bar")
                .is_none()
        );
        assert_eq!(obj["metadata"]["labels"]["any"], "key", "map keys are data");
        assert_eq!(obj["spec"]["replicas"], 1);
    }

    #[test]
    fn embedded_objects_and_unknown_kinds_keep_every_field() {
        let mut revision = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": "r"}, "revision": 1, "data": {"anything": {"goes": 1}}});
        let found = prune_unknown(
            crate::schema::catalog(),
            &Gvk::new("apps", "v1", "ControllerRevision"),
            &mut revision,
        );
        assert!(found.is_empty(), "{found:?}");
        let mut custom = json!({"spec": {"whatever": 1}});
        assert!(
            prune_unknown(
                crate::schema::catalog(),
                &Gvk::new("example.com", "v1", "Widget"),
                &mut custom
            )
            .is_empty()
        );
    }

    #[test]
    fn duplicates_are_tracked_in_json_and_yaml() {
        let mut de = serde_json::Deserializer::from_str(
            r#"{"metadata": {"name": "a", "name": "b"}, "spec": {"c": [{"x": 1, "x": 2}]}}"#,
        );
        let (value, dups) = decode_tracking(&mut de).expect("json");
        assert_eq!(value["metadata"]["name"], "b", "the later value wins");
        assert_eq!(dups, vec!["metadata.name", "spec.c[0].x"]);
        let yaml = "metadata:\n  name: a\n  name: b\nspec: {count: 1}\n";
        let (value, dups) =
            crate::object::decode_body_tracking(Some("application/yaml"), yaml.as_bytes())
                .expect("yaml");
        assert_eq!(
            (
                value["metadata"]["name"].clone(),
                value["spec"]["count"].clone()
            ),
            (json!("b"), json!(1))
        );
        assert_eq!(dups, vec!["metadata.name"]);
    }

    #[test]
    fn the_directive_decides_between_failing_warning_and_ignoring() {
        let findings = Findings {
            unknown: vec!["spec.foo".into()],
            duplicates: vec!["metadata.name".into()],
        };
        let err = decide(Directive::Strict, deployments(), &findings).expect_err("strict");
        assert_eq!(err.code(), 400);
        assert_eq!(
            err.message(),
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\", duplicate field \"metadata.name\""
        );
        assert_eq!(
            decide(Directive::Warn, deployments(), &findings).expect("warn"),
            vec![
                "unknown field \"spec.foo\"".to_string(),
                "duplicate field \"metadata.name\"".to_string()
            ]
        );
        assert!(
            decide(Directive::Ignore, deployments(), &findings)
                .expect("ignore")
                .is_empty()
        );
        assert_eq!(
            Directive::from_query(None).expect("default"),
            Directive::Warn
        );
        assert_eq!(
            Directive::from_query(Some("strict"))
                .expect_err("case")
                .code(),
            400
        );
    }
}
