//! Defaulting of the built-in kinds as Kubernetes does it: fields a client leaves out get the
//! values a real cluster would show. Only absent fields are set, so defaulting is idempotent and
//! runs on every write.

use bosun_api::ResourceInfo;
use serde_json::{Map, Value, json};

fn set(map: &mut Map<String, Value>, key: &str, value: Value) {
    map.entry(key.to_string()).or_insert(value);
}

fn obj<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for p in path {
        let m = cur.as_object_mut()?;
        cur = m.entry(p.to_string()).or_insert_with(|| json!({}));
    }
    cur.as_object_mut()
}

pub fn apply(res: &ResourceInfo, o: &mut Value) {
    match (res.group, res.kind) {
        ("", "Namespace") => {
            if let Some(spec) = obj(o, &["spec"]) {
                set(spec, "finalizers", json!(["kubernetes"]));
            }
            if let Some(status) = obj(o, &["status"]) {
                set(status, "phase", json!("Active"));
            }
        }
        ("", "Pod") => {
            if let Some(spec) = obj(o, &["spec"]) {
                pod_spec(spec);
            }
            if let Some(status) = obj(o, &["status"]) {
                set(status, "phase", json!("Pending"));
                set(status, "qosClass", json!("BestEffort"));
            }
        }
        ("", "Secret") => {
            if let Some(m) = o.as_object_mut() {
                set(m, "type", json!("Opaque"));
            }
        }
        ("", "Service") => {
            if let Some(spec) = obj(o, &["spec"]) {
                set(spec, "type", json!("ClusterIP"));
                set(spec, "sessionAffinity", json!("None"));
                if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set(p, "protocol", json!("TCP"));
                        if let Some(port) = p.get("port").cloned() {
                            set(p, "targetPort", port);
                        }
                    }
                }
            }
        }
        ("apps", "Deployment") => {
            if let Some(spec) = obj(o, &["spec"]) {
                set(spec, "replicas", json!(1));
                set(spec, "revisionHistoryLimit", json!(10));
                set(spec, "progressDeadlineSeconds", json!(600));
                set(
                    spec,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                );
            }
            template(o, &["spec", "template", "spec"]);
        }
        ("apps", "ReplicaSet") => {
            if let Some(spec) = obj(o, &["spec"]) {
                set(spec, "replicas", json!(1));
            }
            template(o, &["spec", "template", "spec"]);
        }
        ("apps", "StatefulSet") => {
            if let Some(spec) = obj(o, &["spec"]) {
                set(spec, "replicas", json!(1));
                set(spec, "podManagementPolicy", json!("OrderedReady"));
                set(spec, "revisionHistoryLimit", json!(10));
                set(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                );
            }
            template(o, &["spec", "template", "spec"]);
        }
        ("apps", "DaemonSet") => {
            if let Some(spec) = obj(o, &["spec"]) {
                set(spec, "revisionHistoryLimit", json!(10));
                set(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                );
            }
            template(o, &["spec", "template", "spec"]);
        }
        ("batch", "Job") => {
            job_selector(o);
            if let Some(spec) = obj(o, &["spec"]) {
                if !spec.contains_key("completions") && !spec.contains_key("parallelism") {
                    spec.insert("completions".into(), json!(1));
                }
                set(spec, "parallelism", json!(1));
                set(spec, "backoffLimit", json!(6));
                set(spec, "completionMode", json!("NonIndexed"));
                set(spec, "suspend", json!(false));
            }
            template(o, &["spec", "template", "spec"]);
        }
        ("batch", "CronJob") => {
            if let Some(spec) = obj(o, &["spec"]) {
                set(spec, "concurrencyPolicy", json!("Allow"));
                set(spec, "suspend", json!(false));
                set(spec, "successfulJobsHistoryLimit", json!(3));
                set(spec, "failedJobsHistoryLimit", json!(1));
            }
            template(o, &["spec", "jobTemplate", "spec", "template", "spec"]);
        }
        _ => {}
    }
}

/// As kube-apiserver does for Jobs without `manualSelector`: select the Job's pods by its uid,
/// and label the template so (`batch.kubernetes.io/controller-uid`, `job-name` and the legacy
/// unprefixed keys).
fn job_selector(o: &mut Value) {
    let uid = o
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let manual = o.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
    let (Some(uid), Some(name), false) = (uid, name, manual) else {
        return;
    };
    if o.pointer("/spec/selector").is_some() {
        return;
    }
    if let Some(spec) = obj(o, &["spec"]) {
        spec.insert(
            "selector".into(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
    if let Some(meta) = obj(o, &["spec", "template", "metadata"]) {
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
            labels.insert("batch.kubernetes.io/job-name".into(), json!(name));
            labels.insert("controller-uid".into(), json!(uid));
            labels.insert("job-name".into(), json!(name));
        }
    }
}

fn template(o: &mut Value, path: &[&str]) {
    // Only default a template that is there: a missing one is a validation error.
    let mut cur: &mut Value = o;
    for p in path {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(spec) = cur.as_object_mut() {
        pod_spec(spec);
    }
}

fn pod_spec(spec: &mut Map<String, Value>) {
    set(spec, "restartPolicy", json!("Always"));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    set(spec, "dnsPolicy", json!("ClusterFirst"));
    set(spec, "schedulerName", json!("default-scheduler"));
    set(spec, "securityContext", json!({}));
    for list in ["initContainers", "containers"] {
        if let Some(items) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in items.iter_mut().filter_map(Value::as_object_mut) {
                let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
                let tag = image
                    .rsplit('/')
                    .next()
                    .and_then(|last| last.split_once(':'))
                    .map(|(_, t)| t);
                let policy = if tag.is_none_or(|t| t == "latest") && !image.contains('@') {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                set(c, "imagePullPolicy", json!(policy));
                set(c, "terminationMessagePath", json!("/dev/termination-log"));
                set(c, "terminationMessagePolicy", json!("File"));
                set(c, "resources", json!({}));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_gets_kubernetes_defaults_and_keeps_what_it_set() {
        let res = bosun_api::resources::find("apps", "v1", "deployments").expect("deployments");
        let mut d = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "nginx:1.27"}, {"name": "b", "image": "busybox"}]}}}});
        apply(res, &mut d);
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"],
            "Always"
        );
        let again = d.clone();
        apply(res, &mut d);
        assert_eq!(d, again, "defaulting is idempotent");
    }

    #[test]
    fn namespaces_start_active() {
        let res = bosun_api::resources::find("", "v1", "namespaces").expect("namespaces");
        let mut ns = json!({"metadata": {"name": "x"}});
        apply(res, &mut ns);
        assert_eq!(ns["status"]["phase"], "Active");
    }
}
