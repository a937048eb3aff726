//! Priority admission, as Kubernetes' `Priority` admission plugin does it on pod CREATE: a pod
//! naming a `scheduling.k8s.io/v1` PriorityClass gets that class's value in `spec.priority`
//! and its `spec.preemptionPolicy`; a pod naming none gets the `globalDefault` class (the
//! lowest-valued one if several claim it), else priority 0. A class that does not exist, or a
//! pod that sets its own priority or preemption policy differently from its class, is
//! Forbidden. The built-in `system-cluster-critical` and `system-node-critical` are known
//! without objects, and created as objects when the API server starts.
//!
//! [`admit_pod`] is the decision, pure; [`admit`] gathers the classes (from the watch cache,
//! the store when the cache lags) and calls it.

use crate::registry;
use crate::state::AppState;
use bosun_api::{ApiError, Cause, ResourceInfo, resources};
use bosun_store::{Consistency, RangeRequest};
use serde_json::{Value, json};
use std::time::Duration;

/// `system-cluster-critical`'s value.
pub const SYSTEM_CLUSTER_CRITICAL: i32 = 2_000_000_000;
/// `system-node-critical`'s value.
pub const SYSTEM_NODE_CRITICAL: i32 = 2_000_001_000;
/// A class's preemption policy when it sets none.
pub const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";

/// What admission needs of a PriorityClass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityClass {
    pub name: String,
    pub value: i32,
    pub global_default: bool,
    pub preemption_policy: String,
}

impl PriorityClass {
    /// Read a stored PriorityClass object (`None` when it has no name or value).
    pub fn from_object(obj: &Value) -> Option<Self> {
        let name = obj.pointer("/metadata/name")?.as_str()?.to_string();
        let value = i32::try_from(obj.get("value")?.as_i64()?).ok()?;
        Some(Self {
            name,
            value,
            global_default: obj
                .get("globalDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            preemption_policy: obj
                .get("preemptionPolicy")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .unwrap_or(PREEMPT_LOWER_PRIORITY)
                .to_string(),
        })
    }

    fn system(name: &str, value: i32) -> Self {
        Self {
            name: name.into(),
            value,
            global_default: false,
            preemption_policy: PREEMPT_LOWER_PRIORITY.into(),
        }
    }
}

/// The classes every cluster has.
pub fn system_classes() -> [PriorityClass; 2] {
    [
        PriorityClass::system("system-cluster-critical", SYSTEM_CLUSTER_CRITICAL),
        PriorityClass::system("system-node-critical", SYSTEM_NODE_CRITICAL),
    ]
}

/// The class name a pod asks for, if any.
pub fn class_name(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

fn forbidden(pod: &Value, why: &str) -> ApiError {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    ApiError::forbidden(&format!("pods \"{name}\" is forbidden: {why}"))
}

/// Set `spec.priority` (and `spec.preemptionPolicy`, and `spec.priorityClassName` from a
/// global default) on a pod being created, given the stored classes (the system classes are
/// added when absent).
pub fn admit_pod(pod: &mut Value, stored: &[PriorityClass]) -> Result<(), ApiError> {
    let system = system_classes();
    let find = |name: &str| {
        stored
            .iter()
            .find(|c| c.name == name)
            .or_else(|| system.iter().find(|c| c.name == name))
    };
    let (class_name, priority, policy) = match class_name(pod) {
        Some(name) => match find(name) {
            Some(c) => (c.name.clone(), c.value, c.preemption_policy.clone()),
            None => {
                return Err(forbidden(
                    pod,
                    &format!("no PriorityClass with name {name} was found"),
                ));
            }
        },
        None => match stored
            .iter()
            .filter(|c| c.global_default)
            .min_by_key(|c| c.value)
        {
            Some(c) => (c.name.clone(), c.value, c.preemption_policy.clone()),
            None => (String::new(), 0, PREEMPT_LOWER_PRIORITY.to_string()),
        },
    };
    if let Some(given) = pod.pointer("/spec/priority").filter(|v| !v.is_null())
        && given.as_i64() != Some(i64::from(priority))
    {
        return Err(forbidden(
            pod,
            &format!(
                "the integer value of priority ({given}) must not be provided in pod spec; \
                 priority admission controller computed {priority} from the given \
                 PriorityClass name"
            ),
        ));
    }
    if let Some(given) = pod
        .pointer("/spec/preemptionPolicy")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        && given != policy
    {
        return Err(forbidden(
            pod,
            &format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod \
                 spec; priority admission controller computed {policy} from the given \
                 PriorityClass name"
            ),
        ));
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Err(ApiError::bad_request("a pod needs a spec"));
    };
    if !class_name.is_empty() {
        spec.insert("priorityClassName".into(), json!(class_name));
    }
    spec.insert("priority".into(), json!(priority));
    spec.insert("preemptionPolicy".into(), json!(policy));
    Ok(())
}

/// Create the system classes as objects when they are absent, as Kubernetes' API server
/// does at start, so that `kubectl get priorityclasses` lists them.
pub async fn ensure_system_classes(store: &dyn bosun_store::Store) -> Result<(), ApiError> {
    let res = classes_resource()?;
    for (class, description) in system_classes().into_iter().zip([
        "Used for system critical pods that must run in the cluster, but can be moved to \
         another node if necessary.",
        "Used for system critical pods that must not be moved from their current node.",
    ]) {
        match registry::get(store, res, None, &class.name).await {
            Ok(_) => continue,
            Err(e) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
        let mut obj = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": class.name},
            "value": class.value,
            "description": description,
            "preemptionPolicy": class.preemption_policy,
        });
        crate::object::prepare_create(&mut obj)?;
        crate::defaults::apply(res, &mut obj);
        match registry::create(store, res, None, &class.name, &obj).await {
            Ok(_) => {}
            Err(e) if e.code() == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The highest value a class outside the system ones may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;

/// Checks on a PriorityClass being created, as Kubernetes' validation and Priority admission
/// do: `system-` names are reserved for the system classes (with their values), other
/// classes are at most [`HIGHEST_USER_DEFINABLE_PRIORITY`], and only one class may be the
/// global default.
pub fn admit_class(
    res: &ResourceInfo,
    class: &Value,
    stored: &[PriorityClass],
) -> Result<(), ApiError> {
    let name = class
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = class.get("value").and_then(Value::as_i64);
    let global_default = class
        .get("globalDefault")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if name.starts_with("system-") {
        let known = system_classes()
            .into_iter()
            .find(|c| c.name == name)
            .is_some_and(|c| value == Some(i64::from(c.value)) && !global_default);
        if !known {
            return Err(ApiError::invalid(
                res,
                name,
                vec![Cause::forbidden(
                    "metadata.name",
                    "priority class names with 'system-' prefix are reserved for system use only",
                )],
            ));
        }
    } else if let Some(v) = value.filter(|v| *v > HIGHEST_USER_DEFINABLE_PRIORITY) {
        return Err(ApiError::invalid(
            res,
            name,
            vec![Cause::forbidden(
                "value",
                &format!(
                    "maximum allowed value of a user defined priority is \
                     {HIGHEST_USER_DEFINABLE_PRIORITY} (got {v})"
                ),
            )],
        ));
    }
    if global_default
        && let Some(other) = stored.iter().find(|c| c.global_default && c.name != name)
    {
        return Err(ApiError::forbidden(&format!(
            "priorityclasses.scheduling.k8s.io \"{name}\" is forbidden: PriorityClass {} is \
             already marked as default. Only one default can exist",
            other.name
        )));
    }
    Ok(())
}

/// How long a pod create waits for the PriorityClass cache to load.
const CACHE_WAIT: Duration = Duration::from_secs(5);

fn classes_resource() -> Result<&'static ResourceInfo, ApiError> {
    resources::find("scheduling.k8s.io", "v1", "priorityclasses")
        .ok_or_else(|| ApiError::internal("no priorityclasses resource"))
}

/// The stored PriorityClasses: from the watch cache, else read from the store.
async fn stored_classes(state: &AppState) -> Result<Vec<PriorityClass>, ApiError> {
    let res = classes_resource()?;
    let prefix = registry::prefix(res, None);
    let cache = state.watch_caches().get(res);
    if cache.wait_ready(CACHE_WAIT).await
        && let Ok(listed) = cache.list(&prefix)
    {
        return Ok(listed
            .objects
            .iter()
            .filter_map(|o| PriorityClass::from_object(&o.value()))
            .collect());
    }
    let listed = state
        .store()
        .range(RangeRequest {
            consistency: Consistency::Linearizable,
            ..RangeRequest::prefix(prefix.into_bytes())
        })
        .await
        .map_err(|e| registry::store_error(res, "", e))?;
    Ok(listed
        .kvs
        .iter()
        .filter_map(|kv| crate::object::decode_stored(&kv.value, kv.mod_revision).ok())
        .filter_map(|o| PriorityClass::from_object(&o))
        .collect())
}

/// The admission hook of CREATE: pods get their priority, PriorityClasses are checked (a
/// no-op for other resources).
pub async fn admit(state: &AppState, res: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    match (res.group, res.kind) {
        ("", "Pod") => {}
        ("scheduling.k8s.io", "PriorityClass") => {
            return admit_class(res, obj, &stored_classes(state).await?);
        }
        _ => return Ok(()),
    }
    let mut classes = stored_classes(state).await?;
    // A class created just before the pod may not have reached the cache yet.
    if let Some(name) = class_name(obj)
        && !classes.iter().any(|c| c.name == name)
        && !system_classes().iter().any(|c| c.name == name)
    {
        match registry::get(state.store(), classes_resource()?, None, name).await {
            Ok(found) => classes.extend(PriorityClass::from_object(&found.object)),
            Err(e) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
    }
    admit_pod(obj, &classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i32, default: bool, policy: &str) -> PriorityClass {
        PriorityClass {
            name: name.into(),
            value,
            global_default: default,
            preemption_policy: policy.into(),
        }
    }

    fn pod(spec: Value) -> Value {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c", "image": "i"}]);
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    fn message(e: &ApiError) -> String {
        e.to_string()
    }

    #[test]
    fn a_named_class_sets_priority_and_preemption_policy() {
        let classes = [
            class("high", 1000, false, "Never"),
            class("low", 10, false, PREEMPT_LOWER_PRIORITY),
        ];
        let mut p = pod(json!({"priorityClassName": "high"}));
        admit_pod(&mut p, &classes).expect("admitted");
        assert_eq!(p["spec"]["priority"], 1000);
        assert_eq!(p["spec"]["preemptionPolicy"], "Never");
        assert_eq!(p["spec"]["priorityClassName"], "high");
    }

    #[test]
    fn a_missing_class_is_forbidden_in_kubernetes_words() {
        let mut p = pod(json!({"priorityClassName": "nope"}));
        let e = admit_pod(&mut p, &[]).expect_err("refused");
        assert_eq!(e.code(), 403);
        assert_eq!(
            message(&e),
            "pods \"p\" is forbidden: no PriorityClass with name nope was found"
        );
        assert!(p["spec"].get("priority").is_none(), "pod left untouched");
    }

    #[test]
    fn no_class_gets_the_lowest_global_default_else_zero() {
        let mut p = pod(json!({}));
        admit_pod(&mut p, &[class("x", 5, false, PREEMPT_LOWER_PRIORITY)]).expect("admitted");
        assert_eq!(p["spec"]["priority"], 0);
        assert_eq!(p["spec"]["preemptionPolicy"], PREEMPT_LOWER_PRIORITY);
        assert!(p["spec"].get("priorityClassName").is_none());

        let classes = [
            class("d2", 300, true, PREEMPT_LOWER_PRIORITY),
            class("d1", 200, true, "Never"),
            class("other", 100, false, PREEMPT_LOWER_PRIORITY),
        ];
        let mut p = pod(json!({}));
        admit_pod(&mut p, &classes).expect("admitted");
        assert_eq!(p["spec"]["priority"], 200);
        assert_eq!(p["spec"]["priorityClassName"], "d1");
        assert_eq!(p["spec"]["preemptionPolicy"], "Never");
    }

    #[test]
    fn system_classes_are_known_without_objects_and_stored_ones_win() {
        let mut p = pod(json!({"priorityClassName": "system-node-critical"}));
        admit_pod(&mut p, &[]).expect("admitted");
        assert_eq!(p["spec"]["priority"], SYSTEM_NODE_CRITICAL);
        let mut p = pod(json!({"priorityClassName": "system-cluster-critical"}));
        admit_pod(&mut p, &[]).expect("admitted");
        assert_eq!(p["spec"]["priority"], SYSTEM_CLUSTER_CRITICAL);
        let stored = [class(
            "system-cluster-critical",
            SYSTEM_CLUSTER_CRITICAL,
            false,
            "Never",
        )];
        let mut p = pod(json!({"priorityClassName": "system-cluster-critical"}));
        admit_pod(&mut p, &stored).expect("admitted");
        assert_eq!(p["spec"]["preemptionPolicy"], "Never");
    }

    #[test]
    fn a_pod_priority_that_disagrees_with_its_class_is_forbidden() {
        let classes = [class("high", 1000, false, PREEMPT_LOWER_PRIORITY)];
        let mut p = pod(json!({"priorityClassName": "high", "priority": 7}));
        let e = admit_pod(&mut p, &classes).expect_err("refused");
        assert_eq!(e.code(), 403);
        assert!(
            message(&e).contains("the integer value of priority (7) must not be provided"),
            "{e}"
        );
        // Agreeing is fine (a pod created again from its own YAML).
        let mut p = pod(json!({"priorityClassName": "high", "priority": 1000}));
        admit_pod(&mut p, &classes).expect("admitted");
        // No class: only 0 agrees.
        let mut p = pod(json!({"priority": 5}));
        assert_eq!(admit_pod(&mut p, &[]).map_err(|e| e.code()), Err(403));
        let mut p = pod(json!({"priority": 0}));
        admit_pod(&mut p, &[]).expect("admitted");
    }

    #[test]
    fn a_pod_preemption_policy_that_disagrees_with_its_class_is_forbidden() {
        let classes = [class("high", 1000, false, PREEMPT_LOWER_PRIORITY)];
        let mut p = pod(json!({"priorityClassName": "high", "preemptionPolicy": "Never"}));
        let e = admit_pod(&mut p, &classes).expect_err("refused");
        assert!(
            message(&e).contains("PreemptionPolicy (Never) must not be provided"),
            "{e}"
        );
    }

    #[test]
    fn classes_keep_system_names_user_values_and_one_default() {
        let res = classes_resource().expect("resource");
        let pc = |name: &str, value: i64, default: bool| json!({"metadata": {"name": name}, "value": value, "globalDefault": default});
        admit_class(res, &pc("ok", HIGHEST_USER_DEFINABLE_PRIORITY, false), &[]).expect("ok");
        let e = admit_class(
            res,
            &pc("big", HIGHEST_USER_DEFINABLE_PRIORITY + 1, false),
            &[],
        )
        .expect_err("too big");
        assert_eq!(e.code(), 422);
        assert!(message(&e).contains("maximum allowed value"), "{e}");
        let e = admit_class(res, &pc("system-mine", 5, false), &[]).expect_err("reserved");
        assert_eq!(e.code(), 422);
        assert!(message(&e).contains("'system-' prefix are reserved"), "{e}");
        admit_class(
            res,
            &pc(
                "system-node-critical",
                i64::from(SYSTEM_NODE_CRITICAL),
                false,
            ),
            &[],
        )
        .expect("the system class itself");
        let stored = [class("first", 1, true, PREEMPT_LOWER_PRIORITY)];
        let e = admit_class(res, &pc("second", 2, true), &stored).expect_err("two defaults");
        assert_eq!(e.code(), 403);
        assert!(
            message(&e).contains("PriorityClass first is already marked as default"),
            "{e}"
        );
        admit_class(res, &pc("second", 2, false), &stored).expect("not a default");
    }

    #[test]
    fn stored_objects_are_read_with_kubernetes_defaults() {
        let c = PriorityClass::from_object(&json!({
            "metadata": {"name": "c"}, "value": 42, "globalDefault": true
        }))
        .expect("class");
        assert_eq!(c, class("c", 42, true, PREEMPT_LOWER_PRIORITY));
        assert!(PriorityClass::from_object(&json!({"metadata": {"name": "c"}})).is_none());
        assert!(
            PriorityClass::from_object(&json!({"metadata": {"name": "c"}, "value": 1i64 << 40}))
                .is_none()
        );
    }
}
