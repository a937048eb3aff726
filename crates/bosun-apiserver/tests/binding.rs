//! `POST pods/{name}/binding` over real HTTPS: the pod gets its node, the PodScheduled=True
//! condition and the binding's annotations; a pod is bound once only (of two racing bindings
//! exactly one wins); a binding for another uid, a missing pod or no target is refused and
//! changes nothing.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::Server;

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

fn binding(name: &str, uid: Option<&str>, node: &str) -> Value {
    let mut b = json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": "default",
            "annotations": {"scheduling.bosun.dev/explanation": "{\"feasible\":1}"}},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
    if let Some(uid) = uid {
        b["metadata"]["uid"] = json!(uid);
    }
    b
}

async fn bind(server: &Server, name: &str, body: &Value) -> (u16, Value) {
    server
        .call(Method::POST, &format!("{PODS}/{name}/binding"), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_sets_the_node_once_with_its_condition_and_annotations() {
    let server = Server::start(100).await;
    let (code, created) = server.call(Method::POST, PODS, Some(&pod("web"))).await;
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();

    // Refused: another pod's uid, no target, a pod that does not exist.
    let (code, status) = bind(&server, "web", &binding("web", Some("not-the-uid"), "n1")).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (409, Some("Conflict")),
        "{status}"
    );
    let mut no_target = binding("web", None, "n1");
    no_target["target"] = json!({});
    let (code, status) = bind(&server, "web", &no_target).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (422, Some("Invalid")),
        "{status}"
    );
    assert_eq!(status["details"]["causes"][0]["field"], "target.name");
    let (code, status) = bind(&server, "ghost", &binding("ghost", None, "n1")).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (404, Some("NotFound")),
        "{status}"
    );
    let (_, unchanged) = server.call(Method::GET, &format!("{PODS}/web"), None).await;
    assert!(unchanged["spec"].get("nodeName").is_none(), "{unchanged}");
    assert_eq!(
        unchanged["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    let (code, status) = bind(&server, "web", &binding("web", Some(&uid), "n1")).await;
    assert_eq!(
        (code, status["status"].as_str()),
        (201, Some("Success")),
        "{status}"
    );
    let (_, bound) = server.call(Method::GET, &format!("{PODS}/web"), None).await;
    assert_eq!(bound["spec"]["nodeName"], "n1");
    assert_eq!(
        bound["metadata"]["annotations"]["scheduling.bosun.dev/explanation"],
        "{\"feasible\":1}"
    );
    let scheduled: Vec<&Value> = bound["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .filter(|c| c["type"] == "PodScheduled")
        .collect();
    assert_eq!(scheduled.len(), 1, "{bound}");
    assert_eq!(scheduled[0]["status"], "True");

    // Bound once: a second binding, to any node, is a conflict naming the node.
    let (code, status) = bind(&server, "web", &binding("web", Some(&uid), "n2")).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (409, Some("Conflict")),
        "{status}"
    );
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("already assigned to node \"n1\"")),
        "{status}"
    );
    let (_, still) = server.call(Method::GET, &format!("{PODS}/web"), None).await;
    assert_eq!(still["spec"]["nodeName"], "n1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_racing_bindings_exactly_one_wins() {
    let server = Server::start(100).await;
    for i in 0..20 {
        let name = format!("race-{i}");
        let (code, created) = server.call(Method::POST, PODS, Some(&pod(&name))).await;
        assert_eq!(code, 201, "{created}");
        let nodes = ["n1", "n2", "n3", "n4"];
        let bodies: Vec<Value> = nodes.iter().map(|n| binding(&name, None, n)).collect();
        let answers =
            futures::future::join_all(bodies.iter().map(|b| bind(&server, &name, b))).await;
        let won: Vec<&str> = answers
            .iter()
            .zip(nodes)
            .filter(|((code, _), _)| *code == 201)
            .map(|(_, n)| n)
            .collect();
        assert_eq!(won.len(), 1, "{name}: {answers:?}");
        assert!(
            answers.iter().all(|(code, _)| *code == 201 || *code == 409),
            "{answers:?}"
        );
        let (_, bound) = server
            .call(Method::GET, &format!("{PODS}/{name}"), None)
            .await;
        assert_eq!(bound["spec"]["nodeName"], won[0], "{name}");
    }
}
