//! The scheduler's view of the cluster: every node with what is requested on it. Bound pods
//! and "assumed" pods (a binding in flight) are both added, so a node is never over-committed
//! while a binding is on its way.

use crate::resources::{Resources, node_allocatable, pod_requests};
use k8s_openapi::api::core::v1::{Node, Pod};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One node and what is placed on it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node: Arc<Node>,
    pub name: String,
    pub allocatable: Resources,
    pub requested: Resources,
    /// Host ports in use: (protocol, hostIP, port).
    pub ports: HashSet<(String, String, i32)>,
}

impl NodeInfo {
    fn new(node: Arc<Node>) -> Self {
        Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            allocatable: node_allocatable(&node),
            requested: Resources::default(),
            ports: HashSet::new(),
            node,
        }
    }
}

/// What the snapshot remembers of a placed pod, to take it off its node again.
#[derive(Debug, Clone)]
struct Placed {
    node: String,
    requests: Resources,
    ports: Vec<(String, String, i32)>,
}

/// All nodes, by name, with O(1) updates.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    pods: HashMap<String, Placed>,
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

    /// Add a node or replace its object, keeping what is placed on it.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        match self.index.get(&name) {
            Some(i) => {
                let info = &mut self.nodes[*i];
                info.allocatable = node_allocatable(&node);
                info.node = node;
            }
            None => {
                self.index.insert(name, self.nodes.len());
                self.nodes.push(NodeInfo::new(node));
            }
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        self.nodes.swap_remove(i);
        if i < self.nodes.len() {
            let moved = self.nodes[i].name.clone();
            self.index.insert(moved, i);
        }
    }

    /// Whether the pod (by uid) is placed.
    pub fn has_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Place a pod on `node` (its spec.nodeName, or the node it is assumed on). Idempotent by
    /// uid: a pod placed elsewhere is moved.
    pub fn add_pod(&mut self, pod: &Pod, node: &str) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        if self.pods.get(&uid).is_some_and(|p| p.node == node) {
            return;
        }
        self.remove_pod(&uid);
        let placed = Placed {
            node: node.to_string(),
            requests: pod_requests(pod),
            ports: host_ports(pod),
        };
        if let Some(i) = self.index.get(node) {
            let info = &mut self.nodes[*i];
            info.requested.add(&placed.requests);
            info.ports.extend(placed.ports.iter().cloned());
        }
        self.pods.insert(uid, placed);
    }

    /// Take a pod off its node.
    pub fn remove_pod(&mut self, uid: &str) {
        let Some(placed) = self.pods.remove(uid) else {
            return;
        };
        if let Some(i) = self.index.get(&placed.node) {
            let info = &mut self.nodes[*i];
            info.requested.sub(&placed.requests);
            for p in &placed.ports {
                info.ports.remove(p);
            }
        }
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
                "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": "110"}}
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
        s.add_pod(&pod("p1", "500m"), "b");
        assert_eq!(s.node("a").map(|n| n.requested.milli_cpu), Some(0));
        assert_eq!(s.node("b").map(|n| n.requested.pods), Some(1));
        s.remove_node("a");
        assert!(s.node("a").is_none());
        assert_eq!(s.node("b").map(|n| n.requested.milli_cpu), Some(500));
        s.remove_pod("p1");
        assert_eq!(s.node("b").map(|n| n.requested.milli_cpu), Some(0));
    }
}
