//! Validation of the built-in kinds as Kubernetes does it (the parts bosun enforces so far):
//! names of containers, required fields, ports, quantities, workload selectors that must match
//! their template and may not change, and the Pod spec fields that may not change. Pure: an
//! object in, `422 Invalid` with every cause out.

use bosun_api::{ApiError, Cause, LabelSelector, ResourceInfo, names};
use serde_json::Value;

/// Validate `obj` (and, on update, its change from `old`).
pub fn validate(res: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    match (res.group, res.kind) {
        ("", "Pod") => {
            if let Some(spec) = obj.get("spec") {
                pod_spec(spec, "spec", &mut causes);
            } else {
                causes.push(Cause::required("spec"));
            }
            if let Some(old) = old {
                pod_update(obj, old, &mut causes);
            }
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") | ("batch", "Job") => {
            workload(res, obj, old, &mut causes);
        }
        ("batch", "CronJob") => {
            if obj
                .pointer("/spec/schedule")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(Cause::required("spec.schedule"));
            }
            match obj.pointer("/spec/jobTemplate/spec/template/spec") {
                Some(spec) => pod_spec(spec, "spec.jobTemplate.spec.template.spec", &mut causes),
                None => causes.push(Cause::required("spec.jobTemplate.spec.template")),
            }
        }
        ("", "Service") => service(obj, &mut causes),
        ("", "ConfigMap" | "Secret") => data_keys(obj, &mut causes),
        _ => {}
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            for p in names::label_key(k) {
                causes.push(Cause::invalid(
                    "metadata.labels",
                    &Value::String(k.clone()),
                    &p,
                ));
            }
            match v.as_str() {
                Some(v) => {
                    for p in names::label_value(v) {
                        causes.push(Cause::invalid(
                            &format!("metadata.labels.{k}"),
                            &Value::String(v.into()),
                            &p,
                        ));
                    }
                }
                None => causes.push(Cause::invalid(
                    &format!("metadata.labels.{k}"),
                    v,
                    "must be a string",
                )),
            }
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(ApiError::invalid(res, name, causes))
}

fn workload(res: &ResourceInfo, obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    if let Some(r) = obj.pointer("/spec/replicas")
        && r.as_i64().is_none_or(|r| r < 0)
    {
        causes.push(Cause::invalid(
            "spec.replicas",
            r,
            "must be greater than or equal to 0",
        ));
    }
    let selector = obj.pointer("/spec/selector");
    let is_job = res.kind == "Job";
    match selector {
        None if !is_job => causes.push(Cause::required("spec.selector")),
        None => {}
        Some(sel) => match LabelSelector::from_label_selector(sel) {
            Err(e) => causes.push(Cause::invalid("spec.selector", sel, &e.to_string())),
            Ok(s) if s.is_empty() && !is_job => causes.push(Cause::invalid(
                "spec.selector",
                sel,
                "empty selector is invalid for deployment",
            )),
            Ok(s) => {
                let labels = obj
                    .pointer("/spec/template/metadata/labels")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                if !s.matches(&labels) {
                    causes.push(Cause::invalid(
                        "spec.template.metadata.labels",
                        obj.pointer("/spec/template/metadata/labels")
                            .unwrap_or(&Value::Null),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        },
    }
    if let Some(old) = old
        && obj.pointer("/spec/selector") != old.pointer("/spec/selector")
        && (res.group == "apps" || is_job)
    {
        causes.push(Cause::immutable("spec.selector"));
    }
    match obj.pointer("/spec/template/spec") {
        Some(spec) => pod_spec(spec, "spec.template.spec", causes),
        None => causes.push(Cause::required("spec.template")),
    }
}

fn pod_spec(spec: &Value, at: &str, causes: &mut Vec<Cause>) {
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(Vec::is_empty) {
        causes.push(Cause::required(&format!("{at}.containers")));
    }
    for list in ["initContainers", "containers"] {
        let Some(items) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        let mut seen = std::collections::HashSet::new();
        for (i, c) in items.iter().enumerate() {
            let field = format!("{at}.{list}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                None | Some("") => causes.push(Cause::required(&format!("{field}.name"))),
                Some(name) => {
                    for p in names::dns1123_label(name) {
                        causes.push(Cause::invalid(
                            &format!("{field}.name"),
                            &Value::String(name.into()),
                            &p,
                        ));
                    }
                    if !seen.insert(name.to_string()) {
                        causes.push(Cause::duplicate(
                            &format!("{field}.name"),
                            &Value::String(name.into()),
                        ));
                    }
                }
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(Cause::required(&format!("{field}.image")));
            }
            for (j, p) in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                port_number(
                    p.get("containerPort"),
                    &format!("{field}.ports[{j}].containerPort"),
                    true,
                    causes,
                );
            }
            for kind in ["limits", "requests"] {
                if let Some(m) = c
                    .pointer(&format!("/resources/{kind}"))
                    .and_then(Value::as_object)
                {
                    for (name, q) in m {
                        if !is_quantity(q) {
                            causes.push(Cause::invalid(
                                &format!("{field}.resources.{kind}[{name}]"),
                                q,
                                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                            ));
                        }
                    }
                }
            }
        }
    }
}

fn port_number(v: Option<&Value>, field: &str, required: bool, causes: &mut Vec<Cause>) {
    match v {
        None if required => causes.push(Cause::required(field)),
        Some(p) if p.as_i64().is_none_or(|n| !(1..=65535).contains(&n)) => {
            causes.push(Cause::invalid(
                field,
                p,
                "must be between 1 and 65535, inclusive",
            ));
        }
        _ => {}
    }
}

/// Kubernetes resource quantities: a number with an optional binary, decimal or exponent suffix.
pub fn is_quantity(v: &Value) -> bool {
    if v.is_number() {
        return true;
    }
    let Some(s) = v.as_str() else { return false };
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return false;
    }
    let exponent = |e: &str| {
        let digits = e.trim_start_matches(['+', '-']);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    };
    matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(exponent)
}

fn pod_update(new: &Value, old: &Value, causes: &mut Vec<Cause>) {
    // Only images, activeDeadlineSeconds, tolerations (additions) and
    // terminationGracePeriodSeconds may change in a Pod's spec.
    let mutable = |spec: &Value| {
        let mut s = spec.clone();
        if let Some(m) = s.as_object_mut() {
            for f in [
                "activeDeadlineSeconds",
                "tolerations",
                "terminationGracePeriodSeconds",
            ] {
                m.remove(f);
            }
            for list in ["containers", "initContainers"] {
                if let Some(items) = m.get_mut(list).and_then(Value::as_array_mut) {
                    for c in items {
                        if let Some(c) = c.as_object_mut() {
                            c.remove("image");
                        }
                    }
                }
            }
        }
        s
    };
    let (Some(n), Some(o)) = (new.get("spec"), old.get("spec")) else {
        return;
    };
    if mutable(n) != mutable(o) {
        causes.push(Cause::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
}

fn service(obj: &Value, causes: &mut Vec<Cause>) {
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let external = obj.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
    if ports.is_none_or(Vec::is_empty) && !headless && !external {
        causes.push(Cause::required("spec.ports"));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        port_number(
            p.get("port"),
            &format!("spec.ports[{i}].port"),
            true,
            causes,
        );
        if let Some(t) = p.get("targetPort")
            && t.is_number()
        {
            port_number(
                Some(t),
                &format!("spec.ports[{i}].targetPort"),
                false,
                causes,
            );
        }
    }
}

fn data_keys(obj: &Value, causes: &mut Vec<Cause>) {
    for field in ["data", "binaryData", "stringData"] {
        for key in obj
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.keys())
        {
            let ok = !key.is_empty()
                && key.len() <= 253
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                causes.push(Cause::invalid(
                    &format!("{field}[{key}]"),
                    &Value::String(key.clone()),
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(group: &str, plural: &str) -> &'static ResourceInfo {
        bosun_api::resources::find(group, "v1", plural).expect("resource")
    }

    fn deployment(selector: Value, labels: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": selector,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}}}})
    }

    fn fields(e: ApiError) -> Vec<String> {
        e.to_status()["details"]["causes"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|c| c["field"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_selector_that_does_not_match_the_template_is_invalid() {
        let d = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "other"}),
        );
        let err = validate(res("apps", "deployments"), &d, None).expect_err("invalid");
        assert_eq!(err.code(), 422);
        assert_eq!(fields(err), vec!["spec.template.metadata.labels"]);
        let ok = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        assert!(validate(res("apps", "deployments"), &ok, None).is_ok());
    }

    #[test]
    fn a_deployments_selector_is_immutable() {
        let old = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web", "v": "1"}),
        );
        let new = deployment(
            json!({"matchLabels": {"v": "1"}}),
            json!({"app": "web", "v": "1"}),
        );
        let err = validate(res("apps", "deployments"), &new, Some(&old)).expect_err("immutable");
        assert_eq!(fields(err), vec!["spec.selector"]);
    }

    #[test]
    fn pods_need_named_containers_with_images_valid_ports_and_quantities() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "Bad_Name", "ports": [{"containerPort": 70000}], "resources": {"limits": {"cpu": "lots"}}}]}});
        let err = validate(res("", "pods"), &pod, None).expect_err("invalid");
        let f = fields(err);
        for want in [
            "spec.containers[0].name",
            "spec.containers[0].image",
            "spec.containers[0].ports[0].containerPort",
            "spec.containers[0].resources.limits[cpu]",
        ] {
            assert!(f.iter().any(|x| x == want), "{want} in {f:?}");
        }
    }

    #[test]
    fn pod_specs_may_only_change_images() {
        let old = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}});
        let image = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x:2"}]}});
        assert!(validate(res("", "pods"), &image, Some(&old)).is_ok());
        let cmd = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x:1", "command": ["sh"]}]}});
        assert_eq!(
            validate(res("", "pods"), &cmd, Some(&old))
                .expect_err("forbidden")
                .code(),
            422
        );
    }

    #[test]
    fn quantities_follow_kubernetes_syntax() {
        for ok in ["100m", "1", "0.5", "1Gi", "128Mi", "1e3", "2k"] {
            assert!(is_quantity(&json!(ok)), "{ok}");
        }
        for bad in ["lots", "1.2.3", "", "Mi", "1xx"] {
            assert!(!is_quantity(&json!(bad)), "{bad}");
        }
    }

    #[test]
    fn services_need_valid_ports_and_config_keys_are_checked() {
        let svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 0}]}});
        assert_eq!(
            fields(validate(res("", "services"), &svc, None).expect_err("port")),
            vec!["spec.ports[0].port"]
        );
        let cm = json!({"metadata": {"name": "c"}, "data": {"bad key": "v"}});
        assert_eq!(
            validate(res("", "configmaps"), &cm, None)
                .expect_err("key")
                .code(),
            422
        );
    }
}
