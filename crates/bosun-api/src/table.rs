//! Server-side printing: objects as the `meta.k8s.io/v1` Table `kubectl get` asks for, with
//! the columns a real cluster shows for each kind (priority 1 columns appear with `-o wide`).

use crate::resources::ResourceInfo;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

/// Kubernetes' HumanDuration: "5s", "3m2s", "10m", "5h3m", "2d3h", "45d", "2y3d".
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn age_of(ts: Option<&str>, now: SystemTime) -> String {
    let Some(ts) = ts else {
        return "<unknown>".into();
    };
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let now = chrono::DateTime::<chrono::Utc>::from(now);
    let d = now.signed_duration_since(t.with_timezone(&chrono::Utc));
    human_duration(d.to_std().unwrap_or_default())
}

fn s<'a>(o: &'a Value, ptr: &str) -> Option<&'a str> {
    o.pointer(ptr).and_then(Value::as_str)
}

fn n(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(v: Option<String>) -> String {
    v.filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".into())
}

struct Col {
    name: &'static str,
    kind: &'static str,
    priority: u8,
}

const fn c(name: &'static str, kind: &'static str, priority: u8) -> Col {
    Col {
        name,
        kind,
        priority,
    }
}

fn containers_images(o: &Value, spec_ptr: &str) -> (String, String) {
    let cs = o
        .pointer(spec_ptr)
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let images: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    (names.join(","), images.join(","))
}

fn selector_string(o: &Value, ptr: &str) -> String {
    o.pointer(ptr)
        .and_then(|s| crate::selector::LabelSelector::from_label_selector(s).ok())
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "<none>".into())
}

fn map_string(o: &Value, ptr: &str) -> String {
    let m = o.pointer(ptr).and_then(Value::as_object);
    or_none(m.map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",")
    }))
}

fn pod_status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for cs in &statuses {
        if let Some(r) = s(cs, "/state/waiting/reason") {
            return r.into();
        }
        if let Some(r) = s(cs, "/state/terminated/reason") {
            return r.into();
        }
    }
    s(o, "/status/reason")
        .or_else(|| s(o, "/status/phase"))
        .unwrap_or("Pending")
        .into()
}

/// The columns and cells of one kind.
fn columns(res: &ResourceInfo, o: &Value, now: SystemTime) -> (Vec<Col>, Vec<Value>) {
    let name = s(o, "/metadata/name").unwrap_or_default().to_string();
    let age = age_of(s(o, "/metadata/creationTimestamp"), now);
    match (res.group, res.kind) {
        ("", "Pod") => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = statuses
                .iter()
                .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            let restarts: i64 = statuses.iter().map(|c| n(c, "/restartCount")).sum();
            let gates = o
                .pointer("/spec/readinessGates")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            (
                vec![
                    c("Name", "string", 0),
                    c("Ready", "string", 0),
                    c("Status", "string", 0),
                    c("Restarts", "string", 0),
                    c("Age", "string", 0),
                    c("IP", "string", 1),
                    c("Node", "string", 1),
                    c("Nominated Node", "string", 1),
                    c("Readiness Gates", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(format!("{ready}/{total}")),
                    json!(pod_status(o)),
                    json!(restarts.to_string()),
                    json!(age),
                    json!(or_none(s(o, "/status/podIP").map(String::from))),
                    json!(or_none(s(o, "/spec/nodeName").map(String::from))),
                    json!(or_none(s(o, "/status/nominatedNodeName").map(String::from))),
                    json!(if gates == 0 {
                        "<none>".to_string()
                    } else {
                        format!("0/{gates}")
                    }),
                ],
            )
        }
        ("", "Namespace") => (
            vec![
                c("Name", "string", 0),
                c("Status", "string", 0),
                c("Age", "string", 0),
            ],
            vec![
                json!(name),
                json!(s(o, "/status/phase").unwrap_or("Active")),
                json!(age),
            ],
        ),
        ("", "Node") => {
            let conds = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = conds
                .iter()
                .find(|c| c["type"] == "Ready")
                .and_then(|c| c["status"].as_str())
                .unwrap_or("Unknown");
            let mut status = match ready {
                "True" => "Ready",
                "False" => "NotReady",
                _ => "Unknown",
            }
            .to_string();
            if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            let addr = |t: &str| {
                o.pointer("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find(|x| x["type"] == t))
                    .and_then(|x| x["address"].as_str())
                    .map(String::from)
            };
            (
                vec![
                    c("Name", "string", 0),
                    c("Status", "string", 0),
                    c("Roles", "string", 0),
                    c("Age", "string", 0),
                    c("Version", "string", 0),
                    c("Internal-IP", "string", 1),
                    c("External-IP", "string", 1),
                    c("OS-Image", "string", 1),
                    c("Kernel-Version", "string", 1),
                    c("Container-Runtime", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(status),
                    json!("<none>"),
                    json!(age),
                    json!(s(o, "/status/nodeInfo/kubeletVersion").unwrap_or("")),
                    json!(or_none(addr("InternalIP"))),
                    json!(or_none(addr("ExternalIP"))),
                    json!(s(o, "/status/nodeInfo/osImage").unwrap_or("")),
                    json!(s(o, "/status/nodeInfo/kernelVersion").unwrap_or("")),
                    json!(s(o, "/status/nodeInfo/containerRuntimeVersion").unwrap_or("")),
                ],
            )
        }
        ("", "Service") => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                .collect();
            (
                vec![
                    c("Name", "string", 0),
                    c("Type", "string", 0),
                    c("Cluster-IP", "string", 0),
                    c("External-IP", "string", 0),
                    c("Port(s)", "string", 0),
                    c("Age", "string", 0),
                    c("Selector", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(s(o, "/spec/type").unwrap_or("ClusterIP")),
                    json!(or_none(s(o, "/spec/clusterIP").map(String::from))),
                    json!("<none>"),
                    json!(or_none(Some(ports.join(",")))),
                    json!(age),
                    json!(map_string(o, "/spec/selector")),
                ],
            )
        }
        ("", "Endpoints") => {
            let eps: Vec<String> = o
                .pointer("/subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|s| {
                    let ports: Vec<i64> = s["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p["port"].as_i64())
                        .collect();
                    let ips: Vec<String> = s["addresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["ip"].as_str().map(String::from))
                        .collect();
                    ips.into_iter()
                        .flat_map(move |ip| {
                            let ports = ports.clone();
                            ports.into_iter().map(move |p| format!("{ip}:{p}"))
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            (
                vec![
                    c("Name", "string", 0),
                    c("Endpoints", "string", 0),
                    c("Age", "string", 0),
                ],
                vec![json!(name), json!(or_none(Some(eps.join(",")))), json!(age)],
            )
        }
        ("", "ConfigMap") => {
            let count = ["/data", "/binaryData"]
                .iter()
                .filter_map(|p| o.pointer(p).and_then(Value::as_object))
                .map(|m| m.len())
                .sum::<usize>();
            (
                vec![
                    c("Name", "string", 0),
                    c("Data", "integer", 0),
                    c("Age", "string", 0),
                ],
                vec![json!(name), json!(count), json!(age)],
            )
        }
        ("", "Secret") => {
            let count = o
                .pointer("/data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len());
            (
                vec![
                    c("Name", "string", 0),
                    c("Type", "string", 0),
                    c("Data", "integer", 0),
                    c("Age", "string", 0),
                ],
                vec![
                    json!(name),
                    json!(s(o, "/type").unwrap_or("Opaque")),
                    json!(count),
                    json!(age),
                ],
            )
        }
        ("", "ServiceAccount") => (
            vec![
                c("Name", "string", 0),
                c("Secrets", "string", 0),
                c("Age", "string", 0),
            ],
            vec![
                json!(name),
                json!(
                    o.pointer("/secrets")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                ),
                json!(age),
            ],
        ),
        ("" | "events.k8s.io", "Event") => {
            let (obj_kind, obj_name) = if res.group.is_empty() {
                (s(o, "/involvedObject/kind"), s(o, "/involvedObject/name"))
            } else {
                (s(o, "/regarding/kind"), s(o, "/regarding/name"))
            };
            let last = s(o, "/lastTimestamp")
                .or_else(|| s(o, "/eventTime"))
                .or_else(|| s(o, "/metadata/creationTimestamp"));
            (
                vec![
                    c("Last Seen", "string", 0),
                    c("Type", "string", 0),
                    c("Reason", "string", 0),
                    c("Object", "string", 0),
                    c("Message", "string", 0),
                ],
                vec![
                    json!(age_of(last, now)),
                    json!(s(o, "/type").unwrap_or("")),
                    json!(s(o, "/reason").unwrap_or("")),
                    json!(format!(
                        "{}/{}",
                        obj_kind.unwrap_or("").to_lowercase(),
                        obj_name.unwrap_or("")
                    )),
                    json!(s(o, "/message").or_else(|| s(o, "/note")).unwrap_or("")),
                ],
            )
        }
        ("apps", "Deployment") => {
            let (cs, imgs) = containers_images(o, "/spec/template/spec");
            (
                vec![
                    c("Name", "string", 0),
                    c("Ready", "string", 0),
                    c("Up-to-date", "string", 0),
                    c("Available", "string", 0),
                    c("Age", "string", 0),
                    c("Containers", "string", 1),
                    c("Images", "string", 1),
                    c("Selector", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(format!(
                        "{}/{}",
                        n(o, "/status/readyReplicas"),
                        n(o, "/spec/replicas")
                    )),
                    json!(n(o, "/status/updatedReplicas")),
                    json!(n(o, "/status/availableReplicas")),
                    json!(age),
                    json!(cs),
                    json!(imgs),
                    json!(selector_string(o, "/spec/selector")),
                ],
            )
        }
        ("apps", "ReplicaSet") => {
            let (cs, imgs) = containers_images(o, "/spec/template/spec");
            (
                vec![
                    c("Name", "string", 0),
                    c("Desired", "integer", 0),
                    c("Current", "integer", 0),
                    c("Ready", "integer", 0),
                    c("Age", "string", 0),
                    c("Containers", "string", 1),
                    c("Images", "string", 1),
                    c("Selector", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(n(o, "/spec/replicas")),
                    json!(n(o, "/status/replicas")),
                    json!(n(o, "/status/readyReplicas")),
                    json!(age),
                    json!(cs),
                    json!(imgs),
                    json!(selector_string(o, "/spec/selector")),
                ],
            )
        }
        ("apps", "StatefulSet") => {
            let (cs, imgs) = containers_images(o, "/spec/template/spec");
            (
                vec![
                    c("Name", "string", 0),
                    c("Ready", "string", 0),
                    c("Age", "string", 0),
                    c("Containers", "string", 1),
                    c("Images", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(format!(
                        "{}/{}",
                        n(o, "/status/readyReplicas"),
                        n(o, "/spec/replicas")
                    )),
                    json!(age),
                    json!(cs),
                    json!(imgs),
                ],
            )
        }
        ("apps", "DaemonSet") => {
            let (cs, imgs) = containers_images(o, "/spec/template/spec");
            (
                vec![
                    c("Name", "string", 0),
                    c("Desired", "integer", 0),
                    c("Current", "integer", 0),
                    c("Ready", "integer", 0),
                    c("Up-to-date", "integer", 0),
                    c("Available", "integer", 0),
                    c("Node Selector", "string", 0),
                    c("Age", "string", 0),
                    c("Containers", "string", 1),
                    c("Images", "string", 1),
                    c("Selector", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(n(o, "/status/desiredNumberScheduled")),
                    json!(n(o, "/status/currentNumberScheduled")),
                    json!(n(o, "/status/numberReady")),
                    json!(n(o, "/status/updatedNumberScheduled")),
                    json!(n(o, "/status/numberAvailable")),
                    json!(map_string(o, "/spec/template/spec/nodeSelector")),
                    json!(age),
                    json!(cs),
                    json!(imgs),
                    json!(selector_string(o, "/spec/selector")),
                ],
            )
        }
        ("apps", "ControllerRevision") => {
            let owner = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|r| r["controller"] == true))
                .map(|r| {
                    format!(
                        "{}/{}",
                        r["kind"].as_str().unwrap_or("").to_lowercase(),
                        r["name"].as_str().unwrap_or("")
                    )
                });
            (
                vec![
                    c("Name", "string", 0),
                    c("Controller", "string", 0),
                    c("Revision", "integer", 0),
                    c("Age", "string", 0),
                ],
                vec![
                    json!(name),
                    json!(or_none(owner)),
                    json!(n(o, "/revision")),
                    json!(age),
                ],
            )
        }
        ("batch", "Job") => {
            let (cs, imgs) = containers_images(o, "/spec/template/spec");
            let conds = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let has = |t: &str| {
                conds
                    .iter()
                    .any(|c| c["type"] == t && c["status"] == "True")
            };
            let status = if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else if o.pointer("/spec/suspend") == Some(&json!(true)) {
                "Suspended"
            } else {
                "Running"
            };
            let completions = o
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .map_or("<none>".to_string(), |c| {
                    format!("{}/{c}", n(o, "/status/succeeded"))
                });
            let duration = match (s(o, "/status/startTime"), s(o, "/status/completionTime")) {
                (Some(start), Some(end)) => match (
                    chrono::DateTime::parse_from_rfc3339(start),
                    chrono::DateTime::parse_from_rfc3339(end),
                ) {
                    (Ok(a), Ok(b)) => {
                        human_duration(b.signed_duration_since(a).to_std().unwrap_or_default())
                    }
                    _ => String::new(),
                },
                (Some(start), None) => age_of(Some(start), now),
                _ => String::new(),
            };
            (
                vec![
                    c("Name", "string", 0),
                    c("Status", "string", 0),
                    c("Completions", "string", 0),
                    c("Duration", "string", 0),
                    c("Age", "string", 0),
                    c("Containers", "string", 1),
                    c("Images", "string", 1),
                    c("Selector", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(status),
                    json!(completions),
                    json!(duration),
                    json!(age),
                    json!(cs),
                    json!(imgs),
                    json!(selector_string(o, "/spec/selector")),
                ],
            )
        }
        ("batch", "CronJob") => {
            let (cs, imgs) = containers_images(o, "/spec/jobTemplate/spec/template/spec");
            (
                vec![
                    c("Name", "string", 0),
                    c("Schedule", "string", 0),
                    c("Timezone", "string", 0),
                    c("Suspend", "boolean", 0),
                    c("Active", "integer", 0),
                    c("Last Schedule", "string", 0),
                    c("Age", "string", 0),
                    c("Containers", "string", 1),
                    c("Images", "string", 1),
                    c("Selector", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(s(o, "/spec/schedule").unwrap_or("")),
                    json!(or_none(s(o, "/spec/timeZone").map(String::from))),
                    json!(
                        o.pointer("/spec/suspend")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                    ),
                    json!(
                        o.pointer("/status/active")
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len)
                    ),
                    json!(
                        s(o, "/status/lastScheduleTime")
                            .map_or("<none>".to_string(), |t| age_of(Some(t), now))
                    ),
                    json!(age),
                    json!(cs),
                    json!(imgs),
                    json!(selector_string(o, "/spec/jobTemplate/spec/selector")),
                ],
            )
        }
        ("coordination.k8s.io", "Lease") => (
            vec![
                c("Name", "string", 0),
                c("Holder", "string", 0),
                c("Age", "string", 0),
            ],
            vec![
                json!(name),
                json!(s(o, "/spec/holderIdentity").unwrap_or("")),
                json!(age),
            ],
        ),
        ("discovery.k8s.io", "EndpointSlice") => {
            let ports: Vec<String> = o
                .pointer("/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p["port"].as_i64().map(|p| p.to_string()))
                .collect();
            let eps: Vec<String> = o
                .pointer("/endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
                .filter_map(|a| a.as_str().map(String::from))
                .collect();
            (
                vec![
                    c("Name", "string", 0),
                    c("AddressType", "string", 0),
                    c("Ports", "string", 0),
                    c("Endpoints", "string", 0),
                    c("Age", "string", 0),
                ],
                vec![
                    json!(name),
                    json!(s(o, "/addressType").unwrap_or("")),
                    json!(or_none(Some(ports.join(",")))),
                    json!(or_none(Some(eps.join(",")))),
                    json!(age),
                ],
            )
        }
        ("autoscaling", "HorizontalPodAutoscaler") => (
            vec![
                c("Name", "string", 0),
                c("Reference", "string", 0),
                c("Targets", "string", 0),
                c("MinPods", "string", 0),
                c("MaxPods", "string", 0),
                c("Replicas", "string", 0),
                c("Age", "string", 0),
            ],
            vec![
                json!(name),
                json!(format!(
                    "{}/{}",
                    s(o, "/spec/scaleTargetRef/kind").unwrap_or(""),
                    s(o, "/spec/scaleTargetRef/name").unwrap_or("")
                )),
                json!("<unknown>"),
                json!(
                    o.pointer("/spec/minReplicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                        .to_string()
                ),
                json!(n(o, "/spec/maxReplicas").to_string()),
                json!(n(o, "/status/currentReplicas").to_string()),
                json!(age),
            ],
        ),
        ("scheduling.k8s.io", "PriorityClass") => (
            vec![
                c("Name", "string", 0),
                c("Value", "integer", 0),
                c("Global-Default", "boolean", 0),
                c("Age", "string", 0),
            ],
            vec![
                json!(name),
                json!(n(o, "/value")),
                json!(
                    o.pointer("/globalDefault")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                ),
                json!(age),
            ],
        ),
        _ => (
            vec![c("Name", "string", 0), c("Age", "string", 0)],
            vec![json!(name), json!(age)],
        ),
    }
}

/// The Table of `objects` (all of `res`'s kind).
pub fn table(
    res: &ResourceInfo,
    objects: &[Value],
    now: SystemTime,
    list_meta: Value,
    include: IncludeObject,
) -> Value {
    let cols = columns(res, &json!({}), now).0;
    let definitions: Vec<Value> = cols
        .iter()
        .map(|col| {
            let format = if col.name == "Name" { "name" } else { "" };
            json!({"name": col.name, "type": col.kind, "format": format, "description": "", "priority": col.priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells = columns(res, o, now).1;
            let mut row = json!({"cells": cells});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))});
                }
                IncludeObject::Object => row["object"] = o.clone(),
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": definitions, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(group: &str, version: &str, plural: &str) -> &'static ResourceInfo {
        crate::resources::find(group, version, plural).expect("resource")
    }

    fn names(t: &Value) -> Vec<String> {
        t["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(String::from))
            .collect()
    }

    #[test]
    fn human_durations_read_like_kubectl() {
        for (secs, want) in [
            (5, "5s"),
            (119, "119s"),
            (182, "3m2s"),
            (600, "10m"),
            (3 * 3600 + 180, "3h3m"),
            (10 * 3600, "10h"),
            (2 * 86400 + 3 * 3600, "2d3h"),
            (45 * 86400, "45d"),
            (800 * 86400, "2y70d"),
        ] {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}");
        }
    }

    #[test]
    fn deployments_print_ready_up_to_date_available() {
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}}, "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let t = table(
            find("apps", "v1", "deployments"),
            &[d],
            SystemTime::now(),
            json!({"resourceVersion": "5"}),
            IncludeObject::Metadata,
        );
        assert_eq!(
            names(&t),
            vec![
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        let cells = &t["rows"][0]["cells"];
        assert_eq!(
            (
                cells[0].clone(),
                cells[1].clone(),
                cells[2].clone(),
                cells[7].clone()
            ),
            (json!("web"), json!("2/3"), json!(3), json!("app=web"))
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["metadata"]["resourceVersion"], "5");
    }

    #[test]
    fn pods_print_ready_status_restarts() {
        let p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "127.1.0.5", "containerStatuses": [{"ready": true, "restartCount": 2}, {"ready": false, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        let t = table(
            find("", "v1", "pods"),
            &[p],
            SystemTime::now(),
            json!({}),
            IncludeObject::None,
        );
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "3");
        assert_eq!(cells[5], "127.1.0.5");
        assert!(t["rows"][0].get("object").is_none());
    }

    #[test]
    fn every_kind_has_columns_and_unknown_kinds_print_name_and_age() {
        for r in crate::resources::all() {
            let t = table(
                r,
                &[json!({"metadata": {"name": "x"}})],
                SystemTime::now(),
                json!({}),
                IncludeObject::Object,
            );
            assert_eq!(
                names(&t)[0].as_str(),
                if r.kind == "Event" {
                    "Last Seen"
                } else {
                    "Name"
                },
                "{}",
                r.kind
            );
            assert_eq!(
                t["rows"][0]["cells"].as_array().map(Vec::len),
                Some(names(&t).len()),
                "{}",
                r.kind
            );
        }
        let ns = table(
            find("", "v1", "namespaces"),
            &[json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}})],
            SystemTime::now(),
            json!({}),
            IncludeObject::None,
        );
        assert_eq!(ns["rows"][0]["cells"][1], "Active");
    }
}
