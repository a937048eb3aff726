//! Strategic merge patch: the patches kubectl and the kubelet send, upstream's ordering cases,
//! each directive, and one test per way a patch is refused.

use super::*;
use serde_json::json;

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "d-1",
            "labels": {"app": "web", "tier": "back"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "finalizers": ["example.com/a"]},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "app", "image": "nginx:1",
                        "env": [{"name": "A", "value": "1"}],
                        "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "a", "operator": "Exists"}]
                }
            }
        }
    })
}

/// The deployment with a second container, `side`.
fn two_containers() -> Value {
    let mut d = deployment();
    if let Some(containers) = d
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    {
        containers.push(json!({"name": "side", "image": "busybox"}));
    }
    d
}

/// Applies `patch` to `doc` as its own kind; panics if refused.
fn smp(mut doc: Value, patch: Value) -> Value {
    let api_version = doc["apiVersion"].as_str().unwrap_or("v1").to_owned();
    let kind = doc["kind"].as_str().unwrap_or("Unknown").to_owned();
    strategic_merge_patch(&mut doc, &patch, &api_version, &kind)
        .unwrap_or_else(|e| panic!("patch refused: {e}\npatch: {patch}"));
    assert_no_directives(&doc);
    doc
}

/// Applies `patch` to `doc`; asserts it is refused as invalid and `doc` is unchanged, and
/// returns the message.
fn refused(doc: Value, patch: Value) -> String {
    let api_version = doc["apiVersion"].as_str().unwrap_or("v1").to_owned();
    let kind = doc["kind"].as_str().unwrap_or("Unknown").to_owned();
    let mut target = doc.clone();
    let err = strategic_merge_patch(&mut target, &patch, &api_version, &kind)
        .expect_err("the patch should be refused");
    assert_eq!(target, doc, "a refused patch changes nothing");
    match err {
        PatchError::Invalid(message) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn assert_no_directives(v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                assert!(!is_directive(k), "directive {k} left in the result");
                assert_no_directives(v);
            }
        }
        Value::Array(items) => items.iter().for_each(assert_no_directives),
        _ => {}
    }
}

fn containers(d: &Value) -> &Value {
    &d["spec"]["template"]["spec"]["containers"]
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|l| l.iter().filter_map(|e| e["name"].as_str()).collect())
        .unwrap_or_default()
}

// ---- The patches kubectl apply sends --------------------------------------------------------

#[test]
fn kubectl_apply_changing_one_image_keeps_the_rest_of_the_container() {
    let d = smp(
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"}],
            "containers":[{"image":"nginx:2","name":"app"}]}}}}),
    );
    let mut expected = deployment();
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    assert_eq!(d, expected);
}

#[test]
fn kubectl_apply_changing_one_image_of_two_keeps_both_in_order() {
    let d = smp(
        two_containers(),
        json!({"spec":{"template":{"spec":{
            "$setElementOrder/containers":[{"name":"app"},{"name":"side"}],
            "containers":[{"image":"busybox:2","name":"side"}]}}}}),
    );
    assert_eq!(names(containers(&d)), ["app", "side"]);
    assert_eq!(
        containers(&d)[1],
        json!({"name": "side", "image": "busybox:2"})
    );
    assert_eq!(containers(&d)[0], containers(&two_containers())[0]);
}

#[test]
fn kubectl_apply_adding_an_env_var_merges_env_by_name() {
    let d = smp(
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"}],
            "containers":[{"$setElementOrder/env":[{"name":"A"},{"name":"B"}],
                "env":[{"name":"B","value":"2"}],"name":"app"}]}}}}),
    );
    assert_eq!(
        containers(&d)[0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
    assert_eq!(containers(&d)[0]["image"], "nginx:1");
}

#[test]
fn kubectl_apply_changing_and_removing_env_vars() {
    let mut doc = deployment();
    doc["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]);
    let d = smp(
        doc,
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"}],
            "containers":[{"$setElementOrder/env":[{"name":"C"},{"name":"A"}],
                "env":[{"name":"C","value":"three"},{"$patch":"delete","name":"B"}],
                "name":"app"}]}}}}),
    );
    assert_eq!(
        containers(&d)[0]["env"],
        json!([{"name": "C", "value": "three"}, {"name": "A", "value": "1"}])
    );
}

#[test]
fn kubectl_apply_removing_a_container_sends_patch_delete() {
    let d = smp(
        two_containers(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"}],
            "containers":[{"$patch":"delete","name":"side"}]}}}}),
    );
    assert_eq!(containers(&d), &json!([containers(&deployment())[0]]));
}

#[test]
fn kubectl_apply_adding_a_container_puts_it_where_set_element_order_says() {
    let d = smp(
        deployment(),
        json!({"spec":{"template":{"spec":{
            "$setElementOrder/containers":[{"name":"init-like"},{"name":"app"}],
            "containers":[{"image":"busybox","name":"init-like"}]}}}}),
    );
    assert_eq!(names(containers(&d)), ["init-like", "app"]);
}

#[test]
fn kubectl_apply_label_changes_set_and_null_out_labels() {
    let d = smp(
        deployment(),
        json!({"metadata":{"annotations":{
            "kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}"},
            "labels":{"tier":null,"env":"prod"}}}),
    );
    assert_eq!(
        d["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );
    assert_eq!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{\"new\":1}"
    );
}

#[test]
fn deleting_a_label_that_does_not_exist_is_a_no_op() {
    let d = smp(deployment(), json!({"metadata":{"labels":{"nope":null}}}));
    assert_eq!(d, deployment());
}

#[test]
fn kubectl_apply_switching_to_recreate_clears_rolling_update_with_retain_keys() {
    let d = smp(
        deployment(),
        json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}}),
    );
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_drops_defaulted_fields_the_patch_does_not_mention() {
    // The live object carries a defaulted rollingUpdate the patch never names: $retainKeys
    // still drops it (upstream's "retainKeys map should clear defaulted field").
    let d = smp(
        deployment(),
        json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}),
    );
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    let mut recreate = deployment();
    recreate["spec"]["strategy"] = json!({"type": "Recreate"});
    let d = smp(
        recreate,
        json!({"spec":{"strategy":{"$retainKeys":["rollingUpdate","type"],
            "rollingUpdate":{"maxSurge":"50%"},"type":"RollingUpdate"}}}),
    );
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%"}})
    );
}

#[test]
fn retain_keys_in_a_volume_switches_its_source() {
    let d = smp(
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/volumes":[{"name":"data"}],
            "volumes":[{"$retainKeys":["configMap","name"],"configMap":{"name":"cfg"},
                "emptyDir":null,"name":"data"}]}}}}),
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "configMap": {"name": "cfg"}}])
    );
}

#[test]
fn kubectl_apply_finalizer_changes_use_set_element_order_and_delete_from_primitive_list() {
    let mut doc = deployment();
    doc["metadata"]["finalizers"] = json!(["a", "b"]);
    let d = smp(
        doc,
        json!({"metadata":{"$setElementOrder/finalizers":["a","c"],
            "$deleteFromPrimitiveList/finalizers":["b"],"finalizers":["c"]}}),
    );
    assert_eq!(d["metadata"]["finalizers"], json!(["a", "c"]));
}

#[test]
fn finalizers_merge_as_a_set() {
    let mut doc = deployment();
    doc["metadata"]["finalizers"] = json!(["a", "b"]);
    // Already there: nothing added, nothing moves.
    let d = smp(doc.clone(), json!({"metadata":{"finalizers":["b"]}}));
    assert_eq!(d["metadata"]["finalizers"], json!(["a", "b"]));
    // Upstream's order: the patch's values in its order, live-only values where they were.
    let d = smp(doc.clone(), json!({"metadata":{"finalizers":["b", "c"]}}));
    assert_eq!(d["metadata"]["finalizers"], json!(["a", "b", "c"]));
    // A new value ahead of the live ones it was not placed after (as upstream).
    let d = smp(doc.clone(), json!({"metadata":{"finalizers":["c"]}}));
    assert_eq!(d["metadata"]["finalizers"], json!(["c", "a", "b"]));
    // Duplicates are merged away.
    let mut dup = doc.clone();
    dup["metadata"]["finalizers"] = json!(["a", "a", "b"]);
    let d = smp(dup, json!({"metadata":{"finalizers":["b", "b"]}}));
    assert_eq!(d["metadata"]["finalizers"], json!(["a", "b"]));
    // A primitive list can still be replaced.
    let d = smp(
        doc,
        json!({"metadata":{"finalizers":[{"$patch":"replace"}, "z"]}}),
    );
    assert_eq!(d["metadata"]["finalizers"], json!(["z"]));
}

#[test]
fn delete_from_primitive_list_removes_every_copy_and_tolerates_absent_lists() {
    let mut doc = deployment();
    doc["metadata"]["finalizers"] = json!(["a", "b", "a", "c"]);
    let d = smp(
        doc,
        json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a", "zzz"]}}),
    );
    assert_eq!(d["metadata"]["finalizers"], json!(["b", "c"]));
    // On a list that does not exist it adds nothing (upstream's test of the same name).
    let d = smp(
        deployment(),
        json!({"metadata":{"$deleteFromPrimitiveList/nothing":["a"]}}),
    );
    assert_eq!(d, deployment());
    // And it works on lists without a merge strategy too.
    let mut node = json!({"apiVersion": "v1", "kind": "Node", "spec": {"podCIDRs": ["10.0.0.0/24"]},
        "status": {"volumesInUse": ["x", "y"]}});
    node = smp(
        node,
        json!({"status": {"$deleteFromPrimitiveList/volumesInUse": ["x"]}}),
    );
    assert_eq!(node["status"]["volumesInUse"], json!(["y"]));
}

// ---- Ports ----------------------------------------------------------------------------------

#[test]
fn container_ports_merge_by_container_port() {
    let d = smp(
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"}],
            "containers":[{"$setElementOrder/ports":[{"containerPort":80},{"containerPort":443}],
                "name":"app","ports":[{"containerPort":80,"name":"web"},
                    {"containerPort":443,"name":"https"}]}]}}}}),
    );
    assert_eq!(
        containers(&d)[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "web"},
               {"containerPort": 443, "name": "https"}])
    );
}

#[test]
fn container_ports_with_the_same_number_and_another_protocol_are_two_ports() {
    let mut doc = deployment();
    doc["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 53, "protocol": "UDP", "name": "dns"}]);
    let d = smp(
        doc,
        json!({"spec":{"template":{"spec":{"containers":[{"name":"app",
            "$setElementOrder/ports":[{"containerPort":53},{"containerPort":53}],
            "ports":[{"containerPort":53,"protocol":"TCP","name":"dns-tcp"}]}]}}}}),
    );
    assert_eq!(
        containers(&d)[0]["ports"],
        json!([{"containerPort": 53, "protocol": "UDP", "name": "dns"},
               {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"}])
    );
    // A patch element without a protocol means TCP where there is one...
    let d2 = smp(
        d.clone(),
        json!({"spec":{"template":{"spec":{"containers":[{"name":"app",
            "ports":[{"containerPort":53,"name":"tcp-renamed"}]}]}}}}),
    );
    assert_eq!(containers(&d2)[0]["ports"][0]["name"], "dns");
    assert_eq!(containers(&d2)[0]["ports"][1]["name"], "tcp-renamed");
    // ...and deleting by number alone deletes both, as upstream does; naming the protocol
    // deletes one.
    let d3 = smp(
        d.clone(),
        json!({"spec":{"template":{"spec":{"containers":[{"name":"app",
            "ports":[{"containerPort":53,"protocol":"UDP","$patch":"delete"}]}]}}}}),
    );
    assert_eq!(
        containers(&d3)[0]["ports"],
        json!([{"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"}])
    );
    let d4 = smp(
        d,
        json!({"spec":{"template":{"spec":{"containers":[{"name":"app",
            "ports":[{"containerPort":53,"$patch":"delete"}]}]}}}}),
    );
    assert_eq!(containers(&d4)[0]["ports"], json!([]));
}

#[test]
fn a_port_patch_without_protocol_merges_into_a_udp_only_port() {
    let mut doc = deployment();
    doc["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 53, "protocol": "UDP"}]);
    let d = smp(
        doc,
        json!({"spec":{"template":{"spec":{"containers":[{"name":"app",
            "ports":[{"containerPort":53,"name":"dns"}]}]}}}}),
    );
    assert_eq!(
        containers(&d)[0]["ports"],
        json!([{"containerPort": 53, "protocol": "UDP", "name": "dns"}])
    );
}

#[test]
fn service_ports_merge_by_port_and_protocol() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
        "spec": {"selector": {"k8s-app": "dns"}, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}});
    let d = smp(
        svc,
        json!({"spec":{"$setElementOrder/ports":[{"port":53},{"port":53},{"port":9153}],
            "ports":[{"port":53,"protocol":"TCP","targetPort":5353},
                     {"name":"metrics","port":9153,"protocol":"TCP"}]}}),
    );
    assert_eq!(
        d["spec"]["ports"],
        json!([
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 5353},
            {"name": "metrics", "port": 9153, "protocol": "TCP"}])
    );
}

// ---- Other merge keys and kinds -------------------------------------------------------------

#[test]
fn volume_mounts_merge_by_mount_path() {
    let d = smp(
        deployment(),
        json!({"spec":{"template":{"spec":{"containers":[{"name":"app",
            "volumeMounts":[{"mountPath":"/data","readOnly":true},
                            {"mountPath":"/cache","name":"cache"}]}]}}}}),
    );
    assert_eq!(
        containers(&d)[0]["volumeMounts"],
        json!([{"name": "data", "mountPath": "/data", "readOnly": true},
               {"mountPath": "/cache", "name": "cache"}])
    );
}

#[test]
fn tolerations_and_node_taints_are_replaced() {
    let d = smp(
        deployment(),
        json!({"spec":{"template":{"spec":{"tolerations":[{"key":"b","operator":"Exists"}]}}}}),
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
    let node = smp(
        node,
        json!({"spec":{"taints":[{"key":"b","effect":"NoExecute"}]}}),
    );
    assert_eq!(
        node["spec"]["taints"],
        json!([{"key": "b", "effect": "NoExecute"}])
    );
}

#[test]
fn owner_references_merge_by_uid() {
    let mut doc = deployment();
    doc["metadata"]["ownerReferences"] =
        json!([{"uid": "u1", "kind": "X", "name": "x", "controller": true}]);
    let d = smp(
        doc,
        json!({"metadata":{"ownerReferences":[{"uid":"u1","controller":false},
            {"uid":"u2","kind":"Y","name":"y"}]}}),
    );
    assert_eq!(
        d["metadata"]["ownerReferences"],
        json!([{"uid": "u1", "kind": "X", "name": "x", "controller": false},
               {"uid": "u2", "kind": "Y", "name": "y"}])
    );
}

#[test]
fn kubelet_status_patch_merges_pod_conditions_by_type() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]}});
    let d = smp(
        pod,
        json!({"status":{"$setElementOrder/conditions":[{"type":"PodScheduled"},
                {"type":"Initialized"},{"type":"Ready"}],
            "conditions":[{"status":"True","type":"Initialized"},
                {"reason":null,"status":"True","type":"Ready"}],
            "phase":"Running","podIPs":[{"ip":"10.0.0.5"}]}}),
    );
    assert_eq!(
        d["status"]["conditions"],
        json!([{"type": "PodScheduled", "status": "True"},
               {"type": "Initialized", "status": "True"},
               {"type": "Ready", "status": "True"}])
    );
    assert_eq!(d["status"]["phase"], "Running");
    assert_eq!(d["status"]["podIPs"], json!([{"ip": "10.0.0.5"}]));
}

#[test]
fn deployment_status_conditions_merge_by_type() {
    let mut doc = deployment();
    doc["status"] = json!({"conditions": [{"type": "Available", "status": "False"},
        {"type": "Progressing", "status": "True"}]});
    let d = smp(
        doc,
        json!({"status":{"conditions":[{"type":"Available","status":"True"}]}}),
    );
    assert_eq!(
        d["status"]["conditions"],
        json!([{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}])
    );
}

#[test]
fn pod_spec_lists_merge_in_a_pod_and_a_cron_job_too() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
    let d = smp(
        pod,
        json!({"spec":{"containers":[{"name":"b","image":"y2"}]}}),
    );
    assert_eq!(
        d["spec"]["containers"],
        json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y2"}])
    );
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"schedule": "* * * * *",
        "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "job", "image": "x", "env": [{"name": "A", "value": "1"}]}]}}}}}});
    let d = smp(
        cron,
        json!({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[
            {"name":"job","env":[{"name":"B","value":"2"}]}]}}}}}}),
    );
    assert_eq!(
        d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}])
    );
}

#[test]
fn pod_disruption_budget_selector_is_replaced_whole() {
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web", "tier": "x"}}}});
    let d = smp(
        pdb,
        json!({"spec":{"selector":{"matchLabels":{"app":"api"}}}}),
    );
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {"app": "api"}})
    );
    assert_eq!(d["spec"]["minAvailable"], 1);
}

#[test]
fn unknown_kinds_merge_maps_and_replace_lists() {
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "finalizers": ["a"]},
        "spec": {"data": {"a": "1"}, "items": [{"name": "x", "v": 1}], "containers": [{"name": "c"}]}});
    let d = smp(
        widget,
        json!({"metadata":{"finalizers":["b"]},
            "spec":{"data":{"b":"2","a":null},"items":[{"name":"x","v":2}],"containers":[{"name":"d"}]}}),
    );
    assert_eq!(
        d,
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "finalizers": ["b"]},
            "spec": {"data": {"b": "2"}, "items": [{"name": "x", "v": 2}], "containers": [{"name": "d"}]}})
    );
}

#[test]
fn dollar_keys_that_are_not_directives_are_ordinary_fields() {
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
    let d = smp(
        crd,
        json!({"spec":{"versions":[{"name":"v1","schema":{"openAPIV3Schema":{
            "$schema":"http://json-schema.org/draft-04/schema#",
            "properties":{"a":{"$ref":"#/definitions/a"}}}}}]}}),
    );
    let schema = &d["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    assert_eq!(schema["properties"]["a"]["$ref"], "#/definitions/a");
}

// ---- Directives -----------------------------------------------------------------------------

#[test]
fn patch_replace_in_a_map_replaces_the_map() {
    let d = smp(
        deployment(),
        json!({"spec":{"strategy":{"$patch":"replace","type":"Recreate"}}}),
    );
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    // An empty replacement empties the map (upstream's "delete all keys from map").
    let d = smp(
        deployment(),
        json!({"metadata":{"labels":{"$patch":"replace"}}}),
    );
    assert_eq!(d["metadata"]["labels"], json!({}));
}

#[test]
fn patch_replace_at_the_top_level_replaces_the_object() {
    let d = smp(
        deployment(),
        json!({"$patch":"replace","apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}),
    );
    assert_eq!(
        d,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}})
    );
}

#[test]
fn patch_replace_as_a_list_element_replaces_the_list() {
    let d = smp(
        two_containers(),
        json!({"spec":{"template":{"spec":{"containers":[
            {"$patch":"replace"},{"name":"only","image":"x","env":[{"name":"A","value":null}]}]}}}}),
    );
    assert_eq!(
        containers(&d),
        &json!([{"name": "only", "image": "x", "env": [{"name": "A"}]}])
    );
    // Replacing with nothing empties it (upstream's "delete all items from merging list").
    let d = smp(
        two_containers(),
        json!({"spec":{"template":{"spec":{"containers":[{"$patch":"replace"}]}}}}),
    );
    assert_eq!(containers(&d), &json!([]));
}

#[test]
fn patch_delete_in_a_map_removes_it() {
    let d = smp(
        deployment(),
        json!({"spec":{"strategy":{"$patch":"delete"}}}),
    );
    assert!(d["spec"].get("strategy").is_none());
    let d = smp(
        deployment(),
        json!({"spec":{"nothing":{"$patch":"delete"}}}),
    );
    assert_eq!(d, deployment());
    let d = smp(deployment(), json!({"$patch":"delete"}));
    assert_eq!(d, json!({}));
}

#[test]
fn patch_delete_removes_every_element_with_the_key_and_ignores_missing_ones() {
    let mut doc = deployment();
    doc["spec"]["template"]["spec"]["volumes"] = json!([{"name": "a"}, {"name": "a", "x": 1},
        {"name": "b"}]);
    let d = smp(
        doc,
        json!({"spec":{"template":{"spec":{"volumes":[{"name":"a","$patch":"delete"},
            {"name":"zzz","$patch":"delete"}]}}}}),
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "b"}])
    );
}

#[test]
fn patch_merge_is_the_default() {
    let d = smp(
        deployment(),
        json!({"spec":{"strategy":{"$patch":"merge","type":"Recreate"},
            "template":{"spec":{"containers":[{"$patch":"merge"},
                {"name":"app","$patch":"merge","image":"nginx:9"}]}}}}),
    );
    assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(containers(&d)[0]["image"], "nginx:9");
    assert_eq!(
        containers(&d)[0]["env"],
        containers(&deployment())[0]["env"]
    );
}

#[test]
fn set_element_order_alone_reorders_the_live_list() {
    let mut doc = two_containers();
    doc["spec"]["template"]["spec"]["containers"][1]["env"] = json!([{"name": "X"}]);
    let d = smp(
        doc,
        json!({"spec":{"template":{"spec":{
            "$setElementOrder/containers":[{"name":"side"},{"name":"app"}]}}}}),
    );
    assert_eq!(names(containers(&d)), ["side", "app"]);
    assert_eq!(containers(&d)[0]["env"], json!([{"name": "X"}]));
}

#[test]
fn set_element_order_keeps_server_only_elements_in_their_slots() {
    // Upstream's "set elements order in a list with server-only items 2".
    let list = |names: &[i64]| -> Value {
        names
            .iter()
            .map(|n| json!({"name": n.to_string()}))
            .collect()
    };
    let mut doc = deployment();
    doc["spec"]["template"]["spec"]["containers"] = list(&[1, 2, 9, 3, 4]);
    let d = smp(
        doc,
        json!({"spec":{"template":{"spec":{
            "$setElementOrder/containers":[{"name":"2"},{"name":"1"},{"name":"4"},{"name":"3"}]}}}}),
    );
    assert_eq!(names(containers(&d)), ["2", "1", "9", "4", "3"]);
}

#[test]
fn without_set_element_order_the_patch_order_wins_and_new_elements_lead() {
    let list = |names: &[&str]| -> Value { names.iter().map(|n| json!({"name": n})).collect() };
    let mut doc = deployment();
    doc["spec"]["template"]["spec"]["containers"] = list(&["1", "2", "3"]);
    // Upstream's "preserve the order from the patch in a merging list 2".
    let d = smp(
        doc.clone(),
        json!({"spec":{"template":{"spec":{"containers":[{"name":"3","v":"c"},{"name":"1","v":"a"}]}}}}),
    );
    assert_eq!(names(containers(&d)), ["2", "3", "1"]);
    // A new element the live list lacks goes ahead of live ones not placed before it, as
    // upstream's ordering does (kubectl apply always sends $setElementOrder, so this only
    // shows with hand-written patches).
    let d = smp(
        doc,
        json!({"spec":{"template":{"spec":{"containers":[{"name":"new","image":"x"}]}}}}),
    );
    assert_eq!(names(containers(&d)), ["new", "1", "2", "3"]);
}

#[test]
fn new_subtrees_lose_their_nulls_and_directives() {
    let d = smp(
        deployment(),
        json!({"spec":{"template":{"spec":{
            "securityContext":{"runAsUser":1000,"fsGroup":null,"$patch":"merge"},
            "initContainers":[{"name":"init","image":"x","env":[{"name":"A","value":null},
                {"name":"GONE","$patch":"delete"}],
                "$setElementOrder/env":[{"name":"A"}]}]}}}}),
    );
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(spec["securityContext"], json!({"runAsUser": 1000}));
    assert_eq!(
        spec["initContainers"],
        json!([{"name": "init", "image": "x", "env": [{"name": "A"}]}])
    );
}

#[test]
fn a_value_of_another_type_is_replaced() {
    let d = smp(
        deployment(),
        json!({"spec":{"replicas":{"odd":true},"selector":"text","template":{"spec":{"volumes":{"x":1}}}}}),
    );
    assert_eq!(d["spec"]["replicas"], json!({"odd": true}));
    assert_eq!(d["spec"]["selector"], "text");
    assert_eq!(d["spec"]["template"]["spec"]["volumes"], json!({"x": 1}));
}

#[test]
fn a_target_that_is_not_an_object_becomes_the_patch() {
    let mut target = json!(null);
    strategic_merge_patch(
        &mut target,
        &json!({"metadata":{"name":"x","labels":{"a":null}}}),
        "v1",
        "ConfigMap",
    )
    .expect("patch");
    assert_eq!(target, json!({"metadata": {"name": "x", "labels": {}}}));
}

#[test]
fn server_side_apply_onto_nothing_creates_the_object() {
    let manifest = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app", "image": "x",
            "ports": [{"containerPort": 80}]}]}}}});
    let mut target = json!({});
    strategic_merge_patch(&mut target, &manifest, "apps/v1", "Deployment").expect("patch");
    assert_eq!(target, manifest);
}

#[test]
fn an_empty_patch_changes_nothing() {
    assert_eq!(smp(deployment(), json!({})), deployment());
    let d = smp(
        deployment(),
        json!({"spec":{"template":{"spec":{"containers":[]}}}}),
    );
    assert_eq!(d, deployment());
}

// ---- Refusals: one test per way a patch is invalid ------------------------------------------

#[test]
fn a_patch_that_is_not_an_object_is_invalid() {
    for bad in [json!([]), json!("{}"), json!(null), json!(1), json!(true)] {
        let m = refused(deployment(), bad);
        assert!(m.contains("must be a JSON object"), "{m}");
    }
}

#[test]
fn an_unknown_patch_directive_in_a_map_is_invalid() {
    let m = refused(
        deployment(),
        json!({"spec":{"strategy":{"$patch":"explode"}}}),
    );
    assert!(m.contains("explode") && m.contains("spec.strategy"), "{m}");
    refused(deployment(), json!({"$patch": 1}));
}

#[test]
fn an_unknown_patch_directive_in_a_list_element_is_invalid() {
    let m = refused(
        deployment(),
        json!({"spec":{"template":{"spec":{"containers":[{"name":"app","$patch":"explode"}]}}}}),
    );
    assert!(m.contains("explode") && m.contains("containers[0]"), "{m}");
    refused(
        deployment(),
        json!({"spec":{"template":{"spec":{"tolerations":[{"$patch":"nope"}]}}}}),
    );
}

#[test]
fn a_merge_keyed_element_without_its_key_is_invalid_and_names_the_field() {
    let m = refused(
        deployment(),
        json!({"spec":{"template":{"spec":{"containers":[{"image":"no-name"}]}}}}),
    );
    assert!(m.contains("containers") && m.contains("\"name\""), "{m}");
    let m = refused(
        deployment(),
        json!({"spec":{"template":{"spec":{"containers":[{"name":"app",
            "ports":[{"name":"http","protocol":"TCP"}]}]}}}}),
    );
    assert!(
        m.contains("containers[0].ports[0]") && m.contains("containerPort"),
        "{m}"
    );
    let m = refused(
        deployment(),
        json!({"spec":{"template":{"spec":{"containers":[{"name":null,"image":"x"}]}}}}),
    );
    assert!(m.contains("containers"), "{m}");
}

#[test]
fn a_delete_directive_without_the_merge_key_is_invalid() {
    let m = refused(
        two_containers(),
        json!({"spec":{"template":{"spec":{"containers":[{"$patch":"delete"}]}}}}),
    );
    assert!(m.contains("containers") && m.contains("\"name\""), "{m}");
}

#[test]
fn a_merge_keyed_element_that_is_not_an_object_is_invalid() {
    let m = refused(
        deployment(),
        json!({"spec":{"template":{"spec":{"containers":["app"]}}}}),
    );
    assert!(m.contains("containers") && m.contains("a string"), "{m}");
}

#[test]
fn objects_in_a_primitive_set_list_are_invalid() {
    let m = refused(
        deployment(),
        json!({"metadata":{"finalizers":[{"name":"x"}]}}),
    );
    assert!(m.contains("finalizers"), "{m}");
    refused(deployment(), json!({"metadata":{"finalizers":[["x"]]}}));
}

#[test]
fn retain_keys_that_is_not_a_list_of_names_is_invalid() {
    let m = refused(
        deployment(),
        json!({"spec":{"strategy":{"$retainKeys":"type"}}}),
    );
    assert!(m.contains("$retainKeys"), "{m}");
    refused(
        deployment(),
        json!({"spec":{"strategy":{"$retainKeys":[1]}}}),
    );
}

#[test]
fn a_patch_key_missing_from_retain_keys_is_invalid() {
    let m = refused(
        deployment(),
        json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"RollingUpdate",
            "rollingUpdate":{"maxSurge":1}}}}),
    );
    assert!(
        m.contains("rollingUpdate") && m.contains("$retainKeys"),
        "{m}"
    );
}

#[test]
fn set_element_order_that_is_not_a_list_is_invalid() {
    let m = refused(
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":{"name":"app"}}}}}),
    );
    assert!(m.contains("$setElementOrder/containers"), "{m}");
}

#[test]
fn set_element_order_entries_without_the_merge_key_are_invalid() {
    let m = refused(
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"image":"x"}],
            "containers":[{"name":"app","image":"y"}]}}}}),
    );
    assert!(
        m.contains("$setElementOrder/containers") && m.contains("\"name\""),
        "{m}"
    );
    // Also when the order comes without a patch list.
    refused(
        deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":["app"]}}}}),
    );
}

#[test]
fn set_element_order_that_disagrees_with_the_patch_list_is_invalid() {
    // Upstream's "should check if order in $setElementOrder and patch list match".
    let m = refused(
        two_containers(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"},{"name":"side"}],
            "containers":[{"name":"side","image":"s"},{"name":"app","image":"a"}]}}}}),
    );
    assert!(
        m.contains("does not match $setElementOrder/containers"),
        "{m}"
    );
    // An element the order does not list.
    refused(
        two_containers(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"}],
            "containers":[{"name":"other","image":"o"}]}}}}),
    );
    // Same for primitives.
    refused(
        deployment(),
        json!({"metadata":{"$setElementOrder/finalizers":["a"],"finalizers":["b"]}}),
    );
}

#[test]
fn set_element_order_of_primitives_with_objects_is_invalid() {
    let m = refused(
        deployment(),
        json!({"metadata":{"$setElementOrder/finalizers":[{"name":"a"}],"finalizers":["a"]}}),
    );
    assert!(m.contains("$setElementOrder/finalizers"), "{m}");
}

#[test]
fn delete_from_primitive_list_that_is_not_a_list_is_invalid() {
    let m = refused(
        deployment(),
        json!({"metadata":{"$deleteFromPrimitiveList/finalizers":"example.com/a"}}),
    );
    assert!(m.contains("$deleteFromPrimitiveList/finalizers"), "{m}");
}

#[test]
fn an_error_deep_in_a_patch_applies_none_of_it() {
    // The labels would merge fine; the container list later refuses the whole patch.
    refused(
        deployment(),
        json!({"metadata":{"labels":{"new":"x"}},
            "spec":{"replicas":9,"template":{"spec":{"containers":[{"image":"no-name"}]}}}}),
    );
}
