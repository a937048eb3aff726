//! The pods the scheduler's watch decodes: Kubernetes `Pod`s without `metadata.managedFields`.
//! The scheduler never reads them, and a small pod's managedFields are a large part of its
//! JSON: decoding them builds a map per field path only to drop it at once. Here they are
//! skipped while the event is parsed.

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A pod as the scheduler's watch receives it (`managedFields` left out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchedPod(pub Pod);

/// ObjectMeta's members but `managedFields`, which serde skips unread as an unknown member.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: Option<Meta>,
    #[serde(default)]
    spec: Option<PodSpec>,
    #[serde(default)]
    status: Option<PodStatus>,
}

impl<'de> Deserialize<'de> for WatchedPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Wire {
            metadata,
            spec,
            status,
        } = Wire::deserialize(d)?;
        let m = metadata.unwrap_or_default();
        Ok(Self(Pod {
            metadata: ObjectMeta {
                annotations: m.annotations,
                creation_timestamp: m.creation_timestamp,
                deletion_grace_period_seconds: m.deletion_grace_period_seconds,
                deletion_timestamp: m.deletion_timestamp,
                finalizers: m.finalizers,
                generate_name: m.generate_name,
                generation: m.generation,
                labels: m.labels,
                managed_fields: None,
                name: m.name,
                namespace: m.namespace,
                owner_references: m.owner_references,
                resource_version: m.resource_version,
                self_link: m.self_link,
                uid: m.uid,
            },
            spec,
            status,
        }))
    }
}

impl kube::Resource for WatchedPod {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        <Pod as kube::Resource>::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.0.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A pod with every ObjectMeta member set, and some of spec and status.
    fn full() -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "annotations": {"a": "1"},
                "creationTimestamp": "2026-12-07T10:00:00Z",
                "deletionGracePeriodSeconds": 30,
                "deletionTimestamp": "2026-12-07T11:00:00Z",
                "finalizers": ["f"],
                "generateName": "web-",
                "generation": 2,
                "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply",
                    "apiVersion": "v1", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}}}}}}],
                "name": "web-1",
                "namespace": "default",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web", "uid": "rs-uid", "controller": true}],
                "resourceVersion": "42",
                "selfLink": "/api/v1/namespaces/default/pods/web-1",
                "uid": "pod-uid"},
            "spec": {"nodeName": "n1", "priority": 7, "containers": [{"name": "c", "image": "i",
                "resources": {"requests": {"cpu": "100m"}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]},
            "status": {"phase": "Pending", "nominatedNodeName": "n2",
                "conditions": [{"type": "PodScheduled", "status": "False"}]}})
    }

    #[test]
    fn a_watched_pod_is_the_pod_without_its_managed_fields() {
        let mut want: Pod = serde_json::from_value(full()).expect("pod");
        assert!(want.metadata.managed_fields.is_some());
        want.metadata.managed_fields = None;
        let got: WatchedPod = serde_json::from_value(full()).expect("watched pod");
        assert_eq!(got.0, want);
    }

    #[test]
    fn missing_and_null_members_decode_as_absent() {
        let got: WatchedPod =
            serde_json::from_value(json!({"metadata": {"name": "p", "labels": null}}))
                .expect("pod");
        assert_eq!(got.0.metadata.name.as_deref(), Some("p"));
        assert_eq!(got.0.metadata.labels, None);
        assert_eq!((got.0.spec, got.0.status), (None, None));
        let empty: WatchedPod = serde_json::from_value(json!({})).expect("pod");
        assert_eq!(empty, WatchedPod::default());
        assert!(serde_json::from_value::<WatchedPod>(json!({"spec": 3})).is_err());
    }

    #[test]
    fn it_is_served_from_the_pods_url() {
        use kube::Resource;
        assert_eq!(
            WatchedPod::url_path(&(), Some("ns")),
            "/api/v1/namespaces/ns/pods"
        );
        assert_eq!(WatchedPod::api_version(&()), "v1");
        assert_eq!(WatchedPod::kind(&()), "Pod");
    }
}
