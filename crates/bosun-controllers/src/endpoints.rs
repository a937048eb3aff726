//! The Endpoints controller: for every Service with a selector, an Endpoints object of the
//! same name listing the IPs of the pods it selects — ready pods in `addresses`, the others in
//! `notReadyAddresses` — with each Service port resolved for each pod (a named `targetPort` is
//! looked up among the pod's container ports; a pod without it is left out of that port),
//! grouped into subsets by port set, each address with its pod as `targetRef` and its
//! `nodeName`. Services without a selector are left alone (their Endpoints are the user's);
//! the Endpoints of a deleted Service are deleted.

use crate::action::{Action, Reconcile, Target};
use crate::pod::Pod;
use crate::pod_state::{is_pod_ready, is_terminating, phase};
use crate::selector;
use k8s_openapi::api::core::v1::{Endpoints, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Endpoints that carry this annotation are leader-election records, never touched.
pub const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// A Service's selector as a label selector; None when it has none (or is ExternalName).
pub fn service_selector(svc: &Service) -> Option<LabelSelector> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    let sel = spec.selector.as_ref().filter(|s| !s.is_empty())?;
    Some(LabelSelector {
        match_labels: Some(sel.clone()),
        match_expressions: None,
    })
}

/// Whether the pod is an endpoint of a Service at all (upstream's `ShouldPodBeInEndpoints`):
/// it has an IP, has not finished for good, and is not being deleted unless terminating pods
/// are wanted.
pub fn should_include(pod: &Pod, include_terminating: bool) -> bool {
    let spec = pod.spec.as_ref();
    let restart = spec
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let finished = match phase(pod) {
        "Failed" => restart == "Never",
        "Succeeded" => restart != "Always",
        _ => false,
    };
    let has_ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty());
    has_ip && !finished && (include_terminating || !is_terminating(pod))
}

/// The port a Service port reaches on this pod; None when a named targetPort is not among the
/// pod's container ports.
pub fn resolve_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(0)) => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// A resolved port: (name, port, protocol).
pub type PortKey = (String, i32, String);

/// One pod as an endpoint of a Service.
#[derive(Debug, Clone, PartialEq)]
pub struct PodEndpoint {
    pub ip: String,
    pub ready: bool,
    /// Ready, terminating or not (EndpointSlice `serving`).
    pub serving: bool,
    pub terminating: bool,
    pub hostname: Option<String>,
    pub node_name: Option<String>,
    pub target_ref: Value,
    /// (name, port, protocol) of each Service port this pod serves.
    pub ports: Vec<PortKey>,
}

/// The endpoints of a Service among `pods` (of its namespace), sorted by IP. `terminating`
/// says whether terminating pods are kept (EndpointSlices keep them, marked).
pub fn pod_endpoints(svc: &Service, pods: &[&Pod], terminating: bool) -> Vec<PodEndpoint> {
    let Some(sel) = service_selector(svc) else {
        return Vec::new();
    };
    let spec = svc.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses == Some(true);
    let svc_name = svc.metadata.name.clone().unwrap_or_default();
    let mut out: Vec<PodEndpoint> = pods
        .iter()
        .filter(|p| selector::matches(Some(&sel), p.metadata.labels.as_ref()))
        .filter(|p| should_include(p, terminating || publish))
        .map(|p| {
            let pod_spec = p.spec.clone().unwrap_or_default();
            let hostname = pod_spec
                .hostname
                .clone()
                .filter(|h| !h.is_empty() && pod_spec.subdomain.as_deref() == Some(&svc_name));
            let ports = spec
                .ports
                .iter()
                .flatten()
                .filter_map(|sp| {
                    resolve_port(sp, p).map(|n| {
                        (
                            sp.name.clone().unwrap_or_default(),
                            n,
                            sp.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        )
                    })
                })
                .collect();
            let ready = is_pod_ready(p);
            let deleting = is_terminating(p);
            PodEndpoint {
                ip: p
                    .status
                    .as_ref()
                    .and_then(|s| s.pod_ip.clone())
                    .unwrap_or_default(),
                ready: publish || (ready && !deleting),
                serving: publish || ready,
                terminating: deleting,
                hostname,
                node_name: pod_spec.node_name.clone().filter(|n| !n.is_empty()),
                target_ref: json!({
                    "kind": "Pod",
                    "namespace": p.metadata.namespace,
                    "name": p.metadata.name,
                    "uid": p.metadata.uid,
                }),
                ports,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.ip.cmp(&b.ip).then_with(|| {
            a.target_ref["name"]
                .as_str()
                .cmp(&b.target_ref["name"].as_str())
        })
    });
    out
}

fn address(e: &PodEndpoint) -> Value {
    let mut a = json!({"ip": e.ip, "targetRef": e.target_ref});
    if let Some(h) = &e.hostname {
        a["hostname"] = json!(h);
    }
    if let Some(n) = &e.node_name {
        a["nodeName"] = json!(n);
    }
    a
}

/// The `subsets` of a Service's Endpoints: addresses grouped by the ports they serve.
pub fn subsets(svc: &Service, pods: &[&Pod]) -> Vec<Value> {
    let has_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .is_some_and(|p| !p.is_empty());
    let mut groups: BTreeMap<Vec<PortKey>, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for e in pod_endpoints(svc, pods, false) {
        if has_ports && e.ports.is_empty() {
            continue; // serves none of the Service's ports
        }
        let mut ports = e.ports.clone();
        ports.sort();
        let g = groups.entry(ports).or_default();
        if e.ready {
            g.0.push(address(&e));
        } else {
            g.1.push(address(&e));
        }
    }
    groups
        .into_iter()
        .map(|(ports, (ready, not_ready))| {
            let mut s = json!({});
            if !ready.is_empty() {
                s["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                s["notReadyAddresses"] = json!(not_ready);
            }
            if !ports.is_empty() {
                s["ports"] = json!(
                    ports
                        .iter()
                        .map(|(name, port, protocol)| {
                            let mut p = json!({"port": port, "protocol": protocol});
                            if !name.is_empty() {
                                p["name"] = json!(name);
                            }
                            p
                        })
                        .collect::<Vec<_>>()
                );
            }
            s
        })
        .collect()
}

/// The labels of a Service's Endpoints: the Service's, plus the headless mark.
fn labels(svc: &Service) -> BTreeMap<String, String> {
    let mut l = svc.metadata.labels.clone().unwrap_or_default();
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        l.insert(HEADLESS_LABEL.into(), String::new());
    }
    l
}

/// Decide the Endpoints named `name` in `namespace`: `svc` is the Service of that name (None
/// when it is gone), `existing` its Endpoints if any, `pods` the namespace's pods.
pub fn reconcile(
    namespace: &str,
    name: &str,
    svc: Option<&Service>,
    existing: Option<&Endpoints>,
    pods: &[&Pod],
) -> Reconcile {
    let mut out = Reconcile::default();
    let leader = existing
        .and_then(|e| e.metadata.annotations.as_ref())
        .is_some_and(|a| a.contains_key(LEADER_ANNOTATION));
    if leader {
        return out;
    }
    let Some(svc) = svc.filter(|s| s.metadata.deletion_timestamp.is_none()) else {
        // The Service is gone: so are its Endpoints.
        if let Some(e) = existing {
            out.actions.push(Action::Delete {
                target: Target::ENDPOINTS,
                namespace: Some(namespace.into()),
                name: name.into(),
                uid: e.metadata.uid.clone(),
                propagation: None,
            });
        }
        return out;
    };
    if service_selector(svc).is_none() {
        return out;
    }
    let subsets = subsets(svc, pods);
    let labels = labels(svc);
    match existing {
        None => out.actions.push(Action::Create {
            target: Target::ENDPOINTS,
            namespace: Some(namespace.into()),
            object: json!({
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "subsets": subsets,
            }),
        }),
        Some(e) => {
            let current = serde_json::to_value(e.subsets.clone().unwrap_or_default())
                .unwrap_or_else(|_| json!([]));
            let current_labels = e.metadata.labels.clone().unwrap_or_default();
            if current != json!(subsets) || current_labels != labels {
                let mut patch_labels: serde_json::Map<String, Value> =
                    labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                for k in current_labels.keys().filter(|k| !labels.contains_key(*k)) {
                    patch_labels.insert(k.clone(), Value::Null);
                }
                out.actions.push(Action::MergePatch {
                    target: Target::ENDPOINTS,
                    namespace: Some(namespace.into()),
                    name: name.into(),
                    patch: json!({"metadata": {"labels": patch_labels}, "subsets": subsets}),
                });
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
