//! Strategic merge patch, as the Kubernetes API server applies it to the built-in kinds.
//!
//! Maps merge recursively and `null` deletes a key. A list merges element-wise when the field's
//! patch tags give it a merge key (containers by name, ports by containerPort...), merges as a
//! set when its elements are primitives tagged `merge` (finalizers), and is replaced otherwise.
//! Directives: `$patch: replace | delete | merge`, `$retainKeys`, `$setElementOrder/<field>`,
//! `$deleteFromPrimitiveList/<field>`. Directive keys never reach the result.

use crate::PatchError;
use serde_json::{Map, Value};

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    Replace,
    MergeKey(&'static str),
    Set,
}

/// Where the PodSpec sits in each built-in kind.
fn pod_spec_root(api_version: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (api_version, kind) {
        ("v1", "Pod") => Some(&["spec"]),
        ("v1", "PodTemplate") => Some(&["template", "spec"]),
        ("v1", "ReplicationController")
        | ("apps/v1", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch/v1", "Job") => Some(&["spec", "template", "spec"]),
        ("batch/v1", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// The merge strategy of the list at `path` (field names, no indices) in a built-in kind.
pub fn list_strategy(api_version: &str, kind: &str, path: &[&str]) -> ListStrategy {
    use ListStrategy::*;
    match path {
        ["metadata", "ownerReferences"] => return MergeKey("uid"),
        ["metadata", "finalizers"] => return Set,
        _ => {}
    }
    if let Some(root) = pod_spec_root(api_version, kind)
        && let Some(rest) = path.strip_prefix(root)
    {
        return match rest {
            ["containers" | "initContainers" | "ephemeralContainers"] => MergeKey("name"),
            ["volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"] => {
                MergeKey("name")
            }
            ["hostAliases"] => MergeKey("ip"),
            ["topologySpreadConstraints"] => MergeKey("topologyKey"),
            [
                "containers" | "initContainers" | "ephemeralContainers",
                "ports",
            ] => MergeKey("containerPort"),
            [
                "containers" | "initContainers" | "ephemeralContainers",
                "env",
            ] => MergeKey("name"),
            [
                "containers" | "initContainers" | "ephemeralContainers",
                "volumeMounts",
            ] => MergeKey("mountPath"),
            [
                "containers" | "initContainers" | "ephemeralContainers",
                "volumeDevices",
            ] => MergeKey("devicePath"),
            [
                "containers" | "initContainers" | "ephemeralContainers",
                "resizePolicy",
            ] => MergeKey("resourceName"),
            _ => Replace,
        };
    }
    match (api_version, kind, path) {
        ("v1", "Pod", ["status", "conditions"]) => MergeKey("type"),
        ("v1", "Pod", ["status", "podIPs" | "hostIPs"]) => MergeKey("ip"),
        ("v1", "Node", ["status", "conditions" | "addresses"]) => MergeKey("type"),
        ("v1", "Node", ["spec", "podCIDRs"]) => Set,
        ("v1", "Service", ["spec", "ports"]) => MergeKey("port"),
        ("v1", "Namespace", ["status", "conditions"]) => MergeKey("type"),
        (
            "apps/v1",
            "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet",
            ["status", "conditions"],
        ) => MergeKey("type"),
        ("batch/v1", "Job", ["status", "conditions"]) => MergeKey("type"),
        _ => Replace,
    }
}

/// Apply a strategic merge patch to `target`, an object of `kind` in `api_version`.
pub fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    api_version: &str,
    kind: &str,
) -> Result<(), PatchError> {
    let Some(patch) = patch.as_object() else {
        return Err(PatchError::Invalid(
            "a strategic merge patch must be a JSON object".into(),
        ));
    };
    // Work on a copy so a refused patch leaves the target as it was.
    let mut map = target.as_object().cloned().unwrap_or_default();
    let ctx = Ctx { api_version, kind };
    if ctx.merge_map(&mut map, patch, &mut Vec::new())? == Outcome::Delete {
        map.clear();
    }
    *target = Value::Object(map);
    Ok(())
}

struct Ctx<'a> {
    api_version: &'a str,
    kind: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    Delete,
}

fn is_directive(key: &str) -> bool {
    key.starts_with('$')
}

/// A patch value with every directive removed (what gets inserted where nothing was).
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|v| {
                    !(v.as_object()
                        .is_some_and(|m| m.len() == 1 && m.contains_key("$patch")))
                })
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Ctx<'_> {
    fn strategy(&self, path: &[String]) -> ListStrategy {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        list_strategy(self.api_version, self.kind, &p)
    }

    fn merge_map(
        &self,
        target: &mut Map<String, Value>,
        patch: &Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Outcome, PatchError> {
        match patch.get("$patch").map(|v| v.as_str()) {
            None | Some(Some("merge")) => {}
            Some(Some("replace")) => {
                *target = strip(&Value::Object(patch.clone()))
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                return Ok(Outcome::Keep);
            }
            Some(Some("delete")) => return Ok(Outcome::Delete),
            Some(other) => {
                return Err(PatchError::Invalid(format!(
                    "unknown $patch directive {other:?} at {}",
                    display_path(path)
                )));
            }
        }
        let retain: Option<Vec<String>> = match patch.get("$retainKeys") {
            None => None,
            Some(Value::Array(keys)) => Some(
                keys.iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect(),
            ),
            Some(_) => {
                return Err(PatchError::Invalid(format!(
                    "$retainKeys at {} must be a list",
                    display_path(path)
                )));
            }
        };
        let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
        for (key, value) in patch {
            if let Some(field) = key.strip_prefix("$setElementOrder/") {
                match value {
                    Value::Array(order) => orders.push((field.to_string(), order.clone())),
                    _ => return Err(PatchError::Invalid(format!("{key} must be a list"))),
                }
                continue;
            }
            if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
                let Value::Array(remove) = value else {
                    return Err(PatchError::Invalid(format!("{key} must be a list")));
                };
                if let Some(Value::Array(list)) = target.get_mut(field) {
                    list.retain(|v| !remove.contains(v));
                }
                continue;
            }
            if is_directive(key) {
                continue;
            }
            path.push(key.clone());
            match value {
                Value::Null => {
                    target.remove(key);
                }
                Value::Object(p) => {
                    let slot = target
                        .entry(key.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    let outcome = match slot.as_object_mut() {
                        Some(m) => self.merge_map(m, p, path)?,
                        None => Outcome::Keep,
                    };
                    if outcome == Outcome::Delete {
                        target.remove(key);
                    }
                }
                Value::Array(items) => {
                    let merged = self.merge_list(target.get(key), items, path)?;
                    target.insert(key.clone(), merged);
                }
                scalar => {
                    target.insert(key.clone(), scalar.clone());
                }
            }
            path.pop();
        }
        for (field, order) in orders {
            path.push(field.clone());
            if let ListStrategy::MergeKey(merge_key) = self.strategy(path)
                && let Some(Value::Array(list)) = target.get_mut(&field)
            {
                reorder(list, &order, merge_key);
            }
            path.pop();
        }
        if let Some(keep) = retain {
            target.retain(|k, _| keep.iter().any(|r| r == k));
        }
        Ok(Outcome::Keep)
    }

    fn merge_list(
        &self,
        current: Option<&Value>,
        patch: &[Value],
        path: &mut Vec<String>,
    ) -> Result<Value, PatchError> {
        let replace_all = patch.iter().any(|v| {
            v.get("$patch").and_then(Value::as_str) == Some("replace")
                && v.as_object().is_some_and(|m| m.len() == 1)
        });
        let current: Vec<Value> = current
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if replace_all {
            return Ok(strip(&Value::Array(patch.to_vec())));
        }
        match self.strategy(path) {
            ListStrategy::Replace => Ok(strip(&Value::Array(patch.to_vec()))),
            ListStrategy::Set => {
                let mut out = current;
                for v in patch {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Ok(Value::Array(out))
            }
            ListStrategy::MergeKey(merge_key) => {
                let mut out = current;
                for item in patch {
                    let Some(p) = item.as_object() else {
                        return Err(PatchError::Invalid(format!(
                            "{}: elements must be objects merged by {merge_key:?}",
                            display_path(path)
                        )));
                    };
                    let Some(id) = p.get(merge_key) else {
                        return Err(PatchError::Invalid(format!(
                            "{}: an element lacks its merge key {merge_key:?}",
                            display_path(path)
                        )));
                    };
                    let pos = out.iter().position(|e| e.get(merge_key) == Some(id));
                    let delete = p.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (pos, delete) {
                        (Some(i), true) => {
                            out.remove(i);
                        }
                        (None, true) => {}
                        (Some(i), false) => {
                            if let Some(existing) = out[i].as_object_mut()
                                && self.merge_map(existing, p, path)? == Outcome::Delete
                            {
                                out.remove(i);
                            }
                        }
                        (None, false) => out.push(strip(item)),
                    }
                }
                Ok(Value::Array(out))
            }
        }
    }
}

/// Order `list` as `order` names its elements (by merge key); elements not named keep their
/// relative order after the named ones.
fn reorder(list: &mut Vec<Value>, order: &[Value], merge_key: &str) {
    let rank = |v: &Value| {
        order
            .iter()
            .position(|o| o.get(merge_key).is_some() && o.get(merge_key) == v.get(merge_key))
    };
    let mut indexed: Vec<(usize, Value)> = list.drain(..).enumerate().collect();
    indexed.sort_by_key(|(i, v)| (rank(v).unwrap_or(usize::MAX), *i));
    list.extend(indexed.into_iter().map(|(_, v)| v));
}

fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        "the top level".into()
    } else {
        path.join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web", "tier": "x"}, "finalizers": ["a"]},
            "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
              "template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                {"name": "side", "image": "busybox"}]}}}})
    }

    fn apply(patch: Value) -> Value {
        let mut d = deployment();
        strategic_merge_patch(&mut d, &patch, "apps/v1", "Deployment")
            .unwrap_or_else(|e| panic!("{e}"));
        d
    }

    fn containers(d: &Value) -> &Vec<Value> {
        d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers")
    }

    #[test]
    fn kubectl_apply_changing_an_image_merges_containers_by_name() {
        let d = apply(
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [{"image": "nginx:2", "name": "app"}]}}}}),
        );
        let c = containers(&d);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0]["image"], "nginx:2");
        assert_eq!(c[0]["env"][0]["name"], "A", "untouched fields stay");
        assert_eq!(c[1]["name"], "side");
    }

    #[test]
    fn env_vars_merge_by_name_and_ports_by_container_port() {
        let d = apply(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app",
            "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "changed"}],
            "ports": [{"containerPort": 443}]}]}}}}),
        );
        let c = &containers(&d)[0];
        assert_eq!(
            c["env"],
            json!([{"name": "A", "value": "changed"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(c["ports"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn patch_delete_removes_a_container_and_null_removes_a_label() {
        let d = apply(
            json!({"metadata": {"labels": {"tier": null}}, "spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}}),
        );
        assert_eq!(containers(&d).len(), 1);
        assert_eq!(d["metadata"]["labels"], json!({"app": "web"}));
    }

    #[test]
    fn patch_replace_replaces_a_map_or_a_list() {
        let d = apply(json!({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}));
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        let d = apply(
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}}}),
        );
        assert_eq!(containers(&d), &vec![json!({"name": "only", "image": "x"})]);
    }

    #[test]
    fn retain_keys_drops_what_it_does_not_name() {
        let d = apply(
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
        );
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn finalizers_merge_as_a_set_and_delete_from_primitive_list_removes() {
        let d = apply(json!({"metadata": {"finalizers": ["b", "a"]}}));
        assert_eq!(d["metadata"]["finalizers"], json!(["a", "b"]));
        let d = apply(json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}));
        assert_eq!(d["metadata"]["finalizers"], json!([]));
    }

    #[test]
    fn lists_without_a_strategy_are_replaced_and_unknown_kinds_behave_like_merge_patch() {
        let mut d = deployment();
        let patch = json!({"spec": {"template": {"spec": {"tolerations": [{"key": "k"}]}}}});
        strategic_merge_patch(&mut d, &patch, "apps/v1", "Deployment").expect("patch");
        assert_eq!(
            d["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "k"}])
        );
        let mut cm = json!({"data": {"a": "1"}, "list": [1, 2]});
        strategic_merge_patch(
            &mut cm,
            &json!({"data": {"b": "2"}, "list": [3]}),
            "example.com/v1",
            "Widget",
        )
        .expect("patch");
        assert_eq!(cm, json!({"data": {"a": "1", "b": "2"}, "list": [3]}));
    }

    #[test]
    fn malformed_patches_are_refused_without_changing_the_target() {
        let mut d = deployment();
        let before = d.clone();
        for bad in [
            json!([1, 2]),
            json!({"spec": {"$patch": "explode"}}),
            json!({"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": ["not-an-object"]}}}}),
            json!({"spec": {"$retainKeys": "type"}}),
        ] {
            assert!(
                matches!(
                    strategic_merge_patch(&mut d, &bad, "apps/v1", "Deployment"),
                    Err(PatchError::Invalid(_))
                ),
                "{bad}"
            );
            assert_eq!(d, before);
        }
    }

    #[test]
    fn service_ports_merge_by_port_and_pod_conditions_by_type() {
        let mut svc = json!({"spec": {"ports": [{"port": 80, "name": "http"}]}});
        strategic_merge_patch(
            &mut svc,
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}),
            "v1",
            "Service",
        )
        .expect("patch");
        assert_eq!(
            svc["spec"]["ports"],
            json!([{"port": 80, "name": "http", "targetPort": 8080}, {"port": 443}])
        );
        let mut pod = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}});
        strategic_merge_patch(
            &mut pod,
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            "v1",
            "Pod",
        )
        .expect("patch");
        assert_eq!(
            pod["status"]["conditions"][0],
            json!({"type": "Ready", "status": "True"})
        );
        assert_eq!(
            pod["status"]["conditions"].as_array().map(Vec::len),
            Some(2)
        );
    }
}
