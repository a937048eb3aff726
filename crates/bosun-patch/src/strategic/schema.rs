//! The patch tags of the built-in kinds: which list fields merge, and by what key.
//!
//! Kubernetes reads these from the `patchStrategy` / `patchMergeKey` struct tags of the Go
//! types in `k8s.io/api` and `k8s.io/apimachinery` (`ObjectMeta`). This table writes the same
//! facts down by JSON path. A list field that is not in the table is replaced by the patch;
//! so is every list of a kind that is not built in (custom resources), which upstream refuses
//! to strategic-merge at all.

/// How a list field merges in a strategic merge patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch's list replaces the whole list (no `patchStrategy` tag, or an unknown kind).
    Replace,
    /// Elements are objects merged element-wise by the value of this key
    /// (`patchStrategy:"merge" patchMergeKey:"<key>"`).
    MergeKey(&'static str),
    /// Elements are primitives merged as a set (`patchStrategy:"merge"` without a key), like
    /// `metadata.finalizers`.
    Set,
}

/// Where the `PodSpec` sits in each built-in kind that carries one.
fn pod_spec_root(api_version: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (api_version, kind) {
        ("v1", "Pod") => Some(&["spec"]),
        ("v1", "PodTemplate") => Some(&["template", "spec"]),
        ("v1", "ReplicationController")
        | ("apps/v1", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch/v1", "Job") => Some(&["spec", "template", "spec"]),
        ("batch/v1", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// Whether `api_version` belongs to a group Kubernetes itself serves: the core group, the
/// unsuffixed groups (`apps`, `batch`, `autoscaling`, `policy`) and the `*.k8s.io` groups.
pub(crate) fn is_built_in(api_version: &str) -> bool {
    match api_version.split_once('/') {
        None => api_version == "v1",
        Some((group, _)) => {
            matches!(group, "apps" | "batch" | "autoscaling" | "policy")
                || group.ends_with(".k8s.io")
        }
    }
}

/// The rest of `path` after `prefix`, if it starts with it.
fn under<'p, 'a>(path: &'p [&'a str], prefix: &[&str]) -> Option<&'p [&'a str]> {
    let rest = path.get(prefix.len()..)?;
    path.iter().zip(prefix).all(|(a, b)| a == b).then_some(rest)
}

/// Lists of `ObjectMeta`, wherever an object's or a template's metadata sits.
fn object_meta_list(rest: &[&str]) -> Option<ListStrategy> {
    match rest {
        ["ownerReferences"] => Some(ListStrategy::MergeKey("uid")),
        ["finalizers"] => Some(ListStrategy::Set),
        _ => None,
    }
}

/// Lists of a `PodSpec`, relative to it.
fn pod_spec_list(rest: &[&str]) -> ListStrategy {
    use ListStrategy::*;
    const CONTAINERS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
    match rest {
        [list] => match *list {
            l if CONTAINERS.contains(&l) => MergeKey("name"),
            "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims" => {
                MergeKey("name")
            }
            "hostAliases" => MergeKey("ip"),
            "topologySpreadConstraints" => MergeKey("topologyKey"),
            _ => Replace,
        },
        [container, list] if CONTAINERS.contains(container) => match *list {
            "ports" => MergeKey("containerPort"),
            "env" => MergeKey("name"),
            "volumeMounts" => MergeKey("mountPath"),
            "volumeDevices" => MergeKey("devicePath"),
            _ => Replace,
        },
        _ => Replace,
    }
}

/// The merge strategy of the list field at `path` (field names from the object's root, no
/// list indices) in an object of `kind` in `api_version`.
///
/// ```
/// use bosun_patch::{ListStrategy, list_strategy};
/// let containers = ["spec", "template", "spec", "containers"];
/// assert_eq!(list_strategy("apps/v1", "Deployment", &containers), ListStrategy::MergeKey("name"));
/// assert_eq!(list_strategy("v1", "Pod", &["metadata", "finalizers"]), ListStrategy::Set);
/// assert_eq!(list_strategy("v1", "Node", &["spec", "taints"]), ListStrategy::Replace);
/// ```
pub fn list_strategy(api_version: &str, kind: &str, path: &[&str]) -> ListStrategy {
    use ListStrategy::*;
    if !is_built_in(api_version) {
        return Replace;
    }
    if let Some(strategy) = under(path, &["metadata"]).and_then(object_meta_list) {
        return strategy;
    }
    if let Some(root) = pod_spec_root(api_version, kind) {
        if let Some(rest) = under(path, root) {
            return pod_spec_list(rest);
        }
        // The template's own metadata (`.spec.template.metadata`, and the CronJob's
        // `.spec.jobTemplate.metadata`) is an ObjectMeta too.
        let template = &root[..root.len() - 1];
        if let Some(strategy) = under(path, template)
            .and_then(|rest| under(rest, &["metadata"]))
            .and_then(object_meta_list)
        {
            return strategy;
        }
        if kind == "CronJob"
            && let Some(strategy) =
                under(path, &["spec", "jobTemplate", "metadata"]).and_then(object_meta_list)
        {
            return strategy;
        }
    }
    let group = api_version.split_once('/').map_or("", |(group, _)| group);
    match (group, kind, path) {
        // Conditions keyed by type, where the status type tags them.
        (
            "",
            "Pod"
            | "Node"
            | "Namespace"
            | "PersistentVolumeClaim"
            | "ReplicationController"
            | "Service",
            ["status", "conditions"],
        )
        | ("", "ComponentStatus", ["conditions"])
        | (
            "apps",
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet",
            ["status", "conditions"],
        )
        | ("batch", "Job", ["status", "conditions"])
        | ("policy", "PodDisruptionBudget", ["status", "conditions"])
        | (
            "flowcontrol.apiserver.k8s.io",
            "FlowSchema" | "PriorityLevelConfiguration",
            ["status", "conditions"],
        )
        | ("networking.k8s.io", "ServiceCIDR", ["status", "conditions"])
        | ("storagemigration.k8s.io", "StorageVersionMigration", ["status", "conditions"])
        | ("resource.k8s.io", "DeviceTaintRule", ["status", "conditions"]) => MergeKey("type"),
        // autoscaling/v1 has no conditions field; v2 tags it.
        ("autoscaling", "HorizontalPodAutoscaler", ["status", "conditions"])
            if api_version == "autoscaling/v2" =>
        {
            MergeKey("type")
        }
        ("", "Pod", ["status", "podIPs" | "hostIPs"]) => MergeKey("ip"),
        ("", "Pod", ["status", "resourceClaimStatuses"]) => MergeKey("name"),
        ("", "Node", ["status", "addresses"]) => MergeKey("type"),
        ("", "Node", ["spec", "podCIDRs"]) => Set,
        ("", "Service", ["spec", "ports"]) => MergeKey("port"),
        ("", "ServiceAccount", ["secrets"]) => MergeKey("name"),
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
            ["webhooks"] | ["webhooks", "matchConditions"],
        )
        | (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicy",
            ["spec", "matchConditions" | "variables"],
        )
        | (
            "admissionregistration.k8s.io",
            "MutatingAdmissionPolicy",
            ["spec", "matchConditions"],
        )
        | ("storage.k8s.io", "CSINode", ["spec", "drivers"]) => MergeKey("name"),
        ("resource.k8s.io", "ResourceClaim", ["status", "reservedFor"]) => MergeKey("uid"),
        _ => Replace,
    }
}

/// Whether the map field at `path` is replaced whole rather than merged
/// (`patchStrategy:"replace"` on a struct field).
pub(crate) fn map_is_replaced(api_version: &str, kind: &str, path: &[&str]) -> bool {
    api_version == "policy/v1" && kind == "PodDisruptionBudget" && path == ["spec", "selector"]
}

/// Whether a list merged by `merge_key` also tells its elements apart by `protocol`
/// (container ports and service ports, whose list-map keys upstream are the port and the
/// protocol: 53/UDP and 53/TCP are two ports).
pub(crate) fn keys_by_protocol(merge_key: &str) -> bool {
    matches!(merge_key, "containerPort" | "port")
}

#[cfg(test)]
mod tests {
    use super::ListStrategy::*;
    use super::*;

    #[test]
    fn pod_spec_lists_merge_wherever_a_pod_spec_sits() {
        let holders: [(&str, &str, &[&str]); 8] = [
            ("v1", "Pod", &["spec"]),
            ("v1", "PodTemplate", &["template", "spec"]),
            ("v1", "ReplicationController", &["spec", "template", "spec"]),
            ("apps/v1", "Deployment", &["spec", "template", "spec"]),
            ("apps/v1", "ReplicaSet", &["spec", "template", "spec"]),
            ("apps/v1", "StatefulSet", &["spec", "template", "spec"]),
            ("apps/v1", "DaemonSet", &["spec", "template", "spec"]),
            ("batch/v1", "Job", &["spec", "template", "spec"]),
        ];
        let cron: (&str, &str, &[&str]) = (
            "batch/v1",
            "CronJob",
            &["spec", "jobTemplate", "spec", "template", "spec"],
        );
        for (api_version, kind, root) in holders.into_iter().chain([cron]) {
            let at = |rest: &[&str]| {
                let path: Vec<&str> = root.iter().chain(rest).copied().collect();
                list_strategy(api_version, kind, &path)
            };
            assert_eq!(at(&["containers"]), MergeKey("name"), "{kind}");
            assert_eq!(at(&["initContainers"]), MergeKey("name"), "{kind}");
            assert_eq!(at(&["ephemeralContainers"]), MergeKey("name"), "{kind}");
            assert_eq!(at(&["volumes"]), MergeKey("name"), "{kind}");
            assert_eq!(at(&["imagePullSecrets"]), MergeKey("name"), "{kind}");
            assert_eq!(at(&["schedulingGates"]), MergeKey("name"), "{kind}");
            assert_eq!(at(&["resourceClaims"]), MergeKey("name"), "{kind}");
            assert_eq!(at(&["hostAliases"]), MergeKey("ip"), "{kind}");
            assert_eq!(
                at(&["topologySpreadConstraints"]),
                MergeKey("topologyKey"),
                "{kind}"
            );
            assert_eq!(at(&["tolerations"]), Replace, "{kind}");
            assert_eq!(at(&["readinessGates"]), Replace, "{kind}");
            for c in ["containers", "initContainers", "ephemeralContainers"] {
                assert_eq!(at(&[c, "ports"]), MergeKey("containerPort"), "{kind}");
                assert_eq!(at(&[c, "env"]), MergeKey("name"), "{kind}");
                assert_eq!(at(&[c, "volumeMounts"]), MergeKey("mountPath"), "{kind}");
                assert_eq!(at(&[c, "volumeDevices"]), MergeKey("devicePath"), "{kind}");
                assert_eq!(at(&[c, "envFrom"]), Replace, "{kind}");
                assert_eq!(at(&[c, "args"]), Replace, "{kind}");
                assert_eq!(at(&[c, "resizePolicy"]), Replace, "{kind}");
            }
        }
    }

    #[test]
    fn object_meta_lists_merge_at_the_root_and_in_templates() {
        for (api_version, kind) in [
            ("v1", "ConfigMap"),
            ("v1", "Pod"),
            ("apps/v1", "Deployment"),
            ("rbac.authorization.k8s.io/v1", "Role"),
        ] {
            assert_eq!(
                list_strategy(api_version, kind, &["metadata", "finalizers"]),
                Set
            );
            assert_eq!(
                list_strategy(api_version, kind, &["metadata", "ownerReferences"]),
                MergeKey("uid")
            );
            assert_eq!(
                list_strategy(api_version, kind, &["metadata", "managedFields"]),
                Replace
            );
        }
        assert_eq!(
            list_strategy(
                "apps/v1",
                "Deployment",
                &["spec", "template", "metadata", "finalizers"]
            ),
            Set
        );
        assert_eq!(
            list_strategy(
                "batch/v1",
                "CronJob",
                &["spec", "jobTemplate", "metadata", "ownerReferences"]
            ),
            MergeKey("uid")
        );
        assert_eq!(
            list_strategy(
                "batch/v1",
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "metadata",
                    "finalizers"
                ]
            ),
            Set
        );
    }

    #[test]
    fn status_conditions_merge_by_type_where_upstream_tags_them() {
        for (api_version, kind) in [
            ("v1", "Pod"),
            ("v1", "Node"),
            ("v1", "Namespace"),
            ("v1", "Service"),
            ("v1", "PersistentVolumeClaim"),
            ("v1", "ReplicationController"),
            ("apps/v1", "Deployment"),
            ("apps/v1", "ReplicaSet"),
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "DaemonSet"),
            ("batch/v1", "Job"),
            ("policy/v1", "PodDisruptionBudget"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ] {
            assert_eq!(
                list_strategy(api_version, kind, &["status", "conditions"]),
                MergeKey("type"),
                "{api_version} {kind}"
            );
        }
        assert_eq!(
            list_strategy("v1", "ComponentStatus", &["conditions"]),
            MergeKey("type")
        );
        // Untagged upstream.
        assert_eq!(
            list_strategy(
                "certificates.k8s.io/v1",
                "CertificateSigningRequest",
                &["status", "conditions"]
            ),
            Replace
        );
        assert_eq!(
            list_strategy("batch/v1", "CronJob", &["status", "active"]),
            Replace
        );
    }

    #[test]
    fn other_tagged_lists_of_the_built_in_kinds() {
        assert_eq!(
            list_strategy("v1", "Service", &["spec", "ports"]),
            MergeKey("port")
        );
        assert_eq!(
            list_strategy("v1", "Node", &["status", "addresses"]),
            MergeKey("type")
        );
        assert_eq!(list_strategy("v1", "Node", &["spec", "podCIDRs"]), Set);
        assert_eq!(list_strategy("v1", "Node", &["spec", "taints"]), Replace);
        assert_eq!(
            list_strategy("v1", "Pod", &["status", "podIPs"]),
            MergeKey("ip")
        );
        assert_eq!(
            list_strategy("v1", "Pod", &["status", "containerStatuses"]),
            Replace
        );
        assert_eq!(
            list_strategy("v1", "ServiceAccount", &["secrets"]),
            MergeKey("name")
        );
        assert_eq!(
            list_strategy("v1", "ServiceAccount", &["imagePullSecrets"]),
            Replace
        );
        assert_eq!(list_strategy("v1", "Endpoints", &["subsets"]), Replace);
        assert_eq!(
            list_strategy(
                "admissionregistration.k8s.io/v1",
                "MutatingWebhookConfiguration",
                &["webhooks"]
            ),
            MergeKey("name")
        );
        assert_eq!(
            list_strategy("storage.k8s.io/v1", "CSINode", &["spec", "drivers"]),
            MergeKey("name")
        );
        assert_eq!(
            list_strategy(
                "autoscaling/v1",
                "HorizontalPodAutoscaler",
                &["status", "conditions"]
            ),
            Replace
        );
        assert!(map_is_replaced(
            "policy/v1",
            "PodDisruptionBudget",
            &["spec", "selector"]
        ));
        assert!(!map_is_replaced(
            "apps/v1",
            "Deployment",
            &["spec", "selector"]
        ));
    }

    #[test]
    fn unknown_kinds_replace_every_list() {
        assert!(!is_built_in("example.com/v1"));
        assert!(is_built_in("networking.k8s.io/v1"));
        assert!(is_built_in("apps/v1"));
        assert!(is_built_in("v1"));
        for path in [
            &["metadata", "finalizers"][..],
            &["spec", "template", "spec", "containers"],
            &["status", "conditions"],
        ] {
            assert_eq!(list_strategy("example.com/v1", "Deployment", path), Replace);
        }
        // A kind the table does not know in a built-in group still has ObjectMeta.
        assert_eq!(
            list_strategy("apps/v1", "Unheard", &["metadata", "finalizers"]),
            Set
        );
        assert_eq!(
            list_strategy(
                "apps/v1",
                "Unheard",
                &["spec", "template", "spec", "containers"]
            ),
            Replace
        );
    }
}
