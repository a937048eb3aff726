use super::*;
use crate::resources::{all, find};
use chrono::SecondsFormat;
use std::time::UNIX_EPOCH;

/// 2026-01-02T00:00:00Z
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_312_000)
}

/// The RFC 3339 time `secs` seconds before [`now`] (negative: in the future).
fn ago(secs: i64) -> String {
    (DateTime::<Utc>::from(now()) - chrono::Duration::seconds(secs))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn res(group: &str, version: &str, plural: &str) -> &'static ResourceInfo {
    find(group, version, plural).unwrap_or_else(|| panic!("{plural}"))
}

fn render(r: &ResourceInfo, objects: &[Value]) -> Value {
    table(r, objects, now(), json!({}), IncludeObject::None)
}

fn column_names(t: &Value) -> Vec<String> {
    t["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

fn wide_columns(t: &Value) -> Vec<String> {
    t["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["priority"] == 1)
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

/// The cells of the one row printed for `obj`.
fn cells(r: &ResourceInfo, obj: Value) -> Vec<Value> {
    let t = render(r, &[obj]);
    t["rows"][0]["cells"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// One cell by column name.
fn cell(r: &ResourceInfo, obj: Value, column: &str) -> Value {
    let t = render(r, &[obj]);
    let i = column_names(&t)
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    t["rows"][0]["cells"][i].clone()
}

fn meta(name: &str, age_secs: i64) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(age_secs)})
}

#[test]
fn human_duration_matches_apimachinery() {
    let (m, h, d) = (60, 3600, 86400);
    for (secs, want) in [
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * m + 59, "179m"),
        (3 * h, "3h"),
        (3 * h + 3 * m, "3h3m"),
        (5 * h + 3 * m + 20, "5h3m"),
        (7 * h + 59 * m, "7h59m"),
        (8 * h, "8h"),
        (47 * h + 59 * m, "47h"),
        (2 * d, "2d"),
        (2 * d + 3 * h, "2d3h"),
        (7 * d + 23 * h, "7d23h"),
        (8 * d, "8d"),
        (45 * d, "45d"),
        (729 * d, "729d"),
        (730 * d, "2y"),
        (733 * d, "2y3d"),
        (800 * d, "2y70d"),
        (365 * 8 * d, "8y"),
        (365 * 10 * d + 5 * d, "10y"),
    ] {
        assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}");
    }
    assert_eq!(human_duration(Duration::from_millis(1999)), "1s");
}

#[test]
fn ages_tolerate_a_second_of_skew_and_unknown_times() {
    let cm = res("", "v1", "configmaps");
    let age = |ts: Value| {
        cell(
            cm,
            json!({"metadata": {"name": "c", "creationTimestamp": ts}}),
            "Age",
        )
    };
    assert_eq!(age(json!(ago(90))), "90s");
    assert_eq!(age(json!(ago(-1))), "0s");
    assert_eq!(age(json!(ago(-5))), "<invalid>");
    assert_eq!(age(json!("2026-01-01T23:59:30.123456Z")), "29s");
    assert_eq!(age(json!("2026-01-02T01:00:00+01:00")), "0s");
    assert_eq!(age(json!("yesterday")), "<unknown>");
    assert_eq!(age(Value::Null), "<unknown>");
}

#[test]
fn the_envelope_is_a_meta_v1_table() {
    let cm = res("", "v1", "configmaps");
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("c", 10), "data": {"a": "1"}});
    let t = table(
        cm,
        std::slice::from_ref(&obj),
        now(),
        json!({"resourceVersion": "42", "continue": "abc"}),
        IncludeObject::Metadata,
    );
    assert_eq!(
        (&t["kind"], &t["apiVersion"]),
        (&json!("Table"), &json!("meta.k8s.io/v1"))
    );
    assert_eq!(
        t["metadata"],
        json!({"resourceVersion": "42", "continue": "abc"})
    );
    assert_eq!(
        t["columnDefinitions"][0],
        json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DOC, "priority": 0})
    );
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
    );
    assert!(t["rows"][0].get("conditions").is_none());
    let whole = table(
        cm,
        std::slice::from_ref(&obj),
        now(),
        json!({}),
        IncludeObject::Object,
    );
    assert_eq!(whole["rows"][0]["object"], obj);
    let bare = table(
        cm,
        std::slice::from_ref(&obj),
        now(),
        json!({}),
        IncludeObject::None,
    );
    assert!(bare["rows"][0].get("object").is_none());
    assert_eq!(bare["rows"][0], json!({"cells": ["c", 1, "10s"]}));
    let empty = table(
        cm,
        &[],
        now(),
        json!({"resourceVersion": "1"}),
        IncludeObject::Metadata,
    );
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(column_names(&empty), ["Name", "Data", "Age"]);
    assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
    let no_meta = table(cm, &[json!({})], now(), json!({}), IncludeObject::Metadata);
    assert_eq!(no_meta["rows"][0]["object"]["metadata"], json!({}));
}

#[test]
fn every_kind_prints_one_cell_per_column_even_for_empty_objects() {
    for r in all() {
        let t = render(r, &[json!({}), json!({"metadata": meta("x", 5)})]);
        let names = column_names(&t);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{}: {names:?}", r.plural);
        for row in t["rows"].as_array().into_iter().flatten() {
            assert_eq!(
                row["cells"].as_array().map(Vec::len),
                Some(names.len()),
                "{}",
                r.plural
            );
        }
        for c in t["columnDefinitions"].as_array().into_iter().flatten() {
            assert!(
                matches!(c["type"].as_str(), Some("string" | "integer" | "boolean")),
                "{c}"
            );
            assert!(
                c["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{c}"
            );
            assert!(c["priority"] == 0 || c["priority"] == 1, "{c}");
        }
        let name_col = t["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == "Name")
            .cloned()
            .unwrap_or_default();
        assert_eq!(name_col["format"], "name", "{}", r.plural);
    }
}

#[test]
fn kinds_without_a_printer_show_name_and_age() {
    let widget = ResourceInfo {
        group: "example.com",
        version: "v1",
        plural: "widgets",
        singular: "widget",
        kind: "Widget",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
        has_status: false,
        verbs: &["get", "list"],
    };
    let t = render(&widget, &[json!({"metadata": meta("w", 300)})]);
    assert_eq!(column_names(&t), ["Name", "Age"]);
    assert_eq!(t["rows"][0]["cells"], json!(["w", "5m"]));
}

fn pods() -> &'static ResourceInfo {
    res("", "v1", "pods")
}

fn running(name: &str, restarts: i64) -> Value {
    json!({"name": name, "ready": true, "restartCount": restarts, "state": {"running": {"startedAt": ago(600)}}})
}

#[test]
fn pod_columns_match_the_upstream_printer() {
    let t = render(pods(), &[]);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(
        wide_columns(&t),
        ["IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    assert!(
        t["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| c["type"] == "string")
    );
}

#[test]
fn a_running_pod_prints_ready_status_restarts_ip_and_node() {
    let p = json!({"metadata": meta("web", 3 * 3600 + 120),
        "spec": {"nodeName": "node-1", "containers": [{"name": "app"}]},
        "status": {"phase": "Running", "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}], "containerStatuses": [running("app", 0)]}});
    assert_eq!(
        cells(pods(), p),
        [
            json!("web"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("3h2m"),
            json!("10.1.0.5"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn a_pending_pod_without_statuses() {
    let p = json!({"metadata": meta("p", 3), "spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": {"phase": "Pending"}});
    assert_eq!(
        cells(pods(), p),
        [
            json!("p"),
            json!("0/2"),
            json!("Pending"),
            json!("0"),
            json!("3s"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    assert_eq!(
        cell(
            pods(),
            json!({"spec": {"containers": [{"name": "a"}]}}),
            "Status"
        ),
        "Pending",
        "no phase reads as Pending"
    );
}

#[test]
fn crash_looping_containers_show_the_reason_and_last_restart() {
    let p = json!({"metadata": meta("p", 7200), "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "containerStatuses": [
            running("a", 2),
            {"name": "b", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(190)}}}]}});
    let c = cells(pods(), p);
    assert_eq!(
        (&c[1], &c[2], &c[3]),
        (
            &json!("1/2"),
            &json!("CrashLoopBackOff"),
            &json!("5 (3m10s ago)")
        )
    );
}

#[test]
fn terminated_containers_without_a_reason_show_the_exit_code_or_signal() {
    let term = |t: Value| {
        json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "a", "restartCount": 0, "state": {"terminated": t}}]}})
    };
    assert_eq!(
        cell(pods(), term(json!({"exitCode": 137})), "Status"),
        "ExitCode:137"
    );
    assert_eq!(
        cell(pods(), term(json!({"exitCode": 0, "signal": 9})), "Status"),
        "Signal:9"
    );
    assert_eq!(
        cell(
            pods(),
            term(json!({"exitCode": 0, "reason": "Completed"})),
            "Status"
        ),
        "Completed"
    );
}

#[test]
fn completed_pods_carry_the_completed_row_condition() {
    let p = json!({"metadata": meta("job-x", 60), "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Succeeded", "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
    let t = render(pods(), &[p]);
    assert_eq!(t["rows"][0]["cells"][1], "0/1");
    assert_eq!(t["rows"][0]["cells"][2], "Completed");
    assert_eq!(
        t["rows"][0]["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
    );
    let failed = render(pods(), &[json!({"status": {"phase": "Failed"}})]);
    assert_eq!(failed["rows"][0]["conditions"][0]["reason"], "Failed");
    assert_eq!(failed["rows"][0]["cells"][2], "Failed");
}

#[test]
fn a_completed_container_next_to_a_running_one_reads_running_or_not_ready() {
    let pod = |ready_condition: &str| {
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready_condition}],
                "containerStatuses": [running("a", 0), {"name": "b", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}})
    };
    assert_eq!(cell(pods(), pod("True"), "Status"), "Running");
    assert_eq!(cell(pods(), pod("False"), "Status"), "NotReady");
}

#[test]
fn deleting_pods_read_terminating_unless_finished_or_lost() {
    let deleting = |phase: &str, reason: Option<&str>| {
        let mut p = json!({"metadata": {"name": "p", "deletionTimestamp": ago(1)}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": phase}});
        if let Some(r) = reason {
            p["status"]["reason"] = json!(r);
        }
        cell(pods(), p, "Status")
    };
    assert_eq!(deleting("Running", None), "Terminating");
    assert_eq!(deleting("Pending", None), "Terminating");
    assert_eq!(deleting("Succeeded", None), "Succeeded");
    assert_eq!(deleting("Failed", None), "Failed");
    assert_eq!(deleting("Running", Some("NodeLost")), "Unknown");
}

#[test]
fn pod_status_reason_and_scheduling_gates() {
    let evicted = json!({"status": {"phase": "Failed", "reason": "Evicted"}});
    assert_eq!(cell(pods(), evicted, "Status"), "Evicted");
    let gated = json!({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
    assert_eq!(cell(pods(), gated, "Status"), "SchedulingGated");
}

#[test]
fn init_containers_show_progress_and_failures() {
    let pod = |statuses: Value| {
        json!({"spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": statuses,
                "containerStatuses": [{"name": "a", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}})
    };
    let done = json!({"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
    let waiting =
        |r: &str| json!({"name": "i2", "restartCount": 0, "state": {"waiting": {"reason": r}}});
    assert_eq!(
        cell(
            pods(),
            pod(json!([done.clone(), waiting("PodInitializing")])),
            "Status"
        ),
        "Init:1/2"
    );
    assert_eq!(
        cell(
            pods(),
            pod(json!([done.clone(), {"name": "i2", "restartCount": 0, "state": {"running": {}}}])),
            "Status"
        ),
        "Init:1/2"
    );
    assert_eq!(
        cell(
            pods(),
            pod(json!([done.clone(), waiting("CrashLoopBackOff")])),
            "Status"
        ),
        "Init:CrashLoopBackOff"
    );
    assert_eq!(
        cell(
            pods(),
            pod(
                json!([{"name": "i1", "restartCount": 4, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}])
            ),
            "Status"
        ),
        "Init:Error"
    );
    assert_eq!(
        cell(
            pods(),
            pod(
                json!([{"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}])
            ),
            "Status"
        ),
        "Init:ExitCode:2"
    );
    assert_eq!(
        cell(
            pods(),
            pod(
                json!([{"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 2, "signal": 15}}}])
            ),
            "Status"
        ),
        "Init:Signal:15"
    );
    let restarting = pod(
        json!([{"name": "i1", "restartCount": 4, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
    );
    assert_eq!(
        cell(pods(), restarting, "Restarts"),
        "4",
        "init restarts count while initializing"
    );
    let initialized = pod(
        json!([done.clone(), {"name": "i2", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]),
    );
    assert_eq!(cell(pods(), initialized, "Status"), "PodInitializing");
}

#[test]
fn sidecar_init_containers_count_towards_ready_and_restarts() {
    let p = json!({"spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
            "containerStatuses": [running("app", 2)]}});
    let c = cells(pods(), p);
    assert_eq!(
        (&c[1], &c[2], &c[3]),
        (&json!("2/2"), &json!("Running"), &json!("3"))
    );
}

#[test]
fn readiness_gates_count_the_true_conditions() {
    let p = json!({"spec": {"containers": [], "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]},
        "status": {"phase": "Running", "conditions": [{"type": "example.com/lb", "status": "True"}, {"type": "example.com/dns", "status": "False"}]}});
    assert_eq!(cell(pods(), p, "Readiness Gates"), "1/2");
    let nominated =
        json!({"status": {"phase": "Pending", "nominatedNodeName": "node-2", "podIP": "10.0.0.9"}});
    assert_eq!(cell(pods(), nominated.clone(), "Nominated Node"), "node-2");
    assert_eq!(
        cell(pods(), nominated, "IP"),
        "10.0.0.9",
        "podIP when podIPs is absent"
    );
}

#[test]
fn namespaces_print_their_phase() {
    let ns = res("", "v1", "namespaces");
    assert_eq!(column_names(&render(ns, &[])), ["Name", "Status", "Age"]);
    assert_eq!(
        cells(
            ns,
            json!({"metadata": meta("default", 86400 * 3), "status": {"phase": "Active"}})
        ),
        [json!("default"), json!("Active"), json!("3d")]
    );
    assert_eq!(
        cell(ns, json!({"status": {"phase": "Terminating"}}), "Status"),
        "Terminating"
    );
    assert_eq!(cell(ns, json!({}), "Status"), "Active");
}

fn nodes() -> &'static ResourceInfo {
    res("", "v1", "nodes")
}

#[test]
fn node_columns_and_a_ready_node() {
    let t = render(nodes(), &[]);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    assert_eq!(
        wide_columns(&t),
        [
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    let n = json!({"metadata": {"name": "node-1", "creationTimestamp": ago(10 * 86400),
            "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "", "kubernetes.io/hostname": "node-1"}},
        "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.10"}, {"type": "Hostname", "address": "node-1"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian GNU/Linux 13", "kernelVersion": "6.12.0", "containerRuntimeVersion": "containerd://2.0.0"}}});
    assert_eq!(
        cells(nodes(), n),
        [
            json!("node-1"),
            json!("Ready"),
            json!("control-plane,worker"),
            json!("10d"),
            json!("v1.33.0"),
            json!("192.0.2.10"),
            json!("<none>"),
            json!("Debian GNU/Linux 13"),
            json!("6.12.0"),
            json!("containerd://2.0.0")
        ]
    );
}

#[test]
fn node_status_roles_and_unknown_info() {
    let status = |conditions: Value, unschedulable: bool| {
        cell(
            nodes(),
            json!({"spec": {"unschedulable": unschedulable}, "status": {"conditions": conditions}}),
            "Status",
        )
    };
    assert_eq!(
        status(json!([{"type": "Ready", "status": "False"}]), false),
        "NotReady"
    );
    assert_eq!(
        status(json!([{"type": "Ready", "status": "Unknown"}]), false),
        "NotReady"
    );
    assert_eq!(status(json!([]), false), "Unknown");
    assert_eq!(
        status(json!([{"type": "Ready", "status": "True"}]), true),
        "Ready,SchedulingDisabled"
    );
    assert_eq!(status(json!([]), true), "Unknown,SchedulingDisabled");
    let roles = |labels: Value| cell(nodes(), json!({"metadata": {"labels": labels}}), "Roles");
    assert_eq!(roles(json!({})), "<none>");
    assert_eq!(roles(json!({"kubernetes.io/role": "master"})), "master");
    assert_eq!(
        roles(json!({"node-role.kubernetes.io/": "", "kubernetes.io/role": ""})),
        "<none>"
    );
    let bare = cells(nodes(), json!({"metadata": {"name": "n"}}));
    assert_eq!(
        bare[4..],
        [
            json!(""),
            json!("<none>"),
            json!("<none>"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );
}

fn services() -> &'static ResourceInfo {
    res("", "v1", "services")
}

#[test]
fn service_columns_and_a_cluster_ip_service() {
    let t = render(services(), &[]);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    assert_eq!(wide_columns(&t), ["Selector"]);
    let s = json!({"metadata": meta("web", 45), "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}, {"port": 53, "protocol": "UDP"}], "selector": {"tier": "front", "app": "web"}}});
    assert_eq!(
        cells(services(), s),
        [
            json!("web"),
            json!("ClusterIP"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("80/TCP,53/UDP"),
            json!("45s"),
            json!("app=web,tier=front")
        ]
    );
}

#[test]
fn service_types_external_ips_and_ports() {
    let svc = |spec: Value, status: Value| json!({"spec": spec, "status": status});
    let c = cells(
        services(),
        svc(
            json!({"type": "NodePort", "clusterIP": "10.96.0.11", "ports": [{"port": 80, "nodePort": 30080}]}),
            json!({}),
        ),
    );
    assert_eq!(
        (&c[1], &c[2], &c[3], &c[4]),
        (
            &json!("NodePort"),
            &json!("10.96.0.11"),
            &json!("<none>"),
            &json!("80:30080/TCP")
        )
    );
    assert_eq!(
        cell(
            services(),
            svc(json!({"type": "LoadBalancer"}), json!({})),
            "External-IP"
        ),
        "<pending>"
    );
    assert_eq!(
        cell(
            services(),
            svc(
                json!({"type": "LoadBalancer"}),
                json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}]}})
            ),
            "External-IP"
        ),
        "203.0.113.9,lb.example.com"
    );
    assert_eq!(
        cell(
            services(),
            svc(
                json!({"type": "LoadBalancer", "externalIPs": ["198.51.100.1"]}),
                json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}})
            ),
            "External-IP"
        ),
        "203.0.113.9,198.51.100.1"
    );
    assert_eq!(
        cell(
            services(),
            svc(
                json!({"type": "ClusterIP", "externalIPs": ["198.51.100.1", "198.51.100.2"]}),
                json!({})
            ),
            "External-IP"
        ),
        "198.51.100.1,198.51.100.2"
    );
    assert_eq!(
        cell(
            services(),
            svc(
                json!({"type": "ExternalName", "externalName": "db.example.com"}),
                json!({})
            ),
            "External-IP"
        ),
        "db.example.com"
    );
    assert_eq!(
        cell(
            services(),
            svc(json!({"type": "Weird"}), json!({})),
            "External-IP"
        ),
        "<unknown>"
    );
    let headless = cells(services(), svc(json!({"clusterIP": "None"}), json!({})));
    assert_eq!(
        (&headless[1], &headless[2], &headless[4], &headless[6]),
        (
            &json!("ClusterIP"),
            &json!("None"),
            &json!("<none>"),
            &json!("<none>")
        )
    );
}

#[test]
fn endpoints_print_up_to_three_addresses() {
    let ep = res("", "v1", "endpoints");
    assert_eq!(column_names(&render(ep, &[])), ["Name", "Endpoints", "Age"]);
    let endpoints = |subsets: Value| cell(ep, json!({"subsets": subsets}), "Endpoints");
    assert_eq!(cell(ep, json!({}), "Endpoints"), "<none>");
    assert_eq!(
        endpoints(
            json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}]}])
        ),
        "10.0.0.1:80,10.0.0.2:80"
    );
    assert_eq!(
        endpoints(
            json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}], "ports": [{"port": 80}, {"port": 443}]}])
        ),
        "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more..."
    );
    assert_eq!(
        endpoints(json!([{"addresses": [{"ip": "10.0.0.1"}]}])),
        "10.0.0.1"
    );
    assert_eq!(
        endpoints(json!([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}])),
        "[fd00::1]:80"
    );
}

#[test]
fn configmaps_secrets_and_service_accounts_count_their_entries() {
    let cm = res("", "v1", "configmaps");
    assert_eq!(
        cells(
            cm,
            json!({"metadata": meta("c", 5), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}})
        ),
        [json!("c"), json!(3), json!("5s")]
    );
    assert_eq!(cell(cm, json!({}), "Data"), 0);
    let secret = res("", "v1", "secrets");
    assert_eq!(
        column_names(&render(secret, &[])),
        ["Name", "Type", "Data", "Age"]
    );
    assert_eq!(
        cells(
            secret,
            json!({"metadata": meta("tls", 5), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}})
        ),
        [
            json!("tls"),
            json!("kubernetes.io/tls"),
            json!(2),
            json!("5s")
        ]
    );
    assert_eq!(cell(secret, json!({}), "Type"), "Opaque");
    let sa = res("", "v1", "serviceaccounts");
    assert_eq!(column_names(&render(sa, &[])), ["Name", "Secrets", "Age"]);
    assert_eq!(
        cells(
            sa,
            json!({"metadata": meta("default", 5), "secrets": [{"name": "t"}]})
        ),
        [json!("default"), json!(1), json!("5s")]
    );
    assert_eq!(cell(sa, json!({}), "Secrets"), 0);
}

#[test]
fn core_events_print_last_seen_type_reason_object_message() {
    let ev = res("", "v1", "events");
    let t = render(ev, &[]);
    assert_eq!(
        column_names(&t),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    assert_eq!(
        wide_columns(&t),
        ["Subobject", "Source", "First Seen", "Count", "Name"]
    );
    let e = json!({"metadata": meta("web.1", 600), "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled", "message": "  Container image pulled \n", "type": "Normal", "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 4});
    assert_eq!(
        cells(ev, e),
        [
            json!("30s"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/web"),
            json!("spec.containers{app}"),
            json!("kubelet, node-1"),
            json!("Container image pulled"),
            json!("10m"),
            json!(4),
            json!("web.1")
        ]
    );
}

#[test]
fn core_events_fall_back_to_event_time_series_and_reporting_fields() {
    let ev = res("", "v1", "events");
    let e = json!({"metadata": {"name": "x"}, "involvedObject": {"kind": "Node"}, "eventTime": "2026-01-01T23:58:00.000000Z",
        "reportingComponent": "bosun-scheduler", "reportingInstance": "node-1", "type": "Warning", "reason": "FailedScheduling", "message": "no nodes"});
    let c = cells(ev, e);
    assert_eq!(
        (&c[0], &c[3], &c[5], &c[7], &c[8]),
        (
            &json!("2m"),
            &json!("node"),
            &json!("bosun-scheduler, node-1"),
            &json!("2m"),
            &json!(1)
        )
    );
    let series = json!({"involvedObject": {"kind": "Pod", "name": "p"}, "eventTime": ago(3600), "series": {"count": 7, "lastObservedTime": ago(5)}, "count": 1});
    let c = cells(ev, series);
    assert_eq!(
        (&c[0], &c[7], &c[8]),
        (&json!("5s"), &json!("60m"), &json!(7))
    );
    let bare = cells(ev, json!({}));
    assert_eq!(
        (&bare[0], &bare[3], &bare[5], &bare[8]),
        (&json!("<unknown>"), &json!(""), &json!(""), &json!(1))
    );
}

#[test]
fn events_k8s_io_events_print_like_core_events() {
    let ev = res("events.k8s.io", "v1", "events");
    assert_eq!(
        column_names(&render(ev, &[]))[..4],
        ["Last Seen", "Type", "Reason", "Object"]
    );
    let e = json!({"metadata": meta("web.2", 100), "regarding": {"kind": "Deployment", "name": "web"}, "note": "Scaled up replica set web-1 to 3",
        "reason": "ScalingReplicaSet", "type": "Normal", "eventTime": ago(100), "reportingController": "deployment-controller", "reportingInstance": "",
        "series": {"count": 2, "lastObservedTime": ago(20)}});
    assert_eq!(
        cells(ev, e),
        [
            json!("20s"),
            json!("Normal"),
            json!("ScalingReplicaSet"),
            json!("deployment/web"),
            json!(""),
            json!("deployment-controller"),
            json!("Scaled up replica set web-1 to 3"),
            json!("100s"),
            json!(2),
            json!("web.2")
        ]
    );
    let deprecated = json!({"regarding": {"kind": "Pod", "name": "p"}, "deprecatedFirstTimestamp": ago(400), "deprecatedLastTimestamp": ago(200),
        "deprecatedCount": 3, "deprecatedSource": {"component": "kubelet"}});
    let c = cells(ev, deprecated);
    assert_eq!(
        (&c[0], &c[5], &c[7], &c[8]),
        (
            &json!("3m20s"),
            &json!("kubelet"),
            &json!("6m40s"),
            &json!(3)
        )
    );
}

fn template(containers: Value) -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}})
}

#[test]
fn deployments_print_ready_up_to_date_available() {
    let d = res("apps", "v1", "deployments");
    let t = render(d, &[]);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(wide_columns(&t), ["Containers", "Images", "Selector"]);
    let obj = json!({"metadata": meta("web", 90), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
        "template": template(json!([{"name": "app", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]))},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        cells(d, obj),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("90s"),
            json!("app,log"),
            json!("nginx:1.27,busybox"),
            json!("app=web")
        ]
    );
    let fresh = cells(d, json!({"spec": {"selector": {}}}));
    assert_eq!(
        (&fresh[1], &fresh[2], &fresh[3], &fresh[7]),
        (&json!("0/1"), &json!(0), &json!(0), &json!(""))
    );
    assert_eq!(
        cell(
            d,
            json!({"spec": {"selector": {"matchLabels": {"-": "x"}}}}),
            "Selector"
        ),
        "<invalid>"
    );
}

#[test]
fn replica_sets_stateful_sets_and_daemon_sets() {
    let rs = res("apps", "v1", "replicasets");
    let t = render(rs, &[]);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(t["columnDefinitions"][1]["type"], "integer");
    let obj = json!({"metadata": meta("web-5d4f", 30), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4f"}},
        "template": template(json!([{"name": "app", "image": "nginx"}]))}, "status": {"replicas": 3, "readyReplicas": 1}});
    assert_eq!(
        cells(rs, obj),
        [
            json!("web-5d4f"),
            json!(3),
            json!(3),
            json!(1),
            json!("30s"),
            json!("app"),
            json!("nginx"),
            json!("app=web,pod-template-hash=5d4f")
        ]
    );
    assert_eq!(cell(rs, json!({}), "Selector"), "<none>");

    let sts = res("apps", "v1", "statefulsets");
    assert_eq!(
        column_names(&render(sts, &[])),
        ["Name", "Ready", "Age", "Containers", "Images"]
    );
    let obj = json!({"metadata": meta("db", 30), "spec": {"replicas": 3, "template": template(json!([{"name": "pg", "image": "postgres:17"}]))}, "status": {"readyReplicas": 1}});
    assert_eq!(
        cells(sts, obj),
        [
            json!("db"),
            json!("1/3"),
            json!("30s"),
            json!("pg"),
            json!("postgres:17")
        ]
    );

    let ds = res("apps", "v1", "daemonsets");
    let t = render(ds, &[]);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let obj = json!({"metadata": meta("agent", 30), "spec": {"selector": {"matchLabels": {"app": "agent"}},
        "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "agent:1"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
    assert_eq!(
        cells(ds, obj),
        [
            json!("agent"),
            json!(3),
            json!(3),
            json!(2),
            json!(3),
            json!(2),
            json!("kubernetes.io/os=linux"),
            json!("30s"),
            json!("a"),
            json!("agent:1"),
            json!("app=agent")
        ]
    );
    assert_eq!(cell(ds, json!({}), "Node Selector"), "<none>");
}

#[test]
fn controller_revisions_name_their_controller() {
    let cr = res("apps", "v1", "controllerrevisions");
    assert_eq!(
        column_names(&render(cr, &[])),
        ["Name", "Controller", "Revision", "Age"]
    );
    let obj = json!({"metadata": {"name": "db-7c9", "creationTimestamp": ago(5), "ownerReferences": [
        {"apiVersion": "v1", "kind": "Pod", "name": "other"},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true}]}, "revision": 2});
    assert_eq!(
        cells(cr, obj),
        [
            json!("db-7c9"),
            json!("statefulset.apps/db"),
            json!(2),
            json!("5s")
        ]
    );
    assert_eq!(cell(cr, json!({}), "Controller"), "<none>");
    let core_owner = json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n", "controller": true}]}});
    assert_eq!(cell(cr, core_owner, "Controller"), "node/n");
}

fn jobs() -> &'static ResourceInfo {
    res("batch", "v1", "jobs")
}

#[test]
fn job_columns_and_a_complete_job() {
    let t = render(jobs(), &[]);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(wide_columns(&t), ["Containers", "Images", "Selector"]);
    let obj = json!({"metadata": meta("pi", 600), "spec": {"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
        "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5"}]}}},
        "status": {"succeeded": 1, "startTime": ago(600), "completionTime": ago(553), "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
    assert_eq!(
        cells(jobs(), obj),
        [
            json!("pi"),
            json!("Complete"),
            json!("1/1"),
            json!("47s"),
            json!("10m"),
            json!("pi"),
            json!("perl:5"),
            json!("batch.kubernetes.io/controller-uid=u1")
        ]
    );
}

#[test]
fn job_status_completions_and_duration() {
    let status = |o: Value| cell(jobs(), o, "Status");
    assert_eq!(status(json!({})), "Running");
    assert_eq!(
        status(json!({"status": {"conditions": [{"type": "Failed", "status": "True"}]}})),
        "Failed"
    );
    assert_eq!(
        status(json!({"status": {"conditions": [{"type": "Complete", "status": "False"}]}})),
        "Running"
    );
    assert_eq!(
        status(json!({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}})),
        "Suspended"
    );
    assert_eq!(
        status(json!({"status": {"conditions": [{"type": "FailureTarget", "status": "True"}]}})),
        "FailureTarget"
    );
    assert_eq!(
        status(
            json!({"metadata": {"deletionTimestamp": ago(1)}, "status": {"conditions": [{"type": "Suspended", "status": "True"}]}})
        ),
        "Terminating"
    );
    assert_eq!(
        status(
            json!({"metadata": {"deletionTimestamp": ago(1)}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}})
        ),
        "Complete"
    );
    let completions = |spec: Value, succeeded: i64| {
        cell(
            jobs(),
            json!({"spec": spec, "status": {"succeeded": succeeded}}),
            "Completions",
        )
    };
    assert_eq!(completions(json!({"completions": 5}), 2), "2/5");
    assert_eq!(completions(json!({"parallelism": 3}), 0), "0/1 of 3");
    assert_eq!(completions(json!({}), 1), "1/1");
    assert_eq!(
        cell(
            jobs(),
            json!({"status": {"startTime": ago(65)}}),
            "Duration"
        ),
        "65s"
    );
    assert_eq!(cell(jobs(), json!({}), "Duration"), "");
}

#[test]
fn cron_jobs_print_schedule_timezone_suspend_active_last_schedule() {
    let cj = res("batch", "v1", "cronjobs");
    let t = render(cj, &[]);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let obj = json!({"metadata": meta("hello", 3600), "spec": {"schedule": "*/5 * * * *", "suspend": false,
        "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "hello", "image": "busybox"}]}}}}},
        "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(120)}});
    assert_eq!(
        cells(cj, obj),
        [
            json!("hello"),
            json!("*/5 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("2m"),
            json!("60m"),
            json!("hello"),
            json!("busybox"),
            json!("<none>")
        ]
    );
    let other = cells(
        cj,
        json!({"spec": {"schedule": "@daily", "timeZone": "Europe/Paris", "suspend": true}}),
    );
    assert_eq!(
        (&other[2], &other[3], &other[4], &other[5]),
        (
            &json!("Europe/Paris"),
            &json!("True"),
            &json!(0),
            &json!("<none>")
        )
    );
}

#[test]
fn leases_and_endpoint_slices() {
    let lease = res("coordination.k8s.io", "v1", "leases");
    assert_eq!(column_names(&render(lease, &[])), ["Name", "Holder", "Age"]);
    assert_eq!(
        cells(
            lease,
            json!({"metadata": meta("node-1", 20), "spec": {"holderIdentity": "node-1"}})
        ),
        [json!("node-1"), json!("node-1"), json!("20s")]
    );
    assert_eq!(cell(lease, json!({}), "Holder"), "");

    let slices = res("discovery.k8s.io", "v1", "endpointslices");
    assert_eq!(
        column_names(&render(slices, &[])),
        ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    );
    let obj = json!({"metadata": meta("web-abc", 20), "addressType": "IPv4", "ports": [{"port": 80, "name": "http"}, {"name": "metrics"}, {}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]}, {"addresses": ["10.0.0.4"]}, {"addresses": ["10.0.0.5"]}]});
    assert_eq!(
        cells(slices, obj),
        [
            json!("web-abc"),
            json!("IPv4"),
            json!("80,metrics,*"),
            json!("10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."),
            json!("20s")
        ]
    );
    let empty = cells(slices, json!({"addressType": "IPv4"}));
    assert_eq!(
        (&empty[2], &empty[3]),
        (&json!("<unset>"), &json!("<unset>"))
    );
}

fn hpas() -> &'static ResourceInfo {
    res("autoscaling", "v2", "horizontalpodautoscalers")
}

fn cpu(target: Value) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu", "target": target}})
}

#[test]
fn hpa_columns_and_a_cpu_target() {
    let t = render(hpas(), &[]);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Reference",
            "Targets",
            "MinPods",
            "MaxPods",
            "Replicas",
            "Age"
        ]
    );
    let obj = json!({"metadata": meta("web", 120), "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2, "maxReplicas": 10, "metrics": [cpu(json!({"type": "Utilization", "averageUtilization": 80}))]},
        "status": {"currentReplicas": 3, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 50, "averageValue": "250m"}}}]}});
    assert_eq!(
        cells(hpas(), obj),
        [
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: 50%/80%"),
            json!("2"),
            json!(10),
            json!(3),
            json!("2m")
        ]
    );
}

#[test]
fn hpa_targets_read_like_kubectl() {
    let targets = |metrics: Value, current: Value| {
        cell(
            hpas(),
            json!({"spec": {"metrics": metrics}, "status": {"currentMetrics": current}}),
            "Targets",
        )
    };
    assert_eq!(cell(hpas(), json!({}), "Targets"), "<none>");
    assert_eq!(
        targets(json!([cpu(json!({"averageUtilization": 80}))]), json!([])),
        "cpu: <unknown>/80%"
    );
    assert_eq!(
        targets(json!([cpu(json!({}))]), json!([])),
        "cpu: <unknown>/<auto>"
    );
    assert_eq!(
        targets(
            json!([{"type": "Resource", "resource": {"name": "memory", "target": {"averageValue": "512Mi"}}}]),
            json!([{"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "300Mi"}}}])
        ),
        "memory: 300Mi/512Mi"
    );
    assert_eq!(
        targets(
            json!([{"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"averageValue": "100"}}}]),
            json!([{"type": "Pods", "pods": {"current": {"averageValue": "42"}}}])
        ),
        "42/100"
    );
    assert_eq!(
        targets(
            json!([{"type": "Object", "object": {"target": {"value": "10"}}}]),
            json!([])
        ),
        "<unknown>/10"
    );
    assert_eq!(
        targets(
            json!([{"type": "External", "external": {"target": {"averageValue": "30"}}}]),
            json!([{"type": "External", "external": {"current": {"averageValue": "12"}}}])
        ),
        "12/30 (avg)"
    );
    assert_eq!(
        targets(
            json!([{"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {"averageUtilization": 60}}}]),
            json!([{"type": "ContainerResource", "containerResource": {"name": "cpu", "current": {"averageUtilization": 30}}}])
        ),
        "cpu: 30%/60%"
    );
    assert_eq!(
        targets(json!([{"type": "Mystery"}]), json!([])),
        "<unknown type>"
    );
    let three = json!([
        cpu(json!({"averageUtilization": 80})),
        cpu(json!({"averageUtilization": 70})),
        cpu(json!({"averageUtilization": 60}))
    ]);
    assert_eq!(
        targets(three, json!([])),
        "cpu: <unknown>/80%, cpu: <unknown>/70% + 1 more..."
    );
    let defaults = cells(
        hpas(),
        json!({"spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "db"}, "maxReplicas": 4}}),
    );
    assert_eq!(
        (&defaults[1], &defaults[3], &defaults[4], &defaults[5]),
        (&json!("StatefulSet/db"), &json!("1"), &json!(4), &json!(0))
    );
}

#[test]
fn priority_classes_print_value_default_and_preemption() {
    let pc = res("scheduling.k8s.io", "v1", "priorityclasses");
    let t = render(pc, &[]);
    assert_eq!(
        column_names(&t),
        ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
    );
    assert_eq!(
        wide_columns(&t),
        Vec::<String>::new(),
        "upstream gives PreemptionPolicy priority 0"
    );
    assert_eq!(
        cells(
            pc,
            json!({"metadata": {"name": "system-cluster-critical", "creationTimestamp": ago(86400 * 30)}, "value": 2_000_000_000, "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority"})
        ),
        [
            json!("system-cluster-critical"),
            json!(2_000_000_000),
            json!(false),
            json!("30d"),
            json!("PreemptLowerPriority")
        ]
    );
    let other = cells(
        pc,
        json!({"value": -5, "globalDefault": true, "preemptionPolicy": "Never"}),
    );
    assert_eq!(
        (&other[1], &other[2], &other[4]),
        (&json!(-5), &json!(true), &json!("Never"))
    );
    assert_eq!(
        cell(pc, json!({}), "PreemptionPolicy"),
        "PreemptLowerPriority"
    );
}
