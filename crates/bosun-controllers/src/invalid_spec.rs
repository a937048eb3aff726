//! Objects a controller cannot act on (a selector that does not match the template, a CronJob
//! schedule that does not parse) if they slipped past validation: the controller does nothing
//! for them but say so — a `ReplicaFailure` condition with reason `InvalidSpec` in the
//! object's status and a Warning Event when the condition appears — and goes on with the
//! others. The condition goes once the spec is fixed.

use crate::action::{Action, EventType, Reconcile, Target};
use crate::pod_state::object_reference;
use crate::selector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const CONDITION_TYPE: &str = "ReplicaFailure";
pub const REASON: &str = "InvalidSpec";

/// What is wrong with a workload's selector, in the API server's words; None when it selects
/// the template's pods.
pub fn selector_problem(
    selector: Option<&LabelSelector>,
    template_labels: Option<&BTreeMap<String, String>>,
) -> Option<String> {
    let Some(sel) = selector else {
        return Some("spec.selector: Required value".into());
    };
    let empty = sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && sel.match_expressions.as_ref().is_none_or(Vec::is_empty);
    if empty {
        return Some(
            "spec.selector: Invalid value: empty selector is invalid for this kind".into(),
        );
    }
    if !selector::matches(Some(sel), template_labels) {
        return Some(
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                .into(),
        );
    }
    None
}

/// An object's status conditions as JSON.
pub fn conditions_json<C: Serialize>(conditions: Option<&Vec<C>>) -> Vec<Value> {
    conditions
        .and_then(|c| serde_json::to_value(c).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn is_ours(c: &Value) -> bool {
    c["type"] == CONDITION_TYPE && c["reason"] == REASON
}

/// Report `message` about the object: the condition in its status (when not there already
/// with this message) and a Warning Event when it is new or says something new.
#[allow(clippy::too_many_arguments)]
pub fn report(
    out: &mut Reconcile,
    target: Target,
    api_version: &str,
    kind: &str,
    meta: &ObjectMeta,
    conditions: &[Value],
    message: &str,
    now: Timestamp,
) {
    if conditions
        .iter()
        .any(|c| is_ours(c) && c["status"] == "True" && c["message"] == message)
    {
        return;
    }
    let mut updated: Vec<Value> = conditions
        .iter()
        .filter(|c| c["type"] != CONDITION_TYPE)
        .cloned()
        .collect();
    updated.push(json!({
        "type": CONDITION_TYPE,
        "status": "True",
        "reason": REASON,
        "message": message,
        "lastTransitionTime": Time(now),
    }));
    out.actions.push(Action::Event {
        involved: object_reference(api_version, kind, meta),
        event_type: EventType::Warning,
        reason: REASON.into(),
        message: message.into(),
    });
    out.actions.push(Action::PatchStatus {
        target,
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
        status: json!({"conditions": updated, "observedGeneration": meta.generation}),
    });
}

/// The conditions without ours, when ours is there (a fixed spec): the status patch's
/// `conditions`.
pub fn cleared(conditions: &[Value]) -> Option<Vec<Value>> {
    conditions
        .iter()
        .any(is_ours)
        .then(|| conditions.iter().filter(|c| !is_ours(c)).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_must_be_present_non_empty_and_match_the_template() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: None,
        };
        assert_eq!(
            selector_problem(Some(&sel), Some(&labels(&[("app", "web")]))),
            None
        );
        assert!(
            selector_problem(Some(&sel), Some(&labels(&[("app", "db")])))
                .is_some_and(|m| m.contains("does not match"))
        );
        assert!(selector_problem(None, None).is_some());
        assert!(
            selector_problem(Some(&LabelSelector::default()), None)
                .is_some_and(|m| m.contains("empty selector"))
        );
    }

    #[test]
    fn a_problem_is_reported_once_and_cleared_when_fixed() {
        let meta = ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            generation: Some(2),
            ..ObjectMeta::default()
        };
        let now = Timestamp::UNIX_EPOCH;
        let mut out = Reconcile::default();
        let others = vec![json!({"type": "Available", "status": "True"})];
        report(
            &mut out,
            Target::STATEFULSETS,
            "apps/v1",
            "StatefulSet",
            &meta,
            &others,
            "bad",
            now,
        );
        assert!(
            matches!(&out.actions[0], Action::Event { event_type: EventType::Warning, reason, .. } if reason == REASON)
        );
        let Some(Action::PatchStatus { status, .. }) = out.actions.get(1) else {
            panic!("a status patch: {:?}", out.actions);
        };
        let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
        assert_eq!(conditions.len(), 2, "other conditions stay");
        // Already reported: nothing more.
        let mut again = Reconcile::default();
        report(
            &mut again,
            Target::STATEFULSETS,
            "apps/v1",
            "StatefulSet",
            &meta,
            &conditions,
            "bad",
            now,
        );
        assert!(again.actions.is_empty());
        assert_eq!(cleared(&conditions), Some(others.clone()));
        assert_eq!(cleared(&others), None);
    }
}
