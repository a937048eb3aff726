//! The scheduler's view of the cluster: every node with what is requested on it and the pods
//! placed there. Bound pods and "assumed" pods (a binding in flight) are both added, so a node
//! is never over-committed while a binding is on its way. Pods with inter-pod (anti-)affinity
//! terms are indexed apart, so a pod without such terms never walks the other pods.

use crate::image_locality::normalized_image_name;
use crate::inter_pod_affinity::AffinityTerms;
use crate::resources::{Resources, node_allocatable, pod_requests};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Taint};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// What the scheduler keeps of a placed pod: enough to match selectors and terms against it,
/// to count it on its node, and to preempt it.
#[derive(Debug, Clone, Default)]
pub struct PlacedPod {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    /// Shared with every placed pod that has the same labels (the pods of one ReplicaSet).
    pub labels: Arc<Labels>,
    pub priority: i32,
    pub requests: Resources,
    pub ports: Vec<(String, String, i32)>,
    /// Being deleted (deletionTimestamp set).
    pub terminating: bool,
    /// Chosen as a preemption victim and its deletion asked for (kept across its watch
    /// events until it is gone or the deletion failed).
    pub preempted: bool,
    /// status.startTime (else creation), seconds since the epoch.
    pub start_time: i64,
    /// Its inter-pod (anti-)affinity terms, when it has any.
    pub affinity: Option<Arc<AffinityTerms>>,
}

impl PlacedPod {
    pub fn new(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref();
        Self {
            uid: meta.uid.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            labels: Arc::new(meta.labels.clone().unwrap_or_default()),
            priority: spec.and_then(|s| s.priority).unwrap_or(0),
            requests: pod_requests(pod),
            ports: host_ports(pod),
            terminating: meta.deletion_timestamp.is_some(),
            preempted: false,
            start_time: pod
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .or(meta.creation_timestamp.as_ref())
                .map_or(0, |t| t.0.as_second()),
            // Terms of placed pods were checked when they were scheduled; a term that does not
            // compile is left out rather than failing every other pod.
            affinity: AffinityTerms::of(pod).ok().flatten().map(Arc::new),
        }
    }
}

/// One node and what is placed on it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node: Arc<Node>,
    pub name: String,
    pub allocatable: Resources,
    /// The Ready condition is True.
    pub ready: bool,
    /// spec.unschedulable, and spec.taints: copied out of the Node so that filtering and
    /// scoring hundreds of nodes per pod read only this struct (the Node object, a pointer
    /// away, cost a cache miss per node and filter).
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
    pub requested: Resources,
    /// Host ports in use: (protocol, hostIP, port).
    pub ports: HashSet<(String, String, i32)>,
    /// The pods placed here.
    pub pods: Vec<Arc<PlacedPod>>,
    /// Images present (normalized name → size in bytes).
    pub images: HashMap<String, i64>,
}

static NO_LABELS: Labels = BTreeMap::new();

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> Self {
        let mut info = Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            allocatable: Resources::default(),
            ready: false,
            unschedulable: false,
            taints: Vec::new(),
            requested: Resources::default(),
            ports: HashSet::new(),
            pods: Vec::new(),
            images: node_images(&node),
            node: node.clone(),
        };
        info.set_node(node);
        info
    }

    /// Replace the Node object and what is read out of it (all but its images, which the
    /// snapshot counts), keeping what is placed here.
    fn set_node(&mut self, node: Arc<Node>) {
        self.allocatable = node_allocatable(&node);
        self.ready = node_ready(&node);
        self.unschedulable = node_unschedulable(&node);
        self.taints = node_taints(&node);
        self.node = node;
    }

    pub fn labels(&self) -> &Labels {
        self.node.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }

    /// Count a pod here.
    pub fn add(&mut self, pod: Arc<PlacedPod>) {
        self.requested.add(&pod.requests);
        self.ports.extend(pod.ports.iter().cloned());
        self.pods.push(pod);
    }

    /// Stop counting a pod here.
    pub fn remove(&mut self, uid: &str) -> Option<Arc<PlacedPod>> {
        let i = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests);
        for p in &pod.ports {
            self.ports.remove(p);
        }
        Some(pod)
    }
}

fn node_unschedulable(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
}

fn node_taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

fn node_images(node: &Node) -> HashMap<String, i64> {
    node.status
        .as_ref()
        .and_then(|s| s.images.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|i| {
            let size = i.size_bytes.unwrap_or(0);
            i.names
                .iter()
                .flatten()
                .map(move |n| (normalized_image_name(n), size))
        })
        .collect()
}

/// All nodes, by name, with O(1) updates.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Placed pods by uid: the node and the pod.
    pods: HashMap<String, (String, Arc<PlacedPod>)>,
    /// Placed pods with inter-pod (anti-)affinity terms (uid → node).
    with_affinity: HashMap<String, String>,
    /// Namespace labels by name (for namespaceSelector).
    namespaces: HashMap<String, Labels>,
    /// How many nodes have each image.
    image_nodes: HashMap<String, usize>,
    /// Placed pods whose node is not (yet) known.
    orphans: usize,
    /// Pending pods nominated to a node by preemption (uid → node and pod): they hold their
    /// place there against pods of no higher priority.
    nominated: HashMap<String, (String, Arc<PlacedPod>)>,
    /// One copy of each distinct label set of placed pods.
    labels: HashSet<Arc<Labels>>,
}

/// The host ports a pod asks for.
pub fn host_ports(pod: &Pod) -> Vec<(String, String, i32)> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|h| *h > 0)?;
            Some((
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                p.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into()),
                port,
            ))
        })
        .collect()
}

impl Snapshot {
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Namespace labels by namespace name.
    pub fn namespaces(&self) -> &HashMap<String, Labels> {
        &self.namespaces
    }

    /// How many nodes have the image (normalized name).
    pub fn nodes_with_image(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    /// Placed pods that have inter-pod (anti-)affinity terms, with their nodes.
    pub fn pods_with_affinity(&self) -> impl Iterator<Item = (&NodeInfo, &Arc<PlacedPod>)> {
        self.with_affinity.iter().filter_map(|(uid, node)| {
            let info = self.node(node)?;
            let (_, pod) = self.pods.get(uid)?;
            Some((info, pod))
        })
    }

    /// A placed pod and the node it is on.
    pub fn pod(&self, uid: &str) -> Option<(&str, &Arc<PlacedPod>)> {
        self.pods.get(uid).map(|(n, p)| (n.as_str(), p))
    }

    /// Add or replace a namespace (its labels, plus `kubernetes.io/metadata.name`).
    pub fn upsert_namespace(&mut self, ns: &Namespace) {
        let Some(name) = ns.metadata.name.clone() else {
            return;
        };
        let mut labels = ns.metadata.labels.clone().unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".into(), name.clone());
        self.namespaces.insert(name, labels);
    }

    pub fn remove_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
    }

    fn count_images(&mut self, images: &HashMap<String, i64>, delta: isize) {
        for name in images.keys() {
            let n = self.image_nodes.entry(name.clone()).or_insert(0);
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                self.image_nodes.remove(name);
            }
        }
    }

    /// Add a node or replace its object, keeping what is placed on it.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        match self.index.get(&name).copied() {
            Some(i) => {
                let images = node_images(&node);
                if images != self.nodes[i].images {
                    let old = std::mem::take(&mut self.nodes[i].images);
                    self.count_images(&old, -1);
                    self.count_images(&images, 1);
                    self.nodes[i].images = images;
                }
                self.nodes[i].set_node(node);
            }
            None => {
                let mut info = NodeInfo::new(node);
                // Pods placed before their node was seen.
                if self.orphans > 0 {
                    for (node, pod) in self.pods.values() {
                        if *node == name {
                            info.add(pod.clone());
                        }
                    }
                    self.orphans -= info.pods.len();
                }
                let images = std::mem::take(&mut info.images);
                self.count_images(&images, 1);
                info.images = images;
                self.index.insert(name, self.nodes.len());
                self.nodes.push(info);
            }
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        let info = self.nodes.swap_remove(i);
        self.count_images(&info.images, -1);
        self.orphans += info.pods.len();
        if i < self.nodes.len() {
            let moved = self.nodes[i].name.clone();
            self.index.insert(moved, i);
        }
    }

    /// Whether the pod (by uid) is placed.
    pub fn has_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Place a pod on `node` (its spec.nodeName, or the node it is assumed on). A pod placed
    /// already is replaced (moved, or its labels or deletion updated).
    pub fn add_pod(&mut self, pod: &Pod, node: &str) {
        // A pod placed here already and unchanged in what a placed pod is matched by (the
        // watch confirming a binding this scheduler assumed): nothing to do, nothing to build.
        let meta = &pod.metadata;
        if let Some((n, p)) = meta.uid.as_deref().and_then(|uid| self.pods.get(uid))
            && n == node
            && p.terminating == meta.deletion_timestamp.is_some()
            && meta
                .labels
                .as_ref()
                .map_or(p.labels.is_empty(), |l| *l == *p.labels)
        {
            return;
        }
        let mut placed = PlacedPod::new(pod);
        if placed.uid.is_empty() {
            return;
        }
        // Events written before the deletion (a status update) do not undo a preemption.
        if self.pods.get(&placed.uid).is_some_and(|(_, p)| p.preempted) {
            placed.preempted = true;
        }
        self.remove_pod(&placed.uid);
        placed.labels = self.intern(placed.labels);
        let placed = Arc::new(placed);
        match self.index.get(node) {
            Some(i) => self.nodes[*i].add(placed.clone()),
            None => self.orphans += 1,
        }
        if placed.affinity.is_some() {
            self.with_affinity
                .insert(placed.uid.clone(), node.to_string());
        }
        self.pods
            .insert(placed.uid.clone(), (node.to_string(), placed));
    }

    /// The shared copy of `labels`.
    fn intern(&mut self, labels: Arc<Labels>) -> Arc<Labels> {
        match self.labels.get(&labels) {
            Some(shared) => shared.clone(),
            None => {
                self.labels.insert(labels.clone());
                labels
            }
        }
    }

    /// Forget a label set that only the interner still holds.
    fn release(&mut self, labels: Arc<Labels>) {
        // This pod's copy and the interner's.
        if Arc::strong_count(&labels) <= 2 {
            self.labels.remove(&labels);
        }
    }

    /// Distinct label sets held for placed pods.
    pub fn distinct_label_sets(&self) -> usize {
        self.labels.len()
    }

    /// Mark (or unmark, when its deletion failed) a placed pod as a preemption victim whose
    /// deletion was asked for.
    pub fn mark_preempted(&mut self, uid: &str, preempted: bool) {
        let Some((node, pod)) = self.pods.get(uid) else {
            return;
        };
        if pod.preempted == preempted {
            return;
        }
        let node = node.clone();
        let marked = Arc::new(PlacedPod {
            preempted,
            ..(**pod).clone()
        });
        if let Some(i) = self.index.get(&node)
            && let Some(slot) = self.nodes[*i].pods.iter_mut().find(|p| p.uid == uid)
        {
            *slot = marked.clone();
        }
        self.pods.insert(uid.to_string(), (node, marked));
    }

    /// Record that a pending pod is nominated to `node` (replacing an earlier nomination).
    pub fn nominate(&mut self, pod: &Pod, node: &str) {
        let placed = PlacedPod::new(pod);
        if placed.uid.is_empty() {
            return;
        }
        self.nominated
            .insert(placed.uid.clone(), (node.to_string(), Arc::new(placed)));
    }

    /// Forget a pod's nomination (it was bound, deleted, or nominated nowhere).
    pub fn forget_nomination(&mut self, uid: &str) {
        self.nominated.remove(uid);
    }

    /// Whether any pod is nominated anywhere.
    pub fn has_nominations(&self) -> bool {
        !self.nominated.is_empty()
    }

    /// The pods nominated to `node`.
    pub fn nominated_to<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Arc<PlacedPod>> {
        self.nominated
            .values()
            .filter(move |(n, _)| n == node)
            .map(|(_, p)| p)
    }

    /// Take a pod off its node.
    pub fn remove_pod(&mut self, uid: &str) {
        let Some((node, pod)) = self.pods.remove(uid) else {
            return;
        };
        self.with_affinity.remove(uid);
        match self.index.get(&node) {
            Some(i) => {
                self.nodes[*i].remove(uid);
            }
            None => self.orphans = self.orphans.saturating_sub(1),
        }
        let labels = pod.labels.clone();
        drop(pod);
        self.release(labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn node(name: &str, cpu: &str, mem: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": "110"},
                    "images": [{"names": ["nginx"], "sizeBytes": 100}]}
            }))
            .expect("node"),
        )
    }

    fn pod(uid: &str, cpu: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "uid": uid},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}
        }))
        .expect("pod")
    }

    #[test]
    fn placing_is_idempotent_and_follows_moves_and_node_removal() {
        let mut s = Snapshot::default();
        s.upsert_node(node("a", "2", "1Gi"));
        s.upsert_node(node("b", "2", "1Gi"));
        s.add_pod(&pod("p1", "500m"), "a");
        s.add_pod(&pod("p1", "500m"), "a");
        assert_eq!(s.node("a").map(|n| n.requested.milli_cpu), Some(500));
        assert_eq!(s.node("a").map(|n| n.pods.len()), Some(1));
        s.add_pod(&pod("p1", "500m"), "b");
        assert_eq!(s.node("a").map(|n| n.requested.milli_cpu), Some(0));
        assert_eq!(s.node("b").map(|n| n.requested.pods), Some(1));
        s.remove_node("a");
        assert!(s.node("a").is_none());
        assert_eq!(s.node("b").map(|n| n.requested.milli_cpu), Some(500));
        s.remove_pod("p1");
        assert_eq!(s.node("b").map(|n| n.requested.milli_cpu), Some(0));
        assert_eq!(s.node("b").map(|n| n.pods.len()), Some(0));
    }

    #[test]
    fn pods_placed_before_their_node_count_once_it_appears_and_images_are_counted() {
        let mut s = Snapshot::default();
        s.add_pod(&pod("early", "1"), "late");
        s.upsert_node(node("late", "2", "1Gi"));
        s.upsert_node(node("other", "2", "1Gi"));
        assert_eq!(s.node("late").map(|n| n.requested.milli_cpu), Some(1000));
        assert_eq!(s.nodes_with_image("nginx:latest"), 2);
        s.remove_node("other");
        assert_eq!(s.nodes_with_image("nginx:latest"), 1);
    }

    #[test]
    fn a_preemption_victim_stays_marked_across_its_events_until_unmarked() {
        let mut s = Snapshot::default();
        s.upsert_node(node("a", "2", "1Gi"));
        s.add_pod(&pod("v", "1"), "a");
        s.mark_preempted("v", true);
        s.add_pod(&pod("v", "1"), "a");
        assert_eq!(s.pod("v").map(|(_, p)| p.preempted), Some(true));
        assert_eq!(s.node("a").map(|n| n.pods[0].preempted), Some(true));
        assert_eq!(s.node("a").map(|n| n.requested.milli_cpu), Some(1000));
        s.mark_preempted("v", false);
        assert_eq!(s.node("a").map(|n| n.pods[0].preempted), Some(false));
    }

    #[test]
    fn pods_with_affinity_terms_are_indexed_apart() {
        let mut s = Snapshot::default();
        s.upsert_node(node("a", "2", "1Gi"));
        let anti: Pod = serde_json::from_value(json!({
            "metadata": {"name": "x", "uid": "x", "namespace": "default"},
            "spec": {"containers": [], "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]}}}
        }))
        .expect("pod");
        s.add_pod(&anti, "a");
        s.add_pod(&pod("plain", "1"), "a");
        assert_eq!(s.pods_with_affinity().count(), 1);
        s.remove_pod("x");
        assert_eq!(s.pods_with_affinity().count(), 0);
    }

    #[test]
    fn a_confirmation_of_a_placed_pod_keeps_it_and_a_deletion_replaces_it() {
        let mut s = Snapshot::default();
        s.upsert_node(node("a", "2", "1Gi"));
        s.add_pod(&pod("p", "500m"), "a");
        let first = s.pod("p").map(|(_, p)| p.clone()).expect("placed");
        // The watch confirming the same pod on the same node: the placed pod is kept as it is.
        s.add_pod(&pod("p", "500m"), "a");
        assert!(s.pod("p").is_some_and(|(_, p)| Arc::ptr_eq(p, &first)));
        // Its deletion starts: replaced, now terminating, still counted once.
        let mut deleting = pod("p", "500m");
        deleting.metadata.deletion_timestamp = first_time();
        s.add_pod(&deleting, "a");
        assert!(s.pod("p").is_some_and(|(_, p)| p.terminating));
        assert_eq!(s.node("a").map(|n| n.requested.milli_cpu), Some(500));
    }

    fn first_time() -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
        serde_json::from_value(json!("2026-12-07T00:00:00Z")).ok()
    }

    fn labelled(uid: &str, app: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "uid": uid, "labels": {"app": app, "tier": "web"}},
            "spec": {"containers": [{"name": "c"}]}
        }))
        .expect("pod")
    }

    #[test]
    fn pods_with_the_same_labels_share_one_copy_until_the_last_goes() {
        let mut s = Snapshot::default();
        s.upsert_node(node("a", "8", "1Gi"));
        for i in 0..3 {
            s.add_pod(&labelled(&format!("w{i}"), "web"), "a");
        }
        s.add_pod(&labelled("d0", "db"), "a");
        assert_eq!(s.distinct_label_sets(), 2);
        let (_, w0) = s.pod("w0").expect("placed");
        let (_, w2) = s.pod("w2").expect("placed");
        assert!(Arc::ptr_eq(&w0.labels, &w2.labels));
        assert_eq!(w0.labels.get("app").map(String::as_str), Some("web"));
        // A label change moves the pod to another set.
        s.add_pod(&labelled("w1", "db"), "a");
        assert_eq!(s.distinct_label_sets(), 2);
        s.remove_pod("d0");
        s.remove_pod("w1");
        assert_eq!(s.distinct_label_sets(), 1);
        s.remove_pod("w0");
        s.remove_pod("w2");
        assert_eq!(s.distinct_label_sets(), 0);
    }
}
