//! `pods/log`: the API server finds the pod's node and streams the container's log from that
//! node agent's HTTPS endpoint, authenticating with its kubelet-client certificate.

use crate::registry;
use crate::response::Result;
use crate::state::AppState;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bosun_api::{ApiError, ResourceInfo, resources};
use serde_json::Value;
use std::collections::HashMap;

/// The container a log request is for: the named one, or the only one.
pub fn choose_container(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let names: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            pod.pointer("/spec/initContainers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    match asked {
        Some(c) if names.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(&format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => {
            let mains: Vec<&str> = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect();
            match mains.as_slice() {
                [only] => Ok((*only).to_string()),
                _ => Err(ApiError::bad_request(&format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    mains.join(" ")
                ))),
            }
        }
    }
}

/// Where a node's agent listens: its InternalIP and the kubelet endpoint port.
pub fn agent_endpoint(node: &Value) -> Option<(String, u16)> {
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)?;
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)?;
    let address = addresses
        .iter()
        .find(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))
        .or_else(|| addresses.first())
        .and_then(|a| a.get("address").and_then(Value::as_str))?;
    Some((address.to_string(), port))
}

fn core(plural: &str) -> Result<&'static ResourceInfo> {
    resources::find("", "v1", plural)
        .ok_or_else(|| ApiError::internal(&format!("no {plural} resource")).into())
}

/// `GET /api/v1/namespaces/{ns}/pods/{name}/log`.
pub async fn pod_log(
    state: &AppState,
    namespace: Option<&str>,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<Response> {
    let pod = registry::get(state.store(), core("pods")?, namespace, name)
        .await?
        .object;
    let container = choose_container(&pod, name, query.get("container").map(String::as_str))?;
    let Some(node_name) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return Err(ApiError::bad_request(&format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        ))
        .into());
    };
    let node = registry::get(state.store(), core("nodes")?, None, node_name)
        .await?
        .object;
    let Some((host, port)) = agent_endpoint(&node) else {
        return Err(ApiError::bad_request(&format!("node {node_name:?} serves no logs")).into());
    };
    let Some(client) = state.kubelet_client() else {
        return Err(ApiError::unavailable("this API server has no node agent client").into());
    };
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ns = namespace.unwrap_or("default");
    let mut params: Vec<(&str, String)> = vec![("podUID", uid.to_string())];
    for key in ["follow", "previous", "tailLines", "limitBytes"] {
        if let Some(v) = query.get(key) {
            params.push((key, v.clone()));
        }
    }
    let url = format!("https://{host}:{port}/containerLogs/{ns}/{name}/{container}");
    let resp = client.get(&url).query(&params).send().await.map_err(|e| {
        ApiError::unavailable(&format!("cannot reach the node agent of {node_name}: {e}"))
    })?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(ApiError::bad_request(text.trim()).into());
    }
    let body = Body::from_stream(resp.bytes_stream());
    Ok((StatusCode::OK, [("content-type", "text/plain")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_only_container_is_chosen_and_several_need_a_name() {
        let one = json!({"spec": {"containers": [{"name": "web"}]}});
        assert_eq!(choose_container(&one, "p", None).expect("one"), "web");
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        let err = choose_container(&two, "p", None).expect_err("two");
        assert_eq!(
            err.to_string(),
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        assert_eq!(choose_container(&two, "p", Some("i")).expect("init"), "i");
        assert!(choose_container(&two, "p", Some("x")).is_err());
    }

    #[test]
    fn the_endpoint_is_the_internal_ip_and_the_advertised_port() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}});
        assert_eq!(agent_endpoint(&node), Some(("127.0.0.1".into(), 10250)));
        let unserved = json!({"status": {"addresses": [{"type": "InternalIP", "address": "x"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}}});
        assert_eq!(agent_endpoint(&unserved), None);
    }
}
