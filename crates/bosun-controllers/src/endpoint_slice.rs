//! The EndpointSlice controller: for every Service with a selector, `discovery.k8s.io/v1`
//! EndpointSlices of its pods — at most [`MAX_ENDPOINTS`] endpoints each, one group of slices
//! per distinct set of resolved ports — with the `ready`, `serving` and `terminating`
//! conditions, the pod as `targetRef`, its `nodeName`, the labels
//! `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`, and an owner
//! reference to the Service (so the garbage collector removes them with it; the controller
//! also deletes them itself when it sees the Service go). A Service with no endpoints keeps one
//! empty slice, as upstream's placeholder. Slices are named `<service>-<suffix>` with a suffix
//! fixed by the Service's uid and the slice's position, so a write repeated before the cache
//! has seen it is refused as already existing instead of making a duplicate.

use crate::action::{Action, Reconcile, Target};
use crate::endpoints::{PodEndpoint, PortKey, pod_endpoints, service_selector};
use crate::pod::Pod;
use crate::pod_state::{controller_owner_reference, controller_ref};
use crate::pod_template::name_suffix;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// Endpoints per slice at most (kube-controller-manager's `--max-endpoints-per-slice`).
pub const MAX_ENDPOINTS: usize = 100;

/// Whether a slice is one this controller manages for the Service named `service`.
pub fn is_managed_for(slice: &EndpointSlice, service: &str) -> bool {
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    labels.get(SERVICE_NAME_LABEL).map(String::as_str) == Some(service)
        && labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY)
}

fn endpoint(e: &PodEndpoint) -> Value {
    let mut v = json!({
        "addresses": [e.ip],
        "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
        "targetRef": e.target_ref,
    });
    if let Some(h) = &e.hostname {
        v["hostname"] = json!(h);
    }
    if let Some(n) = &e.node_name {
        v["nodeName"] = json!(n);
    }
    v
}

/// The desired slices' bodies (`endpoints` and `ports`), in a stable order.
pub fn desired(svc: &Service, pods: &[&Pod]) -> Vec<(Vec<Value>, Vec<Value>)> {
    let has_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .is_some_and(|p| !p.is_empty());
    let mut groups: BTreeMap<Vec<PortKey>, Vec<Value>> = BTreeMap::new();
    for e in pod_endpoints(svc, pods, true) {
        if has_ports && e.ports.is_empty() {
            continue;
        }
        let mut ports = e.ports.clone();
        ports.sort();
        groups.entry(ports).or_default().push(endpoint(&e));
    }
    let mut out = Vec::new();
    for (ports, endpoints) in groups {
        let ports: Vec<Value> = ports
            .iter()
            .map(|(name, port, protocol)| json!({"name": name, "port": port, "protocol": protocol}))
            .collect();
        for chunk in endpoints.chunks(MAX_ENDPOINTS) {
            out.push((chunk.to_vec(), ports.clone()));
        }
    }
    if out.is_empty() {
        out.push((Vec::new(), Vec::new()));
    }
    out
}

/// Decide the EndpointSlices of the Service `name` in `namespace` (None when it is gone),
/// given the slices and pods of the namespace.
pub fn reconcile(
    namespace: &str,
    name: &str,
    svc: Option<&Service>,
    slices: &[&EndpointSlice],
    pods: &[&Pod],
) -> Reconcile {
    let mut out = Reconcile::default();
    let managed: Vec<&EndpointSlice> = slices
        .iter()
        .copied()
        .filter(|s| is_managed_for(s, name) && s.metadata.deletion_timestamp.is_none())
        .collect();
    let delete = |out: &mut Reconcile, s: &EndpointSlice| {
        out.actions.push(Action::Delete {
            target: Target::ENDPOINTSLICES,
            namespace: Some(namespace.into()),
            name: s.metadata.name.clone().unwrap_or_default(),
            uid: s.metadata.uid.clone(),
            propagation: None,
        });
    };
    let live = svc.filter(|s| s.metadata.deletion_timestamp.is_none());
    let Some(svc) = live.filter(|s| service_selector(s).is_some()) else {
        // Gone, or no selector (any more): our slices go; the user's stay.
        for s in managed {
            delete(&mut out, s);
        }
        return out;
    };
    let uid = svc.metadata.uid.clone().unwrap_or_default();
    let Some(owner) = controller_owner_reference("v1", "Service", &svc.metadata) else {
        return out;
    };
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    labels.insert(SERVICE_NAME_LABEL.into(), name.into());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for (i, (endpoints, ports)) in desired(svc, pods).into_iter().enumerate() {
        let slice_name = format!("{name}-{}", name_suffix(&uid, Timestamp::UNIX_EPOCH, i));
        wanted.insert(slice_name.clone());
        let existing = managed
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(slice_name.as_str()));
        match existing {
            None => out.actions.push(Action::Create {
                target: Target::ENDPOINTSLICES,
                namespace: Some(namespace.into()),
                object: json!({
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": slice_name,
                        "namespace": namespace,
                        "labels": labels,
                        "ownerReferences": [owner],
                    },
                    "addressType": "IPv4",
                    "endpoints": endpoints,
                    "ports": ports,
                }),
            }),
            Some(s) => {
                let current_endpoints =
                    serde_json::to_value(&s.endpoints).unwrap_or_else(|_| json!([]));
                let current_ports = serde_json::to_value(s.ports.clone().unwrap_or_default())
                    .unwrap_or_else(|_| json!([]));
                let current_labels = s.metadata.labels.clone().unwrap_or_default();
                let owned = controller_ref(&s.metadata).is_some_and(|r| r.uid == uid);
                if current_endpoints != json!(endpoints)
                    || current_ports != json!(ports)
                    || !labels.iter().all(|(k, v)| current_labels.get(k) == Some(v))
                    || !owned
                {
                    out.actions.push(Action::MergePatch {
                        target: Target::ENDPOINTSLICES,
                        namespace: Some(namespace.into()),
                        name: slice_name,
                        patch: json!({
                            "metadata": {"labels": labels, "ownerReferences": [owner]},
                            "endpoints": endpoints,
                            "ports": ports,
                        }),
                    });
                }
            }
        }
    }
    for s in managed {
        if !wanted.contains(s.metadata.name.as_deref().unwrap_or_default()) {
            delete(&mut out, s);
        }
    }
    out
}

#[cfg(test)]
mod tests;
