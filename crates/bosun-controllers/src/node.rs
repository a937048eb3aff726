//! The Node as the controllers see it: its metadata, taints and conditions, with the names and
//! shapes of `k8s_openapi`'s, deserialized straight from the API's JSON (as [`crate::pod`]
//! does for pods). The node lifecycle controller reads the conditions and taints, the
//! DaemonSet controller the labels and taints; no controller reads a node's addresses,
//! capacity, images or system info, which are most of a Node.

use k8s_openapi::api::core::v1::{NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// A node: see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<NodeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NodeStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Whole: the node lifecycle controller writes them all back as Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<NodeCondition>>,
}

impl k8s_openapi::Resource for Node {
    const API_VERSION: &'static str = "v1";
    const GROUP: &'static str = "";
    const KIND: &'static str = "Node";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "nodes";
    type Scope = k8s_openapi::ClusterResourceScope;
}

impl k8s_openapi::Metadata for Node {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Node {
    /// Drop what no controller reads and the API still sends: managedFields and annotations.
    pub fn trim(&mut self) {
        self.metadata.managed_fields = None;
        self.metadata.annotations = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_labels_taints_and_conditions_as_the_full_type_does() {
        let api = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"},
                "annotations": {"bosun.dev/limits-enforced": "false"}},
            "spec": {"podCIDR": "10.64.0.0/24",
                "taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]},
            "status": {"capacity": {"cpu": "64"}, "nodeInfo": {"osImage": "bosun"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                    "message": "kubelet is posting ready status"}]}
        });
        let full: k8s_openapi::api::core::v1::Node =
            serde_json::from_value(api.clone()).expect("full");
        let mut slim: Node = serde_json::from_value(api).expect("slim");
        let taints = slim.spec.as_ref().and_then(|s| s.taints.clone());
        assert_eq!(taints, full.spec.as_ref().and_then(|s| s.taints.clone()));
        let conditions = slim.status.as_ref().and_then(|s| s.conditions.clone());
        assert_eq!(
            conditions,
            full.status.as_ref().and_then(|s| s.conditions.clone())
        );
        assert_eq!(slim.metadata.labels, full.metadata.labels);
        slim.trim();
        assert_eq!(slim.metadata.annotations, None);
    }
}
