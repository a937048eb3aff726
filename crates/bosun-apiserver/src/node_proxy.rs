//! `pods/log` and `pods/exec`: the API server finds the pod's node and talks to that node
//! agent's HTTPS endpoint with its kubelet-client certificate: it streams the container's log,
//! and for exec it forwards the client's upgrade request and then relays the upgraded
//! connection byte for byte (as kube-apiserver's upgrade-aware proxy does), so the client and
//! the agent speak the remote command protocol end to end.

use crate::registry;
use crate::response::{Failure, Result};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
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

/// Where a request for a pod's container goes: the agent's address and what to ask it.
struct PodTarget {
    node_name: String,
    host: String,
    port: u16,
    uid: String,
    container: String,
}

async fn pod_target(
    state: &AppState,
    namespace: Option<&str>,
    name: &str,
    container: Option<&str>,
) -> Result<PodTarget> {
    let pod = registry::get(state.store(), core("pods")?, namespace, name)
        .await?
        .object;
    let container = choose_container(&pod, name, container)?;
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
        return Err(
            ApiError::bad_request(&format!("node {node_name:?} serves no containers")).into(),
        );
    };
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(PodTarget {
        node_name: node_name.to_string(),
        host,
        port,
        uid,
        container,
    })
}

/// `GET /api/v1/namespaces/{ns}/pods/{name}/log`.
pub async fn pod_log(
    state: &AppState,
    namespace: Option<&str>,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<Response> {
    let t = pod_target(
        state,
        namespace,
        name,
        query.get("container").map(String::as_str),
    )
    .await?;
    let Some(client) = state.kubelet_client() else {
        return Err(ApiError::unavailable("this API server has no node agent client").into());
    };
    let ns = namespace.unwrap_or("default");
    let mut params: Vec<(&str, String)> = vec![("podUID", t.uid.clone())];
    for key in ["follow", "previous", "tailLines", "limitBytes"] {
        if let Some(v) = query.get(key) {
            params.push((key, v.clone()));
        }
    }
    let url = format!(
        "https://{}:{}/containerLogs/{ns}/{name}/{}",
        t.host, t.port, t.container
    );
    let resp = client.get(&url).query(&params).send().await.map_err(|e| {
        ApiError::unavailable(&format!(
            "cannot reach the node agent of {}: {e}",
            t.node_name
        ))
    })?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(ApiError::bad_request(text.trim()).into());
    }
    let body = Body::from_stream(resp.bytes_stream());
    Ok((StatusCode::OK, [("content-type", "text/plain")], body).into_response())
}

/// The request headers an upgrade carries to the agent: the upgrade itself and the
/// WebSocket (or SPDY) negotiation.
pub fn upgrade_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let n = name.as_str();
        if n == "connection"
            || n == "upgrade"
            || n.starts_with("sec-websocket-")
            || n == "x-stream-protocol-version"
        {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/exec`: an upgrade request proxied to the
/// pod's node agent.
pub async fn exec(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    req: Request,
) -> Response {
    match proxy_upgrade(&state, &namespace, &name, "exec", req).await {
        Ok(r) => r,
        Err(f) => f.into_response(),
    }
}

async fn proxy_upgrade(
    state: &AppState,
    namespace: &str,
    name: &str,
    what: &str,
    mut req: Request,
) -> Result<Response> {
    let query: Vec<(String, String)> = match req.uri().query() {
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| ApiError::bad_request(&format!("invalid query: {e}")))?,
        None => Vec::new(),
    };
    let asked = query
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone());
    let t = pod_target(state, Some(namespace), name, asked.as_deref()).await?;
    let upgrading = req
        .headers()
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"));
    if !upgrading || !req.headers().contains_key(header::UPGRADE) {
        return Err(ApiError::bad_request("Upgrade request required").into());
    }
    let Some(client) = state.kubelet_client() else {
        return Err(ApiError::unavailable("this API server has no node agent client").into());
    };
    let on_client_upgrade = hyper::upgrade::on(&mut req);
    let mut params: Vec<(String, String)> = query
        .into_iter()
        .filter(|(k, _)| k != "container" && k != "podUID")
        .collect();
    params.push(("podUID".into(), t.uid.clone()));
    let url = format!(
        "https://{}:{}/{what}/{namespace}/{name}/{}",
        t.host, t.port, t.container
    );
    let resp = client
        .request(req.method().clone(), &url)
        .version(axum::http::Version::HTTP_11)
        .headers(upgrade_headers(req.headers()))
        .query(&params)
        .send()
        .await
        .map_err(|e| {
            ApiError::unavailable(&format!(
                "cannot reach the node agent of {}: {e}",
                t.node_name
            ))
        })?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let text = resp.text().await.unwrap_or_default();
        return Err(ApiError::bad_request(text.trim()).into());
    }
    let mut answer = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for (k, v) in resp.headers() {
        let n = k.as_str();
        if n == "connection"
            || n == "upgrade"
            || n.starts_with("sec-websocket-")
            || n == "x-stream-protocol-version"
        {
            answer = answer.header(k.clone(), v.clone());
        }
    }
    if !resp.headers().contains_key(header::CONNECTION) {
        answer = answer.header(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    }
    let node = t.node_name.clone();
    // Relay until either side closes; the task ends with the connection.
    tokio::spawn(async move {
        let (agent, client) = match tokio::join!(resp.upgrade(), on_client_upgrade) {
            (Ok(a), Ok(c)) => (a, c),
            (Err(e), _) => {
                tracing::warn!(node = %node, error = %e, "exec: the agent did not upgrade");
                return;
            }
            (_, Err(e)) => {
                tracing::debug!(error = %e, "exec: the client did not upgrade");
                return;
            }
        };
        let mut agent = agent;
        let mut client = hyper_util::rt::TokioIo::new(client);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut agent).await;
    });
    answer
        .body(Body::empty())
        .map_err(|e| Failure(ApiError::internal(&e.to_string())))
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
