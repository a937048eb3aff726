//! `POST pods/{name}/eviction`: the policy/v1 `Eviction` body, checked as the upstream
//! eviction REST handler checks it, and turned into the DeleteOptions the pod is deleted with.
//! The handler deletes the pod gracefully with them and answers 201 with a `Status` Success.
//!
//! (PodDisruptionBudgets are not served by bosun, so no eviction is refused for one.)

use bosun_api::{ApiError, Cause, ResourceInfo};
use serde_json::{Map, Value, json};

/// The kind an eviction speaks, for Invalid errors (`Eviction.policy "x" is invalid: ...`).
static EVICTION: ResourceInfo = ResourceInfo {
    group: "policy",
    version: "v1",
    plural: "evictions",
    singular: "eviction",
    kind: "Eviction",
    namespaced: true,
    short_names: &[],
    categories: &[],
    subresources: &[],
    has_status: false,
    verbs: &["create"],
};

const API_VERSIONS: &[&str] = &["policy/v1", "policy/v1beta1"];
const PROPAGATION: &[&str] = &["Orphan", "Background", "Foreground"];

/// The DeleteOptions of an eviction of pod `name` in `namespace`: the `deleteOptions` of the
/// body (decoded by `content_type`), checked. Only the fields the delete uses are kept:
/// `gracePeriodSeconds`, `propagationPolicy`, `preconditions` and `dryRun`.
///
/// 400 for a body that is no Eviction or names another pod or namespace; 422 naming the field
/// for delete options with bad values.
pub fn delete_options(
    content_type: Option<&str>,
    body: &[u8],
    name: &str,
    namespace: Option<&str>,
) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "an Eviction body is required: {\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":...}}",
        ));
    }
    let eviction = crate::object::decode_body(content_type, body)?;
    check(&eviction, name, namespace)
}

/// [`delete_options`] on a decoded body.
pub fn check(eviction: &Value, name: &str, namespace: Option<&str>) -> Result<Value, ApiError> {
    let Some(eviction) = eviction.as_object() else {
        return Err(ApiError::bad_request(
            "the request body must be an Eviction object",
        ));
    };
    let text = |field: &str| eviction.get(field).and_then(Value::as_str);
    if let Some(v) = eviction.get("apiVersion")
        && !v.as_str().is_some_and(|v| API_VERSIONS.contains(&v))
    {
        return Err(ApiError::bad_request(&format!(
            "apiVersion {v} is not supported for an eviction; use policy/v1"
        )));
    }
    if let Some(k) = eviction.get("kind")
        && text("kind") != Some("Eviction")
    {
        return Err(ApiError::bad_request(&format!(
            "kind {k} is not an Eviction"
        )));
    }
    let meta = match eviction.get("metadata") {
        None => &Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ApiError::bad_request("metadata must be an object")),
    };
    if meta.get("name").and_then(Value::as_str) != Some(name) {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    if let (Some(ns), Some(given)) = (namespace, meta.get("namespace"))
        && given.as_str().is_none_or(|g| !g.is_empty() && g != ns)
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let options = match eviction.get("deleteOptions") {
        None | Some(Value::Null) => return Ok(json!({})),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(invalid(
                name,
                vec![Cause::invalid(
                    "deleteOptions",
                    &eviction["deleteOptions"],
                    "must be an object",
                )],
            ));
        }
    };
    let mut out = Map::new();
    let mut causes = Vec::new();
    if let Some(g) = options.get("gracePeriodSeconds").filter(|v| !v.is_null()) {
        match g.as_i64() {
            Some(n) if n >= 0 => {
                out.insert("gracePeriodSeconds".into(), json!(n));
            }
            Some(_) => causes.push(Cause::invalid(
                "deleteOptions.gracePeriodSeconds",
                g,
                "must be greater than or equal to 0",
            )),
            None => causes.push(Cause::invalid(
                "deleteOptions.gracePeriodSeconds",
                g,
                "must be an integer",
            )),
        }
    }
    if let Some(p) = options.get("propagationPolicy").filter(|v| !v.is_null()) {
        if p.as_str().is_some_and(|p| PROPAGATION.contains(&p)) {
            out.insert("propagationPolicy".into(), p.clone());
        } else {
            causes.push(Cause::not_supported(
                "deleteOptions.propagationPolicy",
                p,
                PROPAGATION,
            ));
        }
    }
    if let Some(pre) = options.get("preconditions").filter(|v| !v.is_null()) {
        match pre.as_object() {
            Some(p) => {
                let mut kept = Map::new();
                for field in ["uid", "resourceVersion"] {
                    match p.get(field) {
                        None | Some(Value::Null) => {}
                        Some(Value::String(s)) => {
                            kept.insert(field.into(), json!(s));
                        }
                        Some(other) => causes.push(Cause::invalid(
                            &format!("deleteOptions.preconditions.{field}"),
                            other,
                            "must be a string",
                        )),
                    }
                }
                out.insert("preconditions".into(), Value::Object(kept));
            }
            None => causes.push(Cause::invalid(
                "deleteOptions.preconditions",
                pre,
                "must be an object",
            )),
        }
    }
    if let Some(d) = options.get("dryRun").filter(|v| !v.is_null()) {
        match d.as_array() {
            Some(items) if items.iter().all(|i| i.as_str() == Some("All")) => {
                out.insert("dryRun".into(), d.clone());
            }
            _ => causes.push(Cause::not_supported("deleteOptions.dryRun", d, &["All"])),
        }
    }
    if !causes.is_empty() {
        return Err(invalid(name, causes));
    }
    Ok(Value::Object(out))
}

fn invalid(name: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid(&EVICTION, name, causes)
}

/// The answer to an eviction that went through, as the upstream API server gives it.
pub fn success() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eviction(name: &str, options: Value) -> Value {
        json!({"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": name, "namespace": "ns"}, "deleteOptions": options})
    }

    #[test]
    fn the_delete_options_are_kept() {
        let options = check(
            &eviction(
                "p",
                json!({"gracePeriodSeconds": 5, "preconditions": {"uid": "u"},
                    "propagationPolicy": "Background", "dryRun": ["All"], "kind": "DeleteOptions"}),
            ),
            "p",
            Some("ns"),
        )
        .expect("valid");
        assert_eq!(
            options,
            json!({"gracePeriodSeconds": 5, "preconditions": {"uid": "u"},
                "propagationPolicy": "Background", "dryRun": ["All"]})
        );
        let bare = json!({"metadata": {"name": "p"}});
        assert_eq!(check(&bare, "p", Some("ns")).expect("bare"), json!({}));
    }

    #[test]
    fn another_pods_name_or_namespace_is_a_bad_request() {
        for (body, why) in [
            (eviction("q", json!({})), "name in URL does not match"),
            (json!({"kind": "Eviction"}), "name in URL does not match"),
            (
                json!({"metadata": {"name": "p", "namespace": "other"}}),
                "namespace of the provided object",
            ),
            (
                json!({"kind": "Pod", "metadata": {"name": "p"}}),
                "is not an Eviction",
            ),
            (
                json!({"apiVersion": "v1", "metadata": {"name": "p"}}),
                "apiVersion \"v1\" is not supported",
            ),
            (json!([1]), "must be an Eviction"),
        ] {
            let e = check(&body, "p", Some("ns")).expect_err("refused");
            assert_eq!(e.code(), 400, "{body}");
            assert!(e.message().contains(why), "{body}: {e}");
        }
    }

    #[test]
    fn bad_delete_options_are_invalid_naming_the_field() {
        let e = check(
            &eviction(
                "p",
                json!({"gracePeriodSeconds": -1, "propagationPolicy": "Sometimes",
                    "preconditions": {"uid": 7}, "dryRun": ["Some"]}),
            ),
            "p",
            Some("ns"),
        )
        .expect_err("invalid");
        assert_eq!(e.code(), 422);
        let fields: Vec<String> = e
            .details()
            .map(|d| d.causes.iter().map(|c| c.field.clone()).collect())
            .unwrap_or_default();
        assert_eq!(
            fields,
            [
                "deleteOptions.gracePeriodSeconds",
                "deleteOptions.propagationPolicy",
                "deleteOptions.preconditions.uid",
                "deleteOptions.dryRun"
            ]
        );
        assert!(
            e.message().starts_with("Eviction.policy \"p\" is invalid"),
            "{e}"
        );
        let e = check(
            &eviction("p", json!({"gracePeriodSeconds": "soon"})),
            "p",
            None,
        )
        .expect_err("invalid");
        assert!(e.message().contains("must be an integer"), "{e}");
    }

    #[test]
    fn an_empty_or_malformed_body_is_a_bad_request() {
        for body in [&b""[..], b"  ", b"{", b"[1,"] {
            let e = delete_options(Some("application/json"), body, "p", None).expect_err("bad");
            assert_eq!(e.code(), 400);
        }
        let yaml = b"apiVersion: policy/v1\nkind: Eviction\nmetadata:\n  name: p\n";
        assert_eq!(
            delete_options(Some("application/yaml"), yaml, "p", None).expect("yaml"),
            json!({})
        );
    }
}
