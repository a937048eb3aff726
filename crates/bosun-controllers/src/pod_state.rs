//! Facts about pods and ownership that every workload controller needs, as Kubernetes'
//! `podutil` and `metav1` helpers define them.

use crate::pod::Pod;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The pod's `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// When the pod's `Ready` condition last became `True`; `None` when it is not ready. A ready
/// condition without a transition time counts as ready since the beginning of time.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions.iter().find(|c| c.type_ == "Ready")?;
    (ready.status == "True").then(|| {
        ready
            .last_transition_time
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
    })
}

/// Ready for at least `min_ready_seconds` at `now` (Kubernetes' `IsPodAvailable`).
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(since) => since + SignedDuration::from_secs(i64::from(min_ready_seconds)) <= now,
    }
}

/// The pod has a deletion timestamp.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// `status.phase`, or `Pending` when unset.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Neither finished (Succeeded/Failed) nor being deleted: counts toward a controller's replicas.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminating(pod) && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// The owner reference with `controller: true`, if any.
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// The reference a controller puts on what it creates: controller and blockOwnerDeletion set.
/// `None` when the owner has no name or uid yet.
pub fn controller_owner_reference(
    api_version: &str,
    kind: &str,
    owner: &ObjectMeta,
) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: owner.name.clone()?,
        uid: owner.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// True when `meta` is controlled by the object with this uid.
pub fn is_controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    controller_ref(meta).is_some_and(|r| r.uid == owner_uid)
}

/// An `ObjectReference` to an object, for Events.
pub fn object_reference(api_version: &str, kind: &str, meta: &ObjectMeta) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..ObjectReference::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod_ready_at(status: &str, at: Option<Timestamp>) -> Pod {
        Pod {
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: status.into(),
                    last_transition_time: at.map(Time),
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let pod = pod_ready_at("True", Some(t0));
        assert!(is_pod_available(&pod, 0, t0));
        assert!(!is_pod_available(
            &pod,
            10,
            t0 + SignedDuration::from_secs(9)
        ));
        assert!(is_pod_available(
            &pod,
            10,
            t0 + SignedDuration::from_secs(10)
        ));
        assert!(!is_pod_available(&pod_ready_at("False", Some(t0)), 0, t0));
        assert!(!is_pod_available(&Pod::default(), 0, t0));
    }

    #[test]
    fn finished_and_terminating_pods_are_not_active() {
        let mut pod = Pod::default();
        assert!(is_active(&pod));
        pod.status = Some(PodStatus {
            phase: Some("Succeeded".into()),
            ..PodStatus::default()
        });
        assert!(!is_active(&pod));
        let mut deleting = Pod::default();
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(!is_active(&deleting));
    }

    #[test]
    fn the_controller_reference_is_the_one_marked_controller() {
        let owner = ObjectMeta {
            name: Some("rs".into()),
            uid: Some("u1".into()),
            ..ObjectMeta::default()
        };
        let mut meta = ObjectMeta::default();
        assert!(controller_ref(&meta).is_none());
        let mut not_controller =
            controller_owner_reference("apps/v1", "ReplicaSet", &owner).expect("ref");
        not_controller.controller = None;
        not_controller.uid = "other".into();
        meta.owner_references = Some(vec![
            not_controller,
            controller_owner_reference("apps/v1", "ReplicaSet", &owner).expect("ref"),
        ]);
        assert!(is_controlled_by(&meta, "u1"));
        assert!(!is_controlled_by(&meta, "other"));
    }
}
