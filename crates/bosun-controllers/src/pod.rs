//! The pod as the controllers see it: the fields of a core/v1 Pod that some controller reads,
//! with the names and shapes of `k8s_openapi`'s, deserialized straight from the API's JSON
//! (fields not listed here are skipped as it is read).
//!
//! Why not `k8s_openapi::api::core::v1::Pod`: the controller manager caches every pod of the
//! cluster, and that type is large whatever the pod holds (a `Pod` is 2,176 bytes and each
//! `Container` 2,120 before any field is set). A bench pod deserialized as it took 12.4 KB of
//! heap; as this type, trimmed of the annotations and conditions no controller reads, 2.4 KB
//! (counting allocator, 1,000 pods). This
//! is what client-go's informer transforms do for kube-controller-manager (strip what is not
//! read), taken one step further.
//!
//! A controller that needs another pod field adds it here (same name and type as in
//! `k8s_openapi`), and a pod annotation to [`READ_ANNOTATIONS`].

use k8s_openapi::api::core::v1::{Affinity, ContainerPort, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Pod annotations some controller reads; the caches drop every other one (the scheduler's
/// explanation alone is several hundred bytes per pod).
pub const READ_ANNOTATIONS: &[&str] = &[crate::job::COMPLETION_INDEX];

/// Pod condition types some controller reads; the caches drop the others.
pub const READ_CONDITIONS: &[&str] = &["Ready"];

/// A pod: see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Box<Affinity>>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ContainerPort>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<PodCondition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(rename = "podIP", default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default)]
    pub status: String,
    #[serde(rename = "type", default)]
    pub type_: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub restart_count: i32,
}

/// A container's resources: only the requests are read (by the HorizontalPodAutoscaler).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRequirements {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceList>,
}

/// A resource name to quantity map kept as a short list: a `BTreeMap` allocates a node of
/// eleven entries (544 bytes) for one or two.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceList(pub Vec<(String, Quantity)>);

impl ResourceList {
    pub fn get(&self, name: &str) -> Option<&Quantity> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, q)| q)
    }
}

impl<'de> Deserialize<'de> for ResourceList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Quantity>::deserialize(d)?;
        Ok(ResourceList(map.into_iter().collect()))
    }
}

impl Serialize for ResourceList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl k8s_openapi::Resource for Pod {
    const API_VERSION: &'static str = "v1";
    const GROUP: &'static str = "";
    const KIND: &'static str = "Pod";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "pods";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for Pod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Pod {
    /// Drop what no controller reads and the API still sends: managedFields, the
    /// annotations not in [`READ_ANNOTATIONS`] and the conditions not in [`READ_CONDITIONS`].
    pub fn trim(&mut self) {
        if let Some(cs) = self.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            cs.retain(|c| READ_CONDITIONS.contains(&c.type_.as_str()));
            cs.shrink_to_fit();
        }
        self.metadata.managed_fields = None;
        if let Some(a) = self.metadata.annotations.as_mut() {
            a.retain(|k, _| READ_ANNOTATIONS.contains(&k.as_str()));
            if a.is_empty() {
                self.metadata.annotations = None;
            }
        }
    }

    /// The same pod from a full `k8s_openapi` Pod (for tests and callers that hold one).
    pub fn from_full(pod: &k8s_openapi::api::core::v1::Pod) -> Self {
        serde_json::to_value(pod)
            .and_then(serde_json::from_value)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api_pod() -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u1",
                "labels": {"app": "web"},
                "annotations": {"scheduling.bosun.dev/explanation": "{\"nodes\":20}",
                                crate::job::COMPLETION_INDEX: "3"},
                "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
            "spec": {"nodeName": "n1", "restartPolicy": "Never", "hostname": "h", "subdomain": "s",
                "containers": [{"name": "c", "image": "i", "command": ["sleep"],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "resources": {"requests": {"cpu": "100m"}}}],
                "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 5}],
                "volumes": [{"name": "v", "emptyDir": {}}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}],
                "startTime": "2026-01-01T00:00:00Z", "reason": "Evicted",
                "conditions": [{"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True", "reason": "R",
                    "lastTransitionTime": "2026-01-01T00:00:01Z"}],
                "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2,
                    "image": "i", "imageID": "", "started": true,
                    "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}
        })
    }

    #[test]
    fn reads_every_field_the_controllers_use_as_the_full_type_does() {
        let full: k8s_openapi::api::core::v1::Pod =
            serde_json::from_value(api_pod()).expect("full");
        let mut slim: Pod = serde_json::from_value(api_pod()).expect("slim");
        assert_eq!(slim, Pod::from_full(&full));
        let spec = slim.spec.as_ref().expect("spec");
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(
            spec.containers[0].ports.as_ref().expect("ports")[0].container_port,
            8080
        );
        assert_eq!(
            spec.tolerations.as_ref().expect("t")[0].toleration_seconds,
            Some(5)
        );
        let status = slim.status.as_ref().expect("status");
        assert_eq!(status.conditions.as_ref().expect("c")[1].type_, "Ready");
        let cs = &status.container_statuses.as_ref().expect("cs")[0];
        assert_eq!((cs.ready, cs.restart_count), (true, 2));
        let requests = spec.containers[0]
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref());
        assert_eq!(
            requests.and_then(|r| r.get("cpu")).map(|q| q.0.as_str()),
            Some("100m")
        );
        assert_eq!(requests.and_then(|r| r.get("memory")), None);
        slim.trim();
        assert_eq!(slim.metadata.managed_fields, None);
        let kept: Vec<&String> = slim
            .metadata
            .annotations
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kept, vec![crate::job::COMPLETION_INDEX]);
        let conditions = slim.status.as_ref().and_then(|s| s.conditions.as_ref());
        let types: Vec<&str> = conditions
            .iter()
            .flat_map(|cs| cs.iter().map(|c| c.type_.as_str()))
            .collect();
        assert_eq!(types, vec!["Ready"]);
    }
}
