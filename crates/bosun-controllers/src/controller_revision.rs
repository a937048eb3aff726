//! ControllerRevisions: the template history of StatefulSets and DaemonSets, as upstream's
//! `controller/history` keeps it and as kubectl's `rollout history/undo` reads it. A revision
//! holds a strategic merge patch that restores the pod template (`{"spec":{"template":{...,
//! "$patch":"replace"}}}`), is named `<parent>-<hash>`, carries the template's labels (kubectl
//! finds revisions by the parent's selector) plus `controller-revision-hash`, and numbers the
//! history in `.revision`. A rollback to an old template reuses its revision and moves it to the
//! top of the history.

use crate::action::{Action, Target};
use crate::pod_state::{controller_owner_reference, is_controlled_by};
use crate::pod_template::{fnv32a, safe_encode};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The label naming a pod's (and a revision's) revision.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// Annotations not copied from the parent onto its revisions.
const NOT_COPIED: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// The data of a revision: a strategic merge patch that restores `template`.
pub fn patch_of(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(m) = t.as_object_mut() {
        m.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The pod template a revision restores (None when its data is not a template patch).
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// The hash of a revision's data and the parent's collision count.
pub fn hash(data: &Value, collision_count: Option<i32>) -> String {
    let mut text = serde_json::to_string(data).unwrap_or_default();
    if let Some(c) = collision_count {
        text.push_str(&c.to_string());
    }
    safe_encode(u64::from(fnv32a(text.as_bytes())))
}

/// `<parent>-<hash>`, the parent's name cut so the whole fits a name (as upstream does).
pub fn name(parent: &str, hash: &str) -> String {
    let keep = parent
        .char_indices()
        .nth(223)
        .map_or(parent, |(i, _)| &parent[..i]);
    format!("{keep}-{hash}")
}

/// A revision's number (`.revision`).
pub fn number(r: &ControllerRevision) -> i64 {
    r.revision
}

/// The revision a parent's pods are to match.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRevision {
    pub name: String,
    pub hash: String,
    pub number: i64,
}

/// What [`sync`] found and decided.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    /// The update revision exists (or is created by `actions`).
    Synced {
        update: UpdateRevision,
        actions: Vec<Action>,
    },
    /// Another object already has the update revision's name: bump the parent's
    /// collisionCount to this and try again.
    Collision { collision_count: i32 },
}

/// Make sure the revision for `template` exists and is the newest of the parent's history.
/// `revisions` are every ControllerRevision of the namespace; the parent's own are found by
/// its controller reference.
pub fn sync(
    api_version: &str,
    kind: &str,
    parent: &ObjectMeta,
    template: &PodTemplateSpec,
    collision_count: Option<i32>,
    revisions: &[&ControllerRevision],
) -> History {
    let uid = parent.uid.as_deref().unwrap_or_default();
    let parent_name = parent.name.as_deref().unwrap_or_default();
    let namespace = parent.namespace.clone();
    let data = patch_of(template);
    let mut owned: Vec<&ControllerRevision> = revisions
        .iter()
        .copied()
        .filter(|r| is_controlled_by(&r.metadata, uid) && r.metadata.deletion_timestamp.is_none())
        .collect();
    owned.sort_by_key(|r| (number(r), r.metadata.name.clone()));
    let max = owned.last().map_or(0, |r| number(r));
    let mut actions = Vec::new();
    // An equal revision (a rollback, or ours already): reuse it, newest.
    if let Some(equal) = owned
        .iter()
        .rev()
        .find(|r| r.data.as_ref().map(|d| &d.0) == Some(&data))
    {
        let name = equal.metadata.name.clone().unwrap_or_default();
        let hash = equal
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(HASH_LABEL).cloned())
            .unwrap_or_else(|| name.rsplit('-').next().unwrap_or_default().to_string());
        let mut n = number(equal);
        if n < max {
            n = max + 1;
            actions.push(Action::MergePatch {
                target: Target::CONTROLLERREVISIONS,
                namespace,
                name: name.clone(),
                patch: json!({"revision": n}),
            });
        }
        return History::Synced {
            update: UpdateRevision {
                name,
                hash,
                number: n,
            },
            actions,
        };
    }
    let hash = hash(&data, collision_count);
    let rev_name = name(parent_name, &hash);
    if revisions
        .iter()
        .any(|r| r.metadata.name.as_deref() == Some(rev_name.as_str()))
    {
        // Same name, other data (or not ours): a hash collision.
        return History::Collision {
            collision_count: collision_count.unwrap_or(0).saturating_add(1),
        };
    }
    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(HASH_LABEL.into(), hash.clone());
    let mut annotations = parent.annotations.clone().unwrap_or_default();
    for k in NOT_COPIED {
        annotations.remove(*k);
    }
    let owner = controller_owner_reference(api_version, kind, parent);
    let mut object = json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": rev_name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": owner.into_iter().collect::<Vec<_>>(),
        },
        "data": data,
        "revision": max + 1,
    });
    if !annotations.is_empty() {
        object["metadata"]["annotations"] = json!(annotations);
    }
    actions.push(Action::Create {
        target: Target::CONTROLLERREVISIONS,
        namespace: namespace.clone(),
        object,
    });
    History::Synced {
        update: UpdateRevision {
            name: rev_name,
            hash,
            number: max + 1,
        },
        actions,
    }
}

/// Delete the oldest of the parent's revisions beyond `limit`, never one in `live` (the
/// current and update revisions and any a pod still runs; matched by name or hash).
pub fn truncate(
    parent_uid: &str,
    revisions: &[&ControllerRevision],
    live: &BTreeSet<String>,
    limit: i32,
) -> Vec<Action> {
    let mut old: Vec<&ControllerRevision> = revisions
        .iter()
        .copied()
        .filter(|r| {
            is_controlled_by(&r.metadata, parent_uid) && r.metadata.deletion_timestamp.is_none()
        })
        .filter(|r| {
            let name = r.metadata.name.as_deref().unwrap_or_default();
            let hash = r.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL));
            !live.contains(name) && hash.is_none_or(|h| !live.contains(h))
        })
        .collect();
    let keep = usize::try_from(limit.max(0)).unwrap_or(0);
    if old.len() <= keep {
        return Vec::new();
    }
    old.sort_by_key(|r| number(r));
    let excess = old.len() - keep;
    old.into_iter()
        .take(excess)
        .map(|r| Action::Delete {
            target: Target::CONTROLLERREVISIONS,
            namespace: r.metadata.namespace.clone(),
            name: r.metadata.name.clone().unwrap_or_default(),
            uid: r.metadata.uid.clone(),
            propagation: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent() -> ObjectMeta {
        ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("p-uid".into()),
            annotations: Some(
                [
                    ("kubernetes.io/change-cause".to_string(), "v2".to_string()),
                    (NOT_COPIED[0].to_string(), "{}".to_string()),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        }
    }

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .expect("template")
    }

    /// The revision object a Create action asks for, as the API server would store it.
    fn stored(actions: &[Action], uid: &str) -> ControllerRevision {
        let object = actions
            .iter()
            .find_map(|a| match a {
                Action::Create { object, .. } => Some(object.clone()),
                _ => None,
            })
            .expect("a create");
        let mut r: ControllerRevision = serde_json::from_value(object).expect("revision");
        r.metadata.uid = Some(uid.into());
        r
    }

    #[test]
    fn a_new_template_gets_a_revision_kubectl_can_find_and_restore() {
        let History::Synced { update, actions } = sync(
            "apps/v1",
            "StatefulSet",
            &parent(),
            &template("v1"),
            None,
            &[],
        ) else {
            panic!("no collision expected");
        };
        assert_eq!(update.number, 1);
        assert_eq!(update.name, format!("web-{}", update.hash));
        let r = stored(&actions, "r1");
        let labels = r.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(labels.get(HASH_LABEL), Some(&update.hash));
        assert!(is_controlled_by(&r.metadata, "p-uid"));
        let ann = r.metadata.annotations.clone().unwrap_or_default();
        assert!(ann.contains_key("kubernetes.io/change-cause"));
        assert!(!ann.contains_key(NOT_COPIED[0]));
        assert_eq!(
            r.data
                .as_ref()
                .map(|d| d.0["spec"]["template"]["$patch"].clone()),
            Some(json!("replace"))
        );
        assert_eq!(template_of(&r), Some(template("v1")));
    }

    #[test]
    fn an_existing_equal_revision_is_reused_and_a_rollback_renumbers_it() {
        let p = parent();
        let History::Synced { actions: a1, .. } =
            sync("apps/v1", "StatefulSet", &p, &template("v1"), None, &[])
        else {
            panic!()
        };
        let r1 = stored(&a1, "r1");
        let History::Synced {
            update,
            actions: a2,
        } = sync("apps/v1", "StatefulSet", &p, &template("v2"), None, &[&r1])
        else {
            panic!()
        };
        assert_eq!(update.number, 2);
        let r2 = stored(&a2, "r2");
        // Unchanged: nothing to do.
        let History::Synced { update, actions } = sync(
            "apps/v1",
            "StatefulSet",
            &p,
            &template("v2"),
            None,
            &[&r1, &r2],
        ) else {
            panic!()
        };
        assert!(actions.is_empty());
        assert_eq!(update.name, r2.metadata.name.clone().unwrap_or_default());
        // Back to v1: revision 1 becomes revision 3.
        let History::Synced { update, actions } = sync(
            "apps/v1",
            "StatefulSet",
            &p,
            &template("v1"),
            None,
            &[&r1, &r2],
        ) else {
            panic!()
        };
        assert_eq!(update.name, r1.metadata.name.clone().unwrap_or_default());
        assert_eq!(update.number, 3);
        assert!(
            matches!(&actions[..], [Action::MergePatch { patch, .. }] if patch == &json!({"revision": 3}))
        );
    }

    #[test]
    fn a_name_taken_by_other_data_is_a_collision() {
        let p = parent();
        let History::Synced { actions, .. } =
            sync("apps/v1", "StatefulSet", &p, &template("v1"), None, &[])
        else {
            panic!()
        };
        let mut squatter = stored(&actions, "x");
        squatter.data = Some(k8s_openapi::apimachinery::pkg::runtime::RawExtension(
            json!({"other": 1}),
        ));
        assert_eq!(
            sync(
                "apps/v1",
                "StatefulSet",
                &p,
                &template("v1"),
                None,
                &[&squatter]
            ),
            History::Collision { collision_count: 1 }
        );
        // With the bumped count the name differs.
        assert!(matches!(
            sync(
                "apps/v1",
                "StatefulSet",
                &p,
                &template("v1"),
                Some(1),
                &[&squatter]
            ),
            History::Synced { .. }
        ));
    }

    #[test]
    fn history_beyond_the_limit_goes_oldest_first_but_never_a_live_revision() {
        let p = parent();
        let mut revs: Vec<ControllerRevision> = Vec::new();
        for (i, img) in ["v1", "v2", "v3", "v4"].iter().enumerate() {
            let refs: Vec<&ControllerRevision> = revs.iter().collect();
            let History::Synced { actions, .. } =
                sync("apps/v1", "StatefulSet", &p, &template(img), None, &refs)
            else {
                panic!()
            };
            revs.push(stored(&actions, &format!("r{i}")));
        }
        let refs: Vec<&ControllerRevision> = revs.iter().collect();
        let name = |i: usize| revs[i].metadata.name.clone().unwrap_or_default();
        // v4 is the update revision, v1 still runs on a pod.
        let live = BTreeSet::from([name(3), name(0)]);
        let deleted: Vec<String> = truncate("p-uid", &refs, &live, 1)
            .into_iter()
            .filter_map(|a| match a {
                Action::Delete { name, .. } => Some(name),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, vec![name(1)]);
        assert!(truncate("p-uid", &refs, &live, 10).is_empty());
    }
}
