//! Garbage collection by ownerReferences, pure: dependents whose owners are all gone are
//! deleted (verified by a live read, see [`Action::DeleteIfOwnerGone`]); an owner deleted in
//! the foreground waits for its dependents; an orphaning delete releases them first.

use crate::action::{Action, Target};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::json;

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

/// The collection of a kind the collector knows, by `apiVersion` and `kind`.
pub fn target_of(api_version: &str, kind: &str) -> Option<Target> {
    Some(match (api_version, kind) {
        ("v1", "Pod") => Target::PODS,
        ("apps/v1", "ReplicaSet") => Target::REPLICASETS,
        ("apps/v1", "Deployment") => Target::DEPLOYMENTS,
        ("apps/v1", "DaemonSet") => Target::DAEMONSETS,
        ("apps/v1", "StatefulSet") => Target::STATEFULSETS,
        ("apps/v1", "ControllerRevision") => Target::CONTROLLERREVISIONS,
        ("batch/v1", "Job") => Target::JOBS,
        ("batch/v1", "CronJob") => Target::CRONJOBS,
        _ => return None,
    })
}

/// Whether an owner is present: `Some(true)` seen, `Some(false)` a kind the caches hold and
/// it is not there, `None` a kind the collector does not watch (then it is left alone).
pub type OwnerLookup<'a> = &'a dyn Fn(&OwnerReference, Option<&str>) -> Option<bool>;

/// The decision for one object as a dependent: delete it when every owner is gone.
pub fn collect(
    target: Target,
    meta: &ObjectMeta,
    owner_present: OwnerLookup<'_>,
) -> Option<Action> {
    let refs = meta.owner_references.as_ref().filter(|r| !r.is_empty())?;
    if meta.deletion_timestamp.is_some() {
        return None;
    }
    let ns = meta.namespace.as_deref();
    if refs.iter().any(|r| owner_present(r, ns) != Some(false)) {
        return None;
    }
    let owner = refs
        .iter()
        .find(|r| r.controller == Some(true))
        .unwrap_or(&refs[0]);
    Some(Action::DeleteIfOwnerGone {
        target,
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone(),
        owner: target_of(&owner.api_version, &owner.kind)?,
        owner_name: owner.name.clone(),
        owner_uid: owner.uid.clone(),
    })
}

fn finalizers(meta: &ObjectMeta) -> Vec<String> {
    meta.finalizers.clone().unwrap_or_default()
}

/// The decision for an owner being deleted with the foreground or orphan finalizer, given its
/// dependents (objects whose ownerReferences name its uid).
pub fn finalize_owner(
    target: Target,
    owner: &ObjectMeta,
    dependents: &[(Target, &ObjectMeta)],
) -> Vec<Action> {
    let mut out = Vec::new();
    if owner.deletion_timestamp.is_none() {
        return out;
    }
    let Some(uid) = owner.uid.as_deref() else {
        return out;
    };
    let fins = finalizers(owner);
    let remove = |fin: &str| {
        let rest: Vec<&String> = fins.iter().filter(|f| *f != fin).collect();
        Action::MergePatch {
            target,
            namespace: owner.namespace.clone(),
            name: owner.name.clone().unwrap_or_default(),
            patch: json!({"metadata": {"finalizers": rest}}),
        }
    };
    if fins.iter().any(|f| f == ORPHAN) {
        for (t, d) in dependents {
            let rest: Vec<&OwnerReference> = d
                .owner_references
                .iter()
                .flatten()
                .filter(|r| r.uid != uid)
                .collect();
            out.push(Action::MergePatch {
                target: *t,
                namespace: d.namespace.clone(),
                name: d.name.clone().unwrap_or_default(),
                patch: json!({"metadata": {"ownerReferences": rest}}),
            });
        }
        if dependents.is_empty() {
            out.push(remove(ORPHAN));
        }
        return out;
    }
    if fins.iter().any(|f| f == FOREGROUND) {
        let blocking = dependents.iter().filter(|(_, d)| {
            d.owner_references
                .iter()
                .flatten()
                .any(|r| r.uid == uid && r.block_owner_deletion == Some(true))
        });
        let mut any = false;
        for (t, d) in blocking {
            any = true;
            if d.deletion_timestamp.is_none() {
                out.push(Action::Delete {
                    target: *t,
                    namespace: d.namespace.clone(),
                    name: d.name.clone().unwrap_or_default(),
                    uid: d.uid.clone(),
                    propagation: Some("Foreground"),
                });
            }
        }
        if !any {
            out.push(remove(FOREGROUND));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn meta(name: &str, uid: &str, owner: Option<(&str, &str)>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(uid.into()),
            owner_references: owner.map(|(kind, ouid)| {
                vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: kind.into(),
                    name: "owner".into(),
                    uid: ouid.into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]
            }),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn dependents_of_gone_owners_are_collected_and_others_left() {
        let gone = |_: &OwnerReference, _: Option<&str>| Some(false);
        let present = |_: &OwnerReference, _: Option<&str>| Some(true);
        let unknown = |_: &OwnerReference, _: Option<&str>| None;
        let pod = meta("p", "pu", Some(("ReplicaSet", "rs-uid")));
        assert!(
            matches!(collect(Target::PODS, &pod, &gone), Some(Action::DeleteIfOwnerGone { owner_uid, .. }) if owner_uid == "rs-uid")
        );
        assert!(collect(Target::PODS, &pod, &present).is_none());
        assert!(collect(Target::PODS, &pod, &unknown).is_none());
        assert!(collect(Target::PODS, &meta("free", "fu", None), &gone).is_none());
    }

    #[test]
    fn foreground_deletion_deletes_blocking_dependents_then_lifts_the_finalizer() {
        let mut owner = meta("d", "d-uid", None);
        owner.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        owner.finalizers = Some(vec![FOREGROUND.into()]);
        let rs = meta("rs", "rs-uid", Some(("Deployment", "d-uid")));
        let actions = finalize_owner(Target::DEPLOYMENTS, &owner, &[(Target::REPLICASETS, &rs)]);
        assert!(
            matches!(&actions[..], [Action::Delete { name, propagation: Some("Foreground"), .. }] if name == "rs")
        );
        let actions = finalize_owner(Target::DEPLOYMENTS, &owner, &[]);
        assert!(
            matches!(&actions[..], [Action::MergePatch { patch, .. }] if patch["metadata"]["finalizers"] == json!([]))
        );
    }

    #[test]
    fn orphaning_releases_dependents_then_lifts_the_finalizer() {
        let mut owner = meta("d", "d-uid", None);
        owner.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        owner.finalizers = Some(vec![ORPHAN.into()]);
        let rs = meta("rs", "rs-uid", Some(("Deployment", "d-uid")));
        let actions = finalize_owner(Target::DEPLOYMENTS, &owner, &[(Target::REPLICASETS, &rs)]);
        assert!(
            matches!(&actions[..], [Action::MergePatch { name, patch, .. }] if name == "rs" && patch["metadata"]["ownerReferences"] == json!([]))
        );
        assert_eq!(finalize_owner(Target::DEPLOYMENTS, &owner, &[]).len(), 1);
    }
}
