//! Each controller's adapter between the caches and its pure decision: which keys a change
//! concerns, and which observed objects the decision gets.

use crate::caches::{Caches, Change, get, in_namespace};
use crate::manager::Controller;
use bosun_controllers::garbage_collector as gc;
use bosun_controllers::pod::Pod;
use bosun_controllers::{
    Action, Reconcile, Target, cronjob, daemonset, deployment, endpoint_slice, endpoints, job,
    node_lifecycle, pod_gc, replicaset, statefulset,
};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Settings the controllers share.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Node monitor grace period: a Lease older than this makes its node unreachable.
    pub node_grace: Duration,
    /// tolerationSeconds given to pods without their own toleration for unreachable nodes.
    pub default_toleration: Duration,
    /// Finished pods kept at most before the oldest are deleted.
    pub terminated_pod_gc_threshold: usize,
}

/// Every controller bosun runs.
pub fn all(settings: &Settings) -> Vec<Arc<dyn Controller>> {
    vec![
        Arc::new(NodeLifecycleController {
            timings: node_lifecycle::NodeTimings {
                grace: settings.node_grace,
                default_toleration: settings.default_toleration,
            },
        }),
        Arc::new(ReplicaSetController),
        Arc::new(JobController),
        Arc::new(DaemonSetController),
        Arc::new(StatefulSetController),
        Arc::new(EndpointsController),
        Arc::new(EndpointSliceController),
        Arc::new(PodGarbageCollector {
            threshold: settings.terminated_pod_gc_threshold,
        }),
        Arc::new(CronJobController),
        Arc::new(DeploymentController),
        Arc::new(GarbageCollector),
        Arc::new(NamespaceController),
    ]
}

fn ns_key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// ReplicaSets: their own changes, and their pods'.
#[derive(Debug)]
pub struct ReplicaSetController;

impl Controller for ReplicaSetController {
    fn name(&self) -> &'static str {
        "replicaset"
    }

    fn pod_owner_kind(&self) -> Option<&'static str> {
        Some("ReplicaSet")
    }

    fn keys_for(&self, change: &Change, caches: &Caches) -> Vec<String> {
        match change.kind {
            "ReplicaSet" if !change.deleted => vec![change.key()],
            "Pod" => match change.owner_key("ReplicaSet") {
                Some(k) => vec![k],
                // An orphan may be adopted by a ReplicaSet of its namespace.
                None if change.controller.is_none() && !change.deleted => change
                    .namespace
                    .as_deref()
                    .map(|ns| {
                        in_namespace(&caches.replicasets, ns)
                            .iter()
                            .filter(|rs| {
                                bosun_controllers::selector::matches(
                                    rs.spec.as_ref().map(|s| &s.selector),
                                    Some(&change.labels),
                                )
                            })
                            .filter_map(|rs| rs.metadata.name.as_deref().map(|n| ns_key(ns, n)))
                            .collect()
                    })
                    .unwrap_or_default(),
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, now: Timestamp) -> Option<Reconcile> {
        let rs = get(&caches.replicasets, key)?;
        let ns = rs.metadata.namespace.clone()?;
        let pods = in_namespace(&caches.pods, &ns);
        let refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        Some(replicaset::reconcile(&rs, &refs, now))
    }
}

/// Deployments: their own changes, and their ReplicaSets'.
#[derive(Debug)]
pub struct DeploymentController;

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    fn keys_for(&self, change: &Change, _caches: &Caches) -> Vec<String> {
        match change.kind {
            "Deployment" if !change.deleted => vec![change.key()],
            "ReplicaSet" => change.owner_key("Deployment").into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, now: Timestamp) -> Option<Reconcile> {
        let d = get(&caches.deployments, key)?;
        let ns = d.metadata.namespace.clone()?;
        let rss = in_namespace(&caches.replicasets, &ns);
        let rs_refs: Vec<&ReplicaSet> = rss.iter().map(Arc::as_ref).collect();
        // Pods only matter to Recreate (waiting for old pods to go): a rolling Deployment does
        // not walk every pod of its namespace each time one of its ReplicaSets changes.
        let recreate = d
            .spec
            .as_ref()
            .and_then(|s| s.strategy.as_ref())
            .and_then(|s| s.type_.as_deref())
            == Some("Recreate");
        let pods = if recreate {
            in_namespace(&caches.pods, &ns)
        } else {
            Vec::new()
        };
        let pod_refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        Some(deployment::reconcile(&d, &rs_refs, &pod_refs, now))
    }
}

/// The garbage collector. Keys are `Kind|key`.
#[derive(Debug)]
pub struct GarbageCollector;

const OWNER_KINDS: &[&str] = &[
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
];
const DEPENDENT_KINDS: &[&str] = &["ReplicaSet", "Pod", "Job", "ControllerRevision"];

fn meta_of(caches: &Caches, kind: &str, key: &str) -> Option<(Target, ObjectMeta)> {
    Some(match kind {
        "Pod" => (Target::PODS, get(&caches.pods, key)?.metadata.clone()),
        "ReplicaSet" => (
            Target::REPLICASETS,
            get(&caches.replicasets, key)?.metadata.clone(),
        ),
        "Deployment" => (
            Target::DEPLOYMENTS,
            get(&caches.deployments, key)?.metadata.clone(),
        ),
        "DaemonSet" => (
            Target::DAEMONSETS,
            get(&caches.daemonsets, key)?.metadata.clone(),
        ),
        "StatefulSet" => (
            Target::STATEFULSETS,
            get(&caches.statefulsets, key)?.metadata.clone(),
        ),
        "ControllerRevision" => (
            Target::CONTROLLERREVISIONS,
            get(&caches.revisions, key)?.metadata.clone(),
        ),
        "Job" => (Target::JOBS, get(&caches.jobs, key)?.metadata.clone()),
        "CronJob" => (
            Target::CRONJOBS,
            get(&caches.cronjobs, key)?.metadata.clone(),
        ),
        _ => return None,
    })
}

fn owner_present(caches: &Caches, r: &OwnerReference, ns: Option<&str>) -> Option<bool> {
    if !OWNER_KINDS.contains(&r.kind.as_str()) || gc::target_of(&r.api_version, &r.kind).is_none() {
        return None;
    }
    let key = ns.map_or_else(|| r.name.clone(), |ns| ns_key(ns, &r.name));
    let (_, meta) = match meta_of(caches, &r.kind, &key) {
        Some(found) => found,
        None => return Some(false),
    };
    Some(meta.uid.as_deref() == Some(r.uid.as_str()))
}

fn dependents_of(caches: &Caches, uid: &str, ns: &str) -> Vec<(Target, ObjectMeta)> {
    let owned = |m: &ObjectMeta| m.owner_references.iter().flatten().any(|r| r.uid == uid);
    let mut out: Vec<(Target, ObjectMeta)> = Vec::new();
    out.extend(
        in_namespace(&caches.replicasets, ns)
            .iter()
            .filter(|o| owned(&o.metadata))
            .map(|o| (Target::REPLICASETS, o.metadata.clone())),
    );
    out.extend(
        in_namespace(&caches.pods, ns)
            .iter()
            .filter(|o| owned(&o.metadata))
            .map(|o| (Target::PODS, o.metadata.clone())),
    );
    out.extend(
        in_namespace(&caches.jobs, ns)
            .iter()
            .filter(|o| owned(&o.metadata))
            .map(|o| (Target::JOBS, o.metadata.clone())),
    );
    out.extend(
        in_namespace(&caches.revisions, ns)
            .iter()
            .filter(|o| owned(&o.metadata))
            .map(|o| (Target::CONTROLLERREVISIONS, o.metadata.clone())),
    );
    out
}

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbagecollector"
    }

    fn keys_for(&self, change: &Change, caches: &Caches) -> Vec<String> {
        let mut keys = Vec::new();
        if DEPENDENT_KINDS.contains(&change.kind) && !change.deleted {
            keys.push(format!("{}|{}", change.kind, change.key()));
        }
        if OWNER_KINDS.contains(&change.kind) {
            if change.terminating && !change.deleted {
                keys.push(format!("{}|{}", change.kind, change.key()));
            }
            // An owner gone: its dependents may be garbage now.
            if change.deleted
                && let Some(ns) = change.namespace.as_deref()
            {
                for (t, m) in dependents_of(caches, &change.uid, ns) {
                    let kind = match t.plural {
                        "pods" => "Pod",
                        "replicasets" => "ReplicaSet",
                        "jobs" => "Job",
                        _ => "ControllerRevision",
                    };
                    if let Some(name) = m.name {
                        keys.push(format!("{kind}|{}", ns_key(ns, &name)));
                    }
                }
            }
        }
        // A dependent changed or went: an owner waiting in the foreground looks again.
        if let Some((kind, name)) = &change.controller
            && OWNER_KINDS.contains(&kind.as_str())
            && let Some(ns) = change.namespace.as_deref()
        {
            keys.push(format!("{kind}|{}", ns_key(ns, name)));
        }
        keys
    }

    fn reconcile(&self, key: &str, caches: &Caches, _now: Timestamp) -> Option<Reconcile> {
        let (kind, key) = key.split_once('|')?;
        let (target, meta) = meta_of(caches, kind, key)?;
        let mut out = Reconcile::default();
        // Any object deleted in the foreground or orphaning (pods too) waits for us.
        if meta.deletion_timestamp.is_some() {
            let uid = meta.uid.clone().unwrap_or_default();
            let ns = meta.namespace.clone().unwrap_or_default();
            let deps = dependents_of(caches, &uid, &ns);
            let dep_refs: Vec<(Target, &ObjectMeta)> = deps.iter().map(|(t, m)| (*t, m)).collect();
            out.actions = gc::finalize_owner(target, &meta, &dep_refs);
            if !out.actions.is_empty() {
                out.requeue_at_most(Duration::from_secs(2));
            }
        }
        let lookup = |r: &OwnerReference, ns: Option<&str>| owner_present(caches, r, ns);
        if let Some(a) = gc::collect(target, &meta, &lookup) {
            out.actions.push(a);
        }
        Some(out)
    }
}

/// Namespaces being deleted: empty them, then let them go.
#[derive(Debug)]
pub struct NamespaceController;

impl Controller for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace"
    }

    fn keys_for(&self, change: &Change, _caches: &Caches) -> Vec<String> {
        match change.kind {
            "Namespace" if change.terminating && !change.deleted => vec![change.name.clone()],
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, _now: Timestamp) -> Option<Reconcile> {
        let ns = get(&caches.namespaces, key)?;
        ns.metadata.deletion_timestamp.as_ref()?;
        Some(Reconcile {
            actions: vec![Action::CleanNamespace {
                name: key.to_string(),
            }],
            requeue_after: None,
        })
    }
}

/// Node lifecycle: keys are node names; Leases in kube-node-lease are named after nodes.
#[derive(Debug)]
pub struct NodeLifecycleController {
    timings: node_lifecycle::NodeTimings,
}

impl Controller for NodeLifecycleController {
    fn name(&self) -> &'static str {
        "nodelifecycle"
    }

    fn keys_for(&self, change: &Change, _caches: &Caches) -> Vec<String> {
        match change.kind {
            "Node" if !change.deleted => vec![change.name.clone()],
            "Lease" if change.namespace.as_deref() == Some("kube-node-lease") => {
                vec![change.name.clone()]
            }
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, now: Timestamp) -> Option<Reconcile> {
        let node = get(&caches.nodes, key)?;
        let renewed = get(&caches.node_leases, &ns_key("kube-node-lease", key)).and_then(|l| {
            l.spec
                .as_ref()
                .and_then(|s| s.renew_time.as_ref())
                .map(|t| t.0)
        });
        let troubled = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|ts| {
                ts.iter().any(|t| {
                    t.key == node_lifecycle::UNREACHABLE || t.key == node_lifecycle::NOT_READY
                })
            });
        // Pods matter only on a node with a problem.
        let pods: Vec<Arc<Pod>> = if troubled {
            caches
                .pods
                .state()
                .into_iter()
                .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(key))
                .collect()
        } else {
            Vec::new()
        };
        let refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        Some(node_lifecycle::reconcile(
            &node,
            renewed,
            &refs,
            now,
            &self.timings,
        ))
    }
}

/// Jobs: their own changes, and their pods'.
#[derive(Debug)]
pub struct JobController;

impl Controller for JobController {
    fn name(&self) -> &'static str {
        "job"
    }

    fn pod_owner_kind(&self) -> Option<&'static str> {
        Some("Job")
    }

    fn keys_for(&self, change: &Change, _caches: &Caches) -> Vec<String> {
        match change.kind {
            "Job" if !change.deleted => vec![change.key()],
            "Pod" => change.owner_key("Job").into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, now: Timestamp) -> Option<Reconcile> {
        let j = get(&caches.jobs, key)?;
        let ns = j.metadata.namespace.clone()?;
        let pods = in_namespace(&caches.pods, &ns);
        let refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        Some(job::reconcile(&j, &refs, now))
    }
}

/// DaemonSets: their own changes, their pods', and every node change.
#[derive(Debug)]
pub struct DaemonSetController;

impl Controller for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonset"
    }

    fn pod_owner_kind(&self) -> Option<&'static str> {
        Some("DaemonSet")
    }

    fn keys_for(&self, change: &Change, caches: &Caches) -> Vec<String> {
        match change.kind {
            "DaemonSet" if !change.deleted => vec![change.key()],
            "Pod" => change.owner_key("DaemonSet").into_iter().collect(),
            "ControllerRevision" => change.owner_key("DaemonSet").into_iter().collect(),
            "Node" => caches
                .daemonsets
                .state()
                .iter()
                .filter_map(|d| {
                    Some(ns_key(
                        d.metadata.namespace.as_deref()?,
                        d.metadata.name.as_deref()?,
                    ))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, now: Timestamp) -> Option<Reconcile> {
        let d = get(&caches.daemonsets, key)?;
        let ns = d.metadata.namespace.clone()?;
        let nodes = caches.nodes.state();
        let node_refs: Vec<&bosun_controllers::node::Node> =
            nodes.iter().map(Arc::as_ref).collect();
        let pods = in_namespace(&caches.pods, &ns);
        let refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        let revisions = in_namespace(&caches.revisions, &ns);
        let rev_refs: Vec<&ControllerRevision> = revisions.iter().map(Arc::as_ref).collect();
        Some(daemonset::reconcile(&d, &node_refs, &refs, &rev_refs, now))
    }
}

/// CronJobs: their own changes and their Jobs'; time drives the rest (requeue).
#[derive(Debug)]
pub struct CronJobController;

impl Controller for CronJobController {
    fn name(&self) -> &'static str {
        "cronjob"
    }

    fn keys_for(&self, change: &Change, _caches: &Caches) -> Vec<String> {
        match change.kind {
            "CronJob" if !change.deleted => vec![change.key()],
            "Job" => change.owner_key("CronJob").into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, now: Timestamp) -> Option<Reconcile> {
        let cj = get(&caches.cronjobs, key)?;
        let ns = cj.metadata.namespace.clone()?;
        let jobs = in_namespace(&caches.jobs, &ns);
        let refs: Vec<&k8s_openapi::api::batch::v1::Job> = jobs.iter().map(Arc::as_ref).collect();
        Some(cronjob::reconcile(&cj, &refs, now))
    }
}

/// StatefulSets: their own changes, their pods' and their ControllerRevisions'.
#[derive(Debug)]
pub struct StatefulSetController;

impl Controller for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulset"
    }

    fn pod_owner_kind(&self) -> Option<&'static str> {
        Some("StatefulSet")
    }

    fn keys_for(&self, change: &Change, caches: &Caches) -> Vec<String> {
        match change.kind {
            "StatefulSet" if !change.deleted => vec![change.key()],
            "ControllerRevision" => change.owner_key("StatefulSet").into_iter().collect(),
            "Pod" => match change.owner_key("StatefulSet") {
                Some(k) => vec![k],
                // An orphan named like a member may be adopted.
                None if change.controller.is_none() && !change.deleted => change
                    .namespace
                    .as_deref()
                    .map(|ns| {
                        in_namespace(&caches.statefulsets, ns)
                            .iter()
                            .filter_map(|s| s.metadata.name.as_deref())
                            .filter(|n| statefulset::ordinal(n, &change.name).is_some())
                            .map(|n| ns_key(ns, n))
                            .collect()
                    })
                    .unwrap_or_default(),
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, now: Timestamp) -> Option<Reconcile> {
        let set = get(&caches.statefulsets, key)?;
        let ns = set.metadata.namespace.clone()?;
        let pods = in_namespace(&caches.pods, &ns);
        let refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        let revisions = in_namespace(&caches.revisions, &ns);
        let rev_refs: Vec<&ControllerRevision> = revisions.iter().map(Arc::as_ref).collect();
        Some(statefulset::reconcile(&set, &refs, &rev_refs, now))
    }
}

/// The Services (keys `ns/name`) a pod change concerns: those selecting it, and those whose
/// Endpoints list it (it may have stopped matching).
fn services_of_pod(change: &Change, caches: &Caches) -> Vec<String> {
    let Some(ns) = change.namespace.as_deref() else {
        return Vec::new();
    };
    let mut keys: BTreeSet<String> = in_namespace(&caches.services, ns)
        .iter()
        .filter(|svc| {
            endpoints::service_selector(svc).is_some_and(|sel| {
                bosun_controllers::selector::matches(Some(&sel), Some(&change.labels))
            })
        })
        .filter_map(|svc| svc.metadata.name.as_deref().map(|n| ns_key(ns, n)))
        .collect();
    for ep in in_namespace(&caches.endpoints, ns) {
        let lists = ep.subsets.iter().flatten().any(|s| {
            s.addresses
                .iter()
                .flatten()
                .chain(s.not_ready_addresses.iter().flatten())
                .any(|a| {
                    a.target_ref
                        .as_ref()
                        .is_some_and(|r| r.name.as_deref() == Some(change.name.as_str()))
                })
        });
        if lists && let Some(n) = ep.metadata.name.as_deref() {
            keys.insert(ns_key(ns, n));
        }
    }
    keys.into_iter().collect()
}

/// Endpoints: keyed by Service; Service, pod and Endpoints changes.
#[derive(Debug)]
pub struct EndpointsController;

impl Controller for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoints"
    }

    fn keys_for(&self, change: &Change, caches: &Caches) -> Vec<String> {
        match change.kind {
            "Service" | "Endpoints" => vec![change.key()],
            "Pod" => services_of_pod(change, caches),
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, _now: Timestamp) -> Option<Reconcile> {
        let (ns, name) = key.split_once('/')?;
        let svc: Option<Arc<Service>> = get(&caches.services, key);
        let existing: Option<Arc<Endpoints>> = get(&caches.endpoints, key);
        if svc.is_none() && existing.is_none() {
            return None;
        }
        let pods = if svc.is_some() {
            in_namespace(&caches.pods, ns)
        } else {
            Vec::new()
        };
        let refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        Some(endpoints::reconcile(
            ns,
            name,
            svc.as_deref(),
            existing.as_deref(),
            &refs,
        ))
    }
}

/// EndpointSlices: keyed by Service; Service, pod and EndpointSlice changes.
#[derive(Debug)]
pub struct EndpointSliceController;

impl Controller for EndpointSliceController {
    fn name(&self) -> &'static str {
        "endpointslice"
    }

    fn keys_for(&self, change: &Change, caches: &Caches) -> Vec<String> {
        match change.kind {
            "Service" => vec![change.key()],
            "EndpointSlice" => change
                .labels
                .get(endpoint_slice::SERVICE_NAME_LABEL)
                .zip(change.namespace.as_deref())
                .map(|(svc, ns)| ns_key(ns, svc))
                .into_iter()
                .collect(),
            "Pod" => services_of_pod(change, caches),
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, key: &str, caches: &Caches, _now: Timestamp) -> Option<Reconcile> {
        let (ns, name) = key.split_once('/')?;
        let svc: Option<Arc<Service>> = get(&caches.services, key);
        let slices: Vec<Arc<EndpointSlice>> = in_namespace(&caches.endpoint_slices, ns)
            .into_iter()
            .filter(|s| endpoint_slice::is_managed_for(s, name))
            .collect();
        if svc.is_none() && slices.is_empty() {
            return None;
        }
        let slice_refs: Vec<&EndpointSlice> = slices.iter().map(Arc::as_ref).collect();
        let pods = if svc.is_some() {
            in_namespace(&caches.pods, ns)
        } else {
            Vec::new()
        };
        let refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        Some(endpoint_slice::reconcile(
            ns,
            name,
            svc.as_deref(),
            &slice_refs,
            &refs,
        ))
    }
}

/// The pod garbage collector: one key, looked at every period and when a Node goes.
#[derive(Debug)]
pub struct PodGarbageCollector {
    pub threshold: usize,
}

const POD_GC_KEY: &str = "pods";

impl Controller for PodGarbageCollector {
    fn name(&self) -> &'static str {
        "podgc"
    }

    fn initial_keys(&self) -> Vec<String> {
        vec![POD_GC_KEY.into()]
    }

    fn keys_for(&self, change: &Change, _caches: &Caches) -> Vec<String> {
        match change.kind {
            "Node" if change.deleted => vec![POD_GC_KEY.into()],
            _ => Vec::new(),
        }
    }

    fn reconcile(&self, _key: &str, caches: &Caches, _now: Timestamp) -> Option<Reconcile> {
        let nodes: BTreeSet<String> = caches
            .nodes
            .state()
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        let pods = caches.pods.state();
        let refs: Vec<&Pod> = pods.iter().map(Arc::as_ref).collect();
        Some(pod_gc::reconcile(&refs, &nodes, self.threshold))
    }
}
