//! The resources bosun serves, as data, and the legacy discovery documents built from them
//! (`/api`, `/apis`, `/apis/<group>`, `/api/v1`, `/apis/<group>/<version>`).
//!
//! Adding a resource is one [`res`] line in `RESOURCES`: its names, scope, the short names and
//! categories `kubectl api-resources` shows on a real cluster, and its subresources.

use serde_json::{Value, json};

/// A subresource (`deployments/scale`) and the group, version and kind it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subresource {
    /// `status`, `scale`, `log`, ...
    pub name: &'static str,
    /// The group of the kind the subresource speaks (`autoscaling` for `scale`).
    pub group: &'static str,
    /// The version of that kind.
    pub version: &'static str,
    /// The kind (`Scale`, `Binding`, or the parent's kind for `status`).
    pub kind: &'static str,
    /// The verbs served on it.
    pub verbs: &'static [&'static str],
}

/// One served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// `deployments`
    pub plural: &'static str,
    /// `deployment`
    pub singular: &'static str,
    /// `Deployment`
    pub kind: &'static str,
    pub namespaced: bool,
    /// `deploy`
    pub short_names: &'static [&'static str],
    /// `all`
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Whether `.status` is written only through the status subresource.
    pub has_status: bool,
    /// The verbs served: every verb for stored resources, `get` and `list` for the read-only
    /// ones computed on request (metrics.k8s.io).
    pub verbs: &'static [&'static str],
}

/// The verbs of every resource, in discovery's order.
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// The verbs of a resource computed on request rather than stored.
const READ_ONLY: &[&str] = &["get", "list"];
const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

const fn sub(
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        group,
        version,
        kind,
        verbs,
    }
}

/// The `status` subresource of a kind.
const fn status(group: &'static str, version: &'static str, kind: &'static str) -> Subresource {
    sub("status", group, version, kind, GET_PATCH_UPDATE)
}

/// The `scale` subresource, which speaks `autoscaling/v1` `Scale`.
const SCALE: Subresource = sub("scale", "autoscaling", "v1", "Scale", GET_PATCH_UPDATE);

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn has_subresource(subs: &[Subresource], name: &str) -> bool {
    let mut i = 0;
    while i < subs.len() {
        if same(subs[i].name, name) {
            return true;
        }
        i += 1;
    }
    false
}

/// One row of the table; `has_status` follows from a `status` subresource.
#[allow(clippy::too_many_arguments)]
const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [Subresource],
) -> ResourceInfo {
    ResourceInfo {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        categories,
        subresources,
        has_status: has_subresource(subresources, "status"),
        verbs: VERBS,
    }
}

/// A read-only row: served by a handler of its own, never stored.
const fn computed(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceInfo {
    ResourceInfo {
        verbs: READ_ONLY,
        ..res(
            group,
            version,
            plural,
            singular,
            kind,
            namespaced,
            NONE,
            NONE,
            &[],
        )
    }
}

/// Every served resource: groups in the order a real cluster lists them, resources and
/// subresources by name within a group version.
#[rustfmt::skip]
static RESOURCES: &[ResourceInfo] = &[
    // core/v1
    res("", "v1", "configmaps", "configmap", "ConfigMap", true, &["cm"], NONE, &[]),
    res("", "v1", "endpoints", "endpoints", "Endpoints", true, &["ep"], NONE, &[]),
    res("", "v1", "events", "event", "Event", true, &["ev"], NONE, &[]),
    res("", "v1", "namespaces", "namespace", "Namespace", false, &["ns"], NONE, &[
        sub("finalize", "", "v1", "Namespace", &["update"]),
        status("", "v1", "Namespace"),
    ]),
    res("", "v1", "nodes", "node", "Node", false, &["no"], NONE, &[status("", "v1", "Node")]),
    res("", "v1", "pods", "pod", "Pod", true, &["po"], ALL, &[
        sub("binding", "", "v1", "Binding", &["create"]),
        sub("eviction", "policy", "v1", "Eviction", &["create"]),
        sub("log", "", "v1", "Pod", &["get"]),
        status("", "v1", "Pod"),
    ]),
    res("", "v1", "secrets", "secret", "Secret", true, NONE, NONE, &[]),
    res("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, &["sa"], NONE, &[]),
    res("", "v1", "services", "service", "Service", true, &["svc"], ALL, &[status("", "v1", "Service")]),
    // apps/v1
    res("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, NONE, NONE, &[]),
    res("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, &["ds"], ALL, &[status("apps", "v1", "DaemonSet")]),
    res("apps", "v1", "deployments", "deployment", "Deployment", true, &["deploy"], ALL, &[
        SCALE,
        status("apps", "v1", "Deployment"),
    ]),
    res("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, &["rs"], ALL, &[
        SCALE,
        status("apps", "v1", "ReplicaSet"),
    ]),
    res("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, &["sts"], ALL, &[
        SCALE,
        status("apps", "v1", "StatefulSet"),
    ]),
    // events.k8s.io/v1
    res("events.k8s.io", "v1", "events", "event", "Event", true, &["ev"], NONE, &[]),
    // autoscaling/v2
    res("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", true, &["hpa"], ALL, &[
        status("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ]),
    // batch/v1
    res("batch", "v1", "cronjobs", "cronjob", "CronJob", true, &["cj"], ALL, &[status("batch", "v1", "CronJob")]),
    res("batch", "v1", "jobs", "job", "Job", true, NONE, ALL, &[status("batch", "v1", "Job")]),
    // scheduling.k8s.io/v1
    res("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", false, &["pc"], NONE, &[]),
    // coordination.k8s.io/v1
    res("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, NONE, NONE, &[]),
    // discovery.k8s.io/v1
    res("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true, NONE, NONE, &[]),
    // metrics.k8s.io/v1beta1: usage the node agents report, computed on request
    computed("metrics.k8s.io", "v1beta1", "nodes", "", "NodeMetrics", false),
    computed("metrics.k8s.io", "v1beta1", "pods", "", "PodMetrics", true),
];

impl ResourceInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`, as messages name resources.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `DeploymentList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The verbs served on the resource.
    pub fn verbs(&self) -> &'static [&'static str] {
        self.verbs
    }

    /// Whether objects of the resource are computed on request (metrics.k8s.io) rather than
    /// stored.
    pub fn is_computed(&self) -> bool {
        self.verbs == READ_ONLY
    }

    /// The subresource called `name`, if served.
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }
}

/// Every served resource.
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES
}

/// By group, version and plural, as request paths name them.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// By `apiVersion` and `kind`, as objects name themselves.
pub fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// By plural, singular or short name, ignoring ASCII case (`deploy`, `Deployment`).
pub fn find_by_name(group: &str, version: &str, name: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| {
        r.group == group
            && r.version == version
            && (r.plural.eq_ignore_ascii_case(name)
                || r.singular.eq_ignore_ascii_case(name)
                || r.short_names.iter().any(|s| s.eq_ignore_ascii_case(name)))
    })
}

/// The named groups in serving order, each with its versions (preferred first).
fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) if !versions.contains(&r.version) => versions.push(r.version),
            Some(_) => {}
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

fn group_doc(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": vs, "preferredVersion": preferred})
}

/// `GET /api`: `APIVersions` with the one core version.
pub fn api_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

/// `GET /apis`: `APIGroupList` of every named group.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = groups().iter().map(|(g, vs)| group_doc(g, vs)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`: `APIGroup`, or `None` for a group bosun does not serve.
pub fn api_group(group: &str) -> Option<Value> {
    let (g, vs) = groups().into_iter().find(|(g, _)| *g == group)?;
    let mut doc = group_doc(g, &vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`: `APIResourceList` with every resource and,
/// after each, its subresources as `<plural>/<sub>` entries (with `group`/`version` where the
/// subresource speaks another group version, like `deployments/scale`).
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let matching: Vec<&ResourceInfo> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if matching.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in &matching {
        let mut entry = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": r.verbs()});
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        for s in r.subresources {
            let mut sub = json!({"name": format!("{}/{}", r.plural, s.name), "singularName": "", "namespaced": r.namespaced, "kind": s.kind, "verbs": s.verbs});
            if s.group != r.group || s.version != r.version {
                sub["group"] = json!(s.group);
                sub["version"] = json!(s.version);
            }
            resources.push(sub);
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// The media type of aggregated discovery (`apidiscovery.k8s.io/v2`), which kubectl asks for
/// first: every group version and resource of `/api` or `/apis` in one document.
pub const AGGREGATED_DISCOVERY: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery (v2).
pub fn wants_aggregated_discovery(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}

/// Aggregated discovery: `APIGroupDiscoveryList` of the core group (`/api`, `core: true`) or of
/// every named group (`/apis`), with each version's resources and subresources.
pub fn aggregated_discovery(core: bool) -> Value {
    let mut items = Vec::new();
    let groups: Vec<(&str, Vec<&str>)> = if core {
        vec![("", vec!["v1"])]
    } else {
        groups()
    };
    for (group, versions) in groups {
        let versions: Vec<Value> = versions
            .iter()
            .map(|version| {
                let resources: Vec<Value> = RESOURCES
                    .iter()
                    .filter(|r| r.group == group && r.version == *version)
                    .map(|r| {
                        let subresources: Vec<Value> = r
                            .subresources
                            .iter()
                            .map(|s| {
                                json!({"subresource": s.name,
                                    "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                                    "verbs": s.verbs})
                            })
                            .collect();
                        let mut entry = json!({
                            "resource": r.plural,
                            "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                            "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                            "singularResource": r.singular,
                            "verbs": r.verbs(),
                        });
                        if !r.short_names.is_empty() {
                            entry["shortNames"] = json!(r.short_names);
                        }
                        if !r.categories.is_empty() {
                            entry["categories"] = json!(r.categories);
                        }
                        if !subresources.is_empty() {
                            entry["subresources"] = json!(subresources);
                        }
                        entry
                    })
                    .collect();
                json!({"version": version, "resources": resources, "freshness": "Current"})
            })
            .collect();
        items.push(json!({"metadata": {"name": group}, "versions": versions}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(group: &str, version: &str, plural: &str) -> &'static ResourceInfo {
        find(group, version, plural).unwrap_or_else(|| panic!("{group}/{version} {plural}"))
    }

    fn entries(list: &Value) -> Vec<Value> {
        list["resources"].as_array().cloned().unwrap_or_default()
    }

    fn entry(list: &Value, name: &str) -> Value {
        entries(list)
            .into_iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {list}"))
    }

    /// What `kubectl api-resources` shows on a real v1.33 cluster for these resources:
    /// (group, version, plural, singular, kind, namespaced, short names, in "all").
    #[allow(clippy::type_complexity)]
    #[rustfmt::skip]
    const EXPECTED: &[(&str, &str, &str, &str, &str, bool, &[&str], bool)] = &[
        ("", "v1", "namespaces", "namespace", "Namespace", false, &["ns"], false),
        ("", "v1", "pods", "pod", "Pod", true, &["po"], true),
        ("", "v1", "nodes", "node", "Node", false, &["no"], false),
        ("", "v1", "services", "service", "Service", true, &["svc"], true),
        ("", "v1", "endpoints", "endpoints", "Endpoints", true, &["ep"], false),
        ("", "v1", "configmaps", "configmap", "ConfigMap", true, &["cm"], false),
        ("", "v1", "secrets", "secret", "Secret", true, &[], false),
        ("", "v1", "events", "event", "Event", true, &["ev"], false),
        ("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, &["sa"], false),
        ("apps", "v1", "deployments", "deployment", "Deployment", true, &["deploy"], true),
        ("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, &["rs"], true),
        ("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, &["sts"], true),
        ("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, &["ds"], true),
        ("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, &[], false),
        ("batch", "v1", "jobs", "job", "Job", true, &[], true),
        ("batch", "v1", "cronjobs", "cronjob", "CronJob", true, &["cj"], true),
        ("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, &[], false),
        ("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true, &[], false),
        ("events.k8s.io", "v1", "events", "event", "Event", true, &["ev"], false),
        ("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", true, &["hpa"], true),
        ("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", false, &["pc"], false),
    ];

    #[test]
    fn the_table_holds_what_a_real_cluster_serves() {
        // The stored resources, and the two of metrics.k8s.io (checked on their own below).
        assert_eq!(all().len(), EXPECTED.len() + 2);
        for (group, version, plural, singular, kind, namespaced, short, in_all) in EXPECTED {
            let r = get(group, version, plural);
            assert_eq!(
                (r.singular, r.kind, r.namespaced, r.short_names),
                (*singular, *kind, *namespaced, *short),
                "{plural}"
            );
            assert_eq!(r.categories.contains(&"all"), *in_all, "{plural}");
            assert_eq!(r.verbs(), VERBS);
        }
    }

    #[test]
    fn aggregated_discovery_lists_every_resource_with_upstreams_field_names() {
        let core = aggregated_discovery(true);
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
        let items = core["items"].as_array().expect("items");
        assert_eq!(items.len(), 1);
        let v1 = &items[0]["versions"][0];
        assert_eq!(
            (&v1["version"], &v1["freshness"]),
            (&json!("v1"), &json!("Current"))
        );
        let pods = v1["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["resource"] == "pods")
            .expect("pods");
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["singularResource"], "pod");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(
            pods["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        let subs: Vec<&str> = pods["subresources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["subresource"].as_str())
            .collect();
        assert!(
            subs.contains(&"log") && subs.contains(&"binding"),
            "{subs:?}"
        );

        let named = aggregated_discovery(false);
        let groups = named["items"].as_array().expect("items");
        let names: Vec<&str> = groups
            .iter()
            .filter_map(|g| g["metadata"]["name"].as_str())
            .collect();
        let legacy = api_group_list();
        let legacy_names: Vec<&str> = legacy["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["name"].as_str())
            .collect();
        assert_eq!(names, legacy_names);
        let count = |doc: &Value| -> usize {
            doc["items"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["versions"].as_array().into_iter().flatten())
                .map(|v| v["resources"].as_array().map_or(0, Vec::len))
                .sum()
        };
        assert_eq!(count(&core) + count(&named), all().len());
        let scale = groups[0]["versions"][0]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["resource"] == "deployments")
            .and_then(|d| {
                d["subresources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| s["subresource"] == "scale")
            })
            .map(|s| s["responseKind"].clone());
        assert_eq!(
            scale,
            Some(json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}))
        );
    }

    #[test]
    fn the_aggregated_media_type_is_recognised_in_kubectls_accept_header() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated_discovery(kubectl));
        assert!(!wants_aggregated_discovery("application/json"));
        assert!(!wants_aggregated_discovery(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        ));
    }

    #[test]
    fn metrics_are_read_only_and_computed() {
        let list = api_resource_list("metrics.k8s.io", "v1beta1").expect("metrics.k8s.io/v1beta1");
        let resources = list["resources"].as_array().expect("resources");
        let kinds: Vec<(&str, &str, bool)> = resources
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default(),
                    r["kind"].as_str().unwrap_or_default(),
                    r["namespaced"].as_bool().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("nodes", "NodeMetrics", false),
                ("pods", "PodMetrics", true)
            ]
        );
        for r in resources {
            assert_eq!(r["verbs"], json!(["get", "list"]));
        }
        let pods = find("metrics.k8s.io", "v1beta1", "pods").expect("pod metrics");
        assert!(pods.is_computed());
        assert!(!find("", "v1", "pods").expect("pods").is_computed());
    }

    #[test]
    fn status_subresources_set_has_status() {
        for r in all() {
            assert_eq!(
                r.has_status,
                r.subresource("status").is_some(),
                "{}",
                r.plural
            );
        }
        assert!(get("", "v1", "pods").has_status);
        assert!(!get("", "v1", "configmaps").has_status);
    }

    #[test]
    fn subresources_are_the_ones_kubectl_uses() {
        let names =
            |r: &ResourceInfo| -> Vec<&str> { r.subresources.iter().map(|s| s.name).collect() };
        assert_eq!(
            names(get("", "v1", "pods")),
            ["binding", "eviction", "log", "status"]
        );
        assert_eq!(names(get("", "v1", "nodes")), ["status"]);
        assert_eq!(names(get("", "v1", "services")), ["status"]);
        for plural in ["deployments", "replicasets", "statefulsets"] {
            assert_eq!(
                names(get("apps", "v1", plural)),
                ["scale", "status"],
                "{plural}"
            );
            let scale = get("apps", "v1", plural)
                .subresource("scale")
                .expect("scale");
            assert_eq!(
                (scale.group, scale.version, scale.kind),
                ("autoscaling", "v1", "Scale")
            );
        }
        assert_eq!(names(get("apps", "v1", "daemonsets")), ["status"]);
        assert_eq!(names(get("batch", "v1", "jobs")), ["status"]);
        assert_eq!(names(get("batch", "v1", "cronjobs")), ["status"]);
        assert_eq!(
            names(get("autoscaling", "v2", "horizontalpodautoscalers")),
            ["status"]
        );
        let eviction = get("", "v1", "pods")
            .subresource("eviction")
            .expect("eviction");
        assert_eq!(
            (eviction.group, eviction.kind, eviction.verbs),
            ("policy", "Eviction", &["create"][..])
        );
        assert!(get("", "v1", "pods").subresource("exec").is_none());
    }

    #[test]
    fn names_render_like_upstream() {
        let d = get("apps", "v1", "deployments");
        assert_eq!(
            (d.api_version(), d.group_resource(), d.list_kind()),
            (
                "apps/v1".into(),
                "deployments.apps".into(),
                "DeploymentList".into()
            )
        );
        let p = get("", "v1", "pods");
        assert_eq!(
            (p.api_version(), p.group_resource(), p.list_kind()),
            ("v1".into(), "pods".into(), "PodList".into())
        );
        let h = get("autoscaling", "v2", "horizontalpodautoscalers");
        assert_eq!(h.api_version(), "autoscaling/v2");
    }

    #[test]
    fn resources_are_found_by_path_kind_and_any_name() {
        assert_eq!(
            find("apps", "v1", "deployments").map(|r| r.kind),
            Some("Deployment")
        );
        assert!(
            find("apps", "v1", "deployment").is_none(),
            "paths use the plural"
        );
        assert!(find("apps", "v1", "widgets").is_none());
        assert!(find("apps", "v2", "deployments").is_none());
        assert!(find("", "v1", "deployments").is_none());
        assert_eq!(
            find_kind("batch/v1", "CronJob").map(|r| r.plural),
            Some("cronjobs")
        );
        assert_eq!(find_kind("v1", "Event").map(|r| r.group), Some(""));
        assert_eq!(
            find_kind("events.k8s.io/v1", "Event").map(|r| r.group),
            Some("events.k8s.io")
        );
        assert_eq!(
            find_kind("autoscaling/v2", "HorizontalPodAutoscaler").map(|r| r.short_names),
            Some(&["hpa"][..])
        );
        assert!(find_kind("apps/v1", "Pod").is_none());
        assert!(find_kind("v1", "Deployment").is_none());
        for name in [
            "deploy",
            "deployment",
            "deployments",
            "Deployment",
            "DEPLOY",
        ] {
            assert_eq!(
                find_by_name("apps", "v1", name).map(|r| r.plural),
                Some("deployments"),
                "{name}"
            );
        }
        assert_eq!(find_by_name("", "v1", "po").map(|r| r.plural), Some("pods"));
        assert_eq!(find_by_name("", "v1", "ev").map(|r| r.group), Some(""));
        assert_eq!(
            find_by_name("events.k8s.io", "v1", "ev").map(|r| r.group),
            Some("events.k8s.io")
        );
        assert!(find_by_name("apps", "v1", "po").is_none());
    }

    #[test]
    fn core_versions_document() {
        assert_eq!(
            api_versions("10.0.0.1:6443"),
            json!({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"10.0.0.1:6443"}]})
        );
    }

    #[test]
    fn group_list_has_every_group_with_its_preferred_version() {
        let list = api_group_list();
        assert_eq!(
            (&list["kind"], &list["apiVersion"]),
            (&json!("APIGroupList"), &json!("v1"))
        );
        let names: Vec<&str> = list["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "apps",
                "events.k8s.io",
                "autoscaling",
                "batch",
                "scheduling.k8s.io",
                "coordination.k8s.io",
                "discovery.k8s.io",
                "metrics.k8s.io"
            ]
        );
        let autoscaling = list["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["name"] == "autoscaling")
            .cloned();
        assert_eq!(
            autoscaling,
            Some(
                json!({"name":"autoscaling","versions":[{"groupVersion":"autoscaling/v2","version":"v2"}],"preferredVersion":{"groupVersion":"autoscaling/v2","version":"v2"}})
            )
        );
    }

    #[test]
    fn group_document() {
        assert_eq!(
            api_group("batch"),
            Some(
                json!({"kind":"APIGroup","apiVersion":"v1","name":"batch","versions":[{"groupVersion":"batch/v1","version":"v1"}],"preferredVersion":{"groupVersion":"batch/v1","version":"v1"}})
            )
        );
        assert!(api_group("widgets.example.com").is_none());
        assert!(api_group("").is_none(), "the core group is /api");
    }

    #[test]
    fn resource_lists_have_resources_then_their_subresources() {
        let apps = api_resource_list("apps", "v1").expect("apps/v1");
        assert_eq!(
            (&apps["kind"], &apps["apiVersion"], &apps["groupVersion"]),
            (&json!("APIResourceList"), &json!("v1"), &json!("apps/v1"))
        );
        assert_eq!(
            entry(&apps, "deployments"),
            json!({"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["deploy"],"categories":["all"]})
        );
        assert_eq!(
            entry(&apps, "deployments/scale"),
            json!({"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale","verbs":["get","patch","update"]})
        );
        assert_eq!(
            entry(&apps, "deployments/status"),
            json!({"name":"deployments/status","singularName":"","namespaced":true,"kind":"Deployment","verbs":["get","patch","update"]})
        );
        assert_eq!(
            entry(&apps, "controllerrevisions"),
            json!({"name":"controllerrevisions","singularName":"controllerrevision","namespaced":true,"kind":"ControllerRevision","verbs":["create","delete","deletecollection","get","list","patch","update","watch"]})
        );
        let names: Vec<String> = entries(&apps)
            .iter()
            .filter_map(|r| r["name"].as_str().map(String::from))
            .collect();
        let deploy = names.iter().position(|n| n == "deployments");
        let scale = names.iter().position(|n| n == "deployments/scale");
        assert!(deploy < scale);

        let core = api_resource_list("", "v1").expect("v1");
        assert_eq!(core["groupVersion"], "v1");
        assert_eq!(
            entry(&core, "pods/log"),
            json!({"name":"pods/log","singularName":"","namespaced":true,"kind":"Pod","verbs":["get"]})
        );
        assert_eq!(
            entry(&core, "pods/binding"),
            json!({"name":"pods/binding","singularName":"","namespaced":true,"kind":"Binding","verbs":["create"]})
        );
        assert_eq!(
            entry(&core, "pods/eviction"),
            json!({"name":"pods/eviction","singularName":"","namespaced":true,"group":"policy","version":"v1","kind":"Eviction","verbs":["create"]})
        );
        assert_eq!(entry(&core, "nodes")["namespaced"], false);
        assert_eq!(
            entry(&core, "namespaces/finalize")["verbs"],
            json!(["update"])
        );
        assert_eq!(entry(&core, "pods")["categories"], json!(["all"]));
        assert!(entry(&core, "secrets").get("shortNames").is_none());

        let hpa = api_resource_list("autoscaling", "v2").expect("autoscaling/v2");
        assert_eq!(
            entry(&hpa, "horizontalpodautoscalers")["shortNames"],
            json!(["hpa"])
        );
        assert!(api_resource_list("apps", "v9").is_none());
        assert!(api_resource_list("widgets", "v1").is_none());
    }

    #[test]
    fn every_served_group_version_has_a_resource_list() {
        for r in all() {
            let list = api_resource_list(r.group, r.version).expect("list");
            entry(&list, r.plural);
            for s in r.subresources {
                entry(&list, &format!("{}/{}", r.plural, s.name));
            }
            if !r.group.is_empty() {
                assert!(api_group(r.group).is_some(), "{}", r.group);
            }
        }
    }

    #[test]
    fn discovery_documents_deserialize_as_the_upstream_types() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
            APIGroup, APIGroupList, APIResourceList, APIVersions,
        };
        let versions: APIVersions =
            serde_json::from_value(api_versions("127.0.0.1:6443")).expect("APIVersions");
        assert_eq!(versions.versions, ["v1"]);
        let groups: APIGroupList = serde_json::from_value(api_group_list()).expect("APIGroupList");
        assert_eq!(groups.groups.len(), 8);
        let group: APIGroup =
            serde_json::from_value(api_group("apps").expect("apps")).expect("APIGroup");
        assert_eq!(
            group.preferred_version.map(|v| v.group_version),
            Some("apps/v1".to_string())
        );
        for gv in [
            ("", "v1"),
            ("apps", "v1"),
            ("batch", "v1"),
            ("autoscaling", "v2"),
        ] {
            let list: APIResourceList =
                serde_json::from_value(api_resource_list(gv.0, gv.1).expect("list"))
                    .expect("APIResourceList");
            assert!(!list.resources.is_empty());
        }
        let apps: APIResourceList =
            serde_json::from_value(api_resource_list("apps", "v1").expect("apps")).expect("apps");
        let scale = apps
            .resources
            .iter()
            .find(|r| r.name == "deployments/scale")
            .expect("scale");
        assert_eq!(
            (
                scale.group.as_deref(),
                scale.version.as_deref(),
                scale.kind.as_str()
            ),
            (Some("autoscaling"), Some("v1"), "Scale")
        );
    }
}
