//! Objects as the API server handles them: decoded from JSON or YAML bodies, checked against
//! the resource they are sent to, given their server-set metadata, and stored as JSON. Pure.

use bosun_api::{ApiError, Cause, ResourceInfo, names};
use serde_json::{Map, Value, json};

/// The largest object the store accepts (etcd's request limit, 1.5 MiB).
pub const MAX_OBJECT_BYTES: usize = bosun_store::MAX_VALUE_BYTES;

/// Decode a request body by its content type: JSON, or YAML (`application/yaml`). Errors name
/// the line and column.
pub fn decode_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    decode_body_tracking(content_type, body).map(|(value, _)| value)
}

/// [`decode_body`], and the paths of the fields the body sets more than once (the later value
/// wins).
pub fn decode_body_tracking(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(Value, Vec<String>), ApiError> {
    let media = content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    match media {
        "application/yaml" | "application/apply-patch+yaml" | "text/yaml" => {
            bosun_api::manifest::decode_yaml(body)
        }
        "application/json"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/json-patch+json"
        | "" => bosun_api::manifest::decode_json(body),
        crate::protobuf::CONTENT_TYPE => crate::protobuf::decode(body).map(|v| (v, Vec::new())),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// The object's metadata map, created if absent.
pub fn meta_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the object is not a JSON object"))?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if meta.is_null() {
        *meta = json!({});
    }
    meta.as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// Check `apiVersion` and `kind` (filling them when absent), and the name (or generateName),
/// for an object sent to `res` in `namespace`.
pub fn check_identity(
    obj: &mut Value,
    res: &ResourceInfo,
    namespace: Option<&str>,
) -> Result<(), ApiError> {
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the object is not a JSON object"))?;
    let api_version = res.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None => {
            map.insert("apiVersion".into(), json!(api_version));
        }
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(&format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None => {
            map.insert("kind".into(), json!(res.kind));
        }
        Some(k) if k == res.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(&format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                res.kind
            )));
        }
    }
    let meta = meta_mut(obj)?;
    if res.namespaced {
        match (meta.get("namespace").and_then(Value::as_str), namespace) {
            (Some(body_ns), Some(path_ns)) if body_ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            (_, Some(path_ns)) => {
                meta.insert("namespace".into(), json!(path_ns));
            }
            _ => {}
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

/// Validate the name (after generateName has been resolved).
pub fn validate_name(res: &ResourceInfo, name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::invalid(
            res,
            name,
            vec![Cause::required("metadata.name")],
        ));
    }
    let problems = (names::name_rule(res))(name);
    if problems.is_empty() {
        return Ok(());
    }
    let causes = problems
        .into_iter()
        .map(|p| Cause::invalid("metadata.name", &json!(name), &p))
        .collect();
    Err(ApiError::invalid(res, name, causes))
}

/// Whether the object asks the server for its name: no `metadata.name`, a `generateName`.
pub fn generates_name(obj: &Value) -> bool {
    let meta = obj.get("metadata");
    meta.and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        && meta
            .and_then(|m| m.get("generateName"))
            .and_then(Value::as_str)
            .is_some()
}

/// A new name from `metadata.generateName`, replacing the one generated before.
pub fn regenerate_name(obj: &mut Value, res: &ResourceInfo) -> Result<String, ApiError> {
    meta_mut(obj)?.remove("name");
    resolve_name(obj, res)
}

/// Resolve `metadata.generateName` into a name (5 random lowercase alphanumerics appended).
pub fn resolve_name(obj: &mut Value, res: &ResourceInfo) -> Result<String, ApiError> {
    let meta = meta_mut(obj)?;
    if let Some(name) = meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Ok(name.to_string());
    }
    let Some(prefix) = meta.get("generateName").and_then(Value::as_str) else {
        return Err(ApiError::invalid(
            res,
            "",
            vec![Cause::required("metadata.name")],
        ));
    };
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    let name = format!("{prefix}{suffix}");
    meta.insert("name".into(), json!(name));
    Ok(name)
}

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The time `seconds` from now, as RFC 3339 in whole seconds.
pub fn now_plus_seconds_rfc3339(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Set what the server owns on a new object: uid, creationTimestamp, generation; clear what a
/// client may not set.
pub fn prepare_create(obj: &mut Value) -> Result<(), ApiError> {
    let meta = meta_mut(obj)?;
    meta.insert("uid".into(), json!(new_uid()));
    meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
    meta.insert("generation".into(), json!(1));
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    meta.remove("selfLink");
    Ok(())
}

/// Carry the server-owned metadata of `old` over to `new` on update, and bump the generation
/// when the spec (or anything but metadata and status) changed.
pub fn prepare_update(
    new: &mut Value,
    old: &Value,
    res: &ResourceInfo,
    status_only: bool,
) -> Result<(), ApiError> {
    if status_only {
        // Only .status changes through /status.
        let status = new.get("status").cloned();
        let mut merged = old.clone();
        if let Some(map) = merged.as_object_mut() {
            match status {
                Some(s) => map.insert("status".into(), s),
                None => map.remove("status"),
            };
        }
        *new = merged;
        return Ok(());
    }
    if res.has_status
        && let (Some(map), Some(old_status)) = (new.as_object_mut(), old.get("status"))
    {
        // The main resource does not change .status (it goes through /status).
        map.insert("status".into(), old_status.clone());
    }
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let meta = meta_mut(new)?;
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    meta.remove("resourceVersion");
    if spec_changed(new, old) {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        meta_mut(new)?.insert("generation".into(), json!(generation));
    }
    Ok(())
}

/// Whether anything outside metadata and status differs.
fn spec_changed(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(new) != strip(old)
}

/// Put the store's revision into the object as `metadata.resourceVersion`.
pub fn with_resource_version(mut obj: Value, revision: i64) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
    }
    obj
}

/// The object as stored (no resourceVersion: the store's mod revision is the truth).
pub fn encode_for_store(obj: &Value) -> Result<Vec<u8>, ApiError> {
    let bytes = serde_json::to_vec(obj).map_err(|e| ApiError::internal(&format!("encode: {e}")))?;
    check_size(bytes.len())?;
    Ok(bytes)
}

/// 413 for an encoded object over [`MAX_OBJECT_BYTES`].
pub fn check_size(len: usize) -> Result<(), ApiError> {
    if len > MAX_OBJECT_BYTES {
        return Err(ApiError::too_large(&format!(
            "the object is {len} bytes; the limit is {MAX_OBJECT_BYTES} bytes"
        )));
    }
    Ok(())
}

/// A stored object re-encoded with its resourceVersion, without decoding more than its
/// metadata's top level (the LIST fast path); returns the JSON and the labels.
pub fn stored_json_with_rv(
    bytes: &[u8],
    revision: i64,
) -> Result<(Vec<u8>, std::collections::BTreeMap<String, String>), ApiError> {
    stored_parts(bytes, revision).map(|(json, meta, _)| (json, raw_labels(&meta)))
}

/// The members of a JSON object, undecoded and borrowed from the bytes they were read from.
pub type RawMembers<'a> = std::collections::BTreeMap<String, &'a serde_json::value::RawValue>;

/// [`stored_json_with_rv`], returning the members of the object and of its metadata (as
/// stored, without the new resourceVersion) undecoded, so that a caller needing one of them
/// decodes that one only. In the JSON the metadata's members are copied as they are stored
/// (managedFields is most of a small object's metadata) with `resourceVersion` set among them.
pub fn stored_parts(
    bytes: &[u8],
    revision: i64,
) -> Result<(Vec<u8>, RawMembers<'_>, RawMembers<'_>), ApiError> {
    let bad = |e: serde_json::Error| ApiError::internal(&format!("stored object: {e}"));
    let top: RawMembers = serde_json::from_slice(bytes).map_err(bad)?;
    let meta: RawMembers = match top.get("metadata") {
        Some(raw) => serde_json::from_str(raw.get()).map_err(bad)?,
        None => RawMembers::new(),
    };
    let rv = serde_json::value::RawValue::from_string(format!("\"{revision}\"")).map_err(bad)?;
    let mut with_rv: std::collections::BTreeMap<&str, &serde_json::value::RawValue> =
        meta.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    with_rv.insert("resourceVersion", &rv);
    let meta_json = members_json(&with_rv).map_err(bad)?;
    let mut out = Vec::with_capacity(bytes.len() + 32);
    write_spliced(&mut out, &top, &[("metadata", meta_json)]).map_err(bad)?;
    Ok((out, meta, top))
}

/// An object of undecoded members (borrowed, or owned), as JSON.
pub fn members_json<K: AsRef<str>, V: std::borrow::Borrow<serde_json::value::RawValue>>(
    members: &std::collections::BTreeMap<K, V>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    write_object(
        &mut out,
        members
            .iter()
            .map(|(k, v)| (k.as_ref(), v.borrow().get().as_bytes())),
    )?;
    Ok(out)
}

/// The object of undecoded members `top`, with each member of `edited` (encoded JSON) written
/// in place of the stored one, or added; members in key order.
pub fn write_spliced(
    out: &mut Vec<u8>,
    top: &RawMembers,
    edited: &[(&str, Vec<u8>)],
) -> Result<(), serde_json::Error> {
    let mut members: std::collections::BTreeMap<&str, &[u8]> = top
        .iter()
        .map(|(k, v)| (k.as_str(), v.get().as_bytes()))
        .collect();
    members.extend(edited.iter().map(|(k, v)| (*k, v.as_slice())));
    write_object(out, members.into_iter())
}

/// An object of (name, encoded JSON value) members, as JSON.
fn write_object<'a>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), serde_json::Error> {
    out.push(b'{');
    for (i, (key, value)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key)?;
        out.push(b':');
        out.extend_from_slice(value);
    }
    out.push(b'}');
    Ok(())
}

/// The labels among undecoded metadata members (values that are not strings are left out, as
/// [`labels`] does).
pub fn raw_labels(meta: &RawMembers) -> std::collections::BTreeMap<String, String> {
    meta.get("labels")
        .and_then(|raw| serde_json::from_str::<serde_json::Map<String, Value>>(raw.get()).ok())
        .map(|m| string_members(&m))
        .unwrap_or_default()
}

/// The members of a JSON object whose values are strings.
fn string_members(
    m: &serde_json::Map<String, Value>,
) -> std::collections::BTreeMap<String, String> {
    m.iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect()
}

/// Decode a stored object and set its resourceVersion.
pub fn decode_stored(bytes: &[u8], revision: i64) -> Result<Value, ApiError> {
    let obj: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal(&format!("stored object: {e}")))?;
    Ok(with_resource_version(obj, revision))
}

fn new_uid() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

/// The labels of an object.
pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(string_members)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> &'static ResourceInfo {
        bosun_api::resources::find("apps", "v1", "deployments").expect("deployments")
    }

    #[test]
    fn yaml_and_json_bodies_decode_and_errors_name_the_position() {
        let v = decode_body(Some("application/yaml"), b"a: 1\nb: [x]\n").expect("yaml");
        assert_eq!(v, json!({"a": 1, "b": ["x"]}));
        let err = decode_body(Some("application/json"), b"{\n  \"a\": }").expect_err("bad json");
        assert!(
            err.to_status()["message"]
                .as_str()
                .unwrap_or_default()
                .contains("line 2"),
            "{err:?}"
        );
        assert_eq!(
            decode_body(Some("application/xml"), b"<a/>")
                .expect_err("xml")
                .code(),
            415
        );
    }

    #[test]
    fn identity_is_filled_and_mismatches_are_refused() {
        let mut obj = json!({"metadata": {"name": "web"}});
        check_identity(&mut obj, deployments(), Some("ns")).expect("fills");
        assert_eq!(obj["apiVersion"], "apps/v1");
        assert_eq!(obj["kind"], "Deployment");
        assert_eq!(obj["metadata"]["namespace"], "ns");
        let mut wrong =
            json!({"apiVersion": "v1", "kind": "Deployment", "metadata": {"name": "x"}});
        assert_eq!(
            check_identity(&mut wrong, deployments(), Some("ns"))
                .expect_err("version")
                .code(),
            400
        );
        let mut other_ns = json!({"metadata": {"name": "x", "namespace": "a"}});
        assert_eq!(
            check_identity(&mut other_ns, deployments(), Some("b"))
                .expect_err("ns")
                .code(),
            400
        );
    }

    #[test]
    fn names_are_validated_and_generated() {
        assert_eq!(
            validate_name(deployments(), "Bad_Name")
                .expect_err("invalid")
                .code(),
            422
        );
        let mut obj = json!({"metadata": {"generateName": "web-"}});
        let name = resolve_name(&mut obj, deployments()).expect("generated");
        assert!(name.starts_with("web-") && name.len() == 9, "{name}");
        assert!(validate_name(deployments(), &name).is_ok());
    }

    #[test]
    fn only_objects_without_a_name_generate_one_and_regenerating_replaces_it() {
        let mut obj = json!({"metadata": {"generateName": "web-"}});
        assert!(generates_name(&obj));
        assert!(generates_name(
            &json!({"metadata": {"name": "", "generateName": "web-"}})
        ));
        assert!(!generates_name(
            &json!({"metadata": {"name": "x", "generateName": "web-"}})
        ));
        assert!(!generates_name(&json!({"metadata": {}})));
        let first = resolve_name(&mut obj, deployments()).expect("generated");
        let mut names = std::collections::BTreeSet::from([first]);
        for _ in 0..20 {
            let name = regenerate_name(&mut obj, deployments()).expect("again");
            assert!(name.starts_with("web-") && name.len() == 9, "{name}");
            assert_eq!(obj["metadata"]["name"], json!(name));
            names.insert(name);
        }
        // A regeneration that kept the old name would leave one name here.
        assert!(names.len() > 1, "{names:?}");
    }

    #[test]
    fn updates_keep_server_fields_and_bump_generation_on_spec_changes_only() {
        let old = json!({"metadata": {"name": "w", "uid": "u1", "generation": 3, "creationTimestamp": "t"}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut same_spec = json!({"metadata": {"name": "w", "labels": {"a": "b"}}, "spec": {"replicas": 1}, "status": {"replicas": 9}});
        prepare_update(&mut same_spec, &old, deployments(), false).expect("update");
        assert_eq!(same_spec["metadata"]["generation"], 3);
        assert_eq!(same_spec["metadata"]["uid"], "u1");
        assert_eq!(
            same_spec["status"]["replicas"], 1,
            "status only changes through /status"
        );
        let mut new_spec = json!({"metadata": {"name": "w"}, "spec": {"replicas": 2}});
        prepare_update(&mut new_spec, &old, deployments(), false).expect("update");
        assert_eq!(new_spec["metadata"]["generation"], 4);
        let mut status = json!({"spec": {"replicas": 100}, "status": {"replicas": 2}});
        prepare_update(&mut status, &old, deployments(), true).expect("status");
        assert_eq!(
            (
                status["spec"]["replicas"].clone(),
                status["status"]["replicas"].clone()
            ),
            (json!(1), json!(2))
        );
    }

    #[test]
    fn the_list_fast_path_encodes_what_the_full_decode_does() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"metadata": "not it"},
            "metadata": {"name": "c", "labels": {"a": "b"}}, "zz": [1, {"x": null}]});
        let bytes = serde_json::to_vec(&obj).expect("encode");
        let (fast, labels) = stored_json_with_rv(&bytes, 42).expect("fast path");
        let fast: Value = serde_json::from_slice(&fast).expect("valid JSON");
        assert_eq!(fast, decode_stored(&bytes, 42).expect("decode"));
        assert_eq!(labels.get("a").map(String::as_str), Some("b"));
        // Metadata copied member by member: managedFields, a stored resourceVersion replaced,
        // escapes and a label that is not a string (left out of the labels, as `labels` does).
        let obj = json!({"metadata": {"name": "q\"x", "resourceVersion": "3", "uid": "u",
            "labels": {"a": "b", "n": 1}, "managedFields": [{"manager": "m",
            "fieldsV1": {"f:data": {".": {}, "f:k": {}}}}]}, "data": {"k": "v\u{e9}\n"}});
        let bytes = serde_json::to_vec(&obj).expect("encode");
        let (fast, got) = stored_json_with_rv(&bytes, 43).expect("fast path");
        let fast: Value = serde_json::from_slice(&fast).expect("valid JSON");
        assert_eq!(fast, decode_stored(&bytes, 43).expect("decode"));
        assert_eq!(fast["metadata"]["resourceVersion"], "43");
        assert_eq!(got, super::labels(&obj));
        let (bare, _) = stored_json_with_rv(b"{}", 7).expect("no metadata");
        assert_eq!(
            serde_json::from_slice::<Value>(&bare).expect("json"),
            json!({"metadata": {"resourceVersion": "7"}})
        );
    }

    #[test]
    fn oversized_objects_are_refused() {
        let big = json!({"data": "x".repeat(MAX_OBJECT_BYTES)});
        assert_eq!(encode_for_store(&big).expect_err("too big").code(), 413);
    }
}
