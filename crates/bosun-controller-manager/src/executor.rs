//! Performing a controller's [`Action`]s against the API server.

use bosun_controllers::{Action, Target};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The API server refused it (the Status message and code).
    #[error("{code}: {message}")]
    Refused { code: u16, message: String },
    /// The API server could not be reached or answered nonsense.
    #[error("{0}")]
    Transport(String),
}

/// The path of a collection: `/api/v1[/namespaces/ns]/plural` or `/apis/g/v[...]`.
pub fn collection_path(target: Target, namespace: Option<&str>) -> String {
    let base = if target.api_version.contains('/') {
        format!("/apis/{}", target.api_version)
    } else {
        format!("/api/{}", target.api_version)
    };
    match namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/{}", target.plural),
        None => format!("{base}/{}", target.plural),
    }
}

fn request(
    method: http::Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> Result<http::Request<Vec<u8>>, ExecError> {
    let bytes = serde_json::to_vec(body).map_err(|e| ExecError::Transport(e.to_string()))?;
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .header("accept", "application/json")
        .body(bytes)
        .map_err(|e| ExecError::Transport(e.to_string()))
}

async fn send(client: &kube::Client, req: http::Request<Vec<u8>>) -> Result<Value, ExecError> {
    match client.request::<Value>(req).await {
        Ok(v) => Ok(v),
        Err(kube::Error::Api(s)) => Err(ExecError::Refused {
            code: s.code,
            message: s.message,
        }),
        Err(e) => Err(ExecError::Transport(e.to_string())),
    }
}

/// Perform one action. Returns the object the API server answered with (for creates, the
/// created object with its generated name).
pub async fn execute(
    client: &kube::Client,
    action: &Action,
    component: &str,
) -> Result<Value, ExecError> {
    match action {
        Action::Create {
            target,
            namespace,
            object,
        } => {
            let path = collection_path(*target, namespace.as_deref());
            send(
                client,
                request(http::Method::POST, &path, "application/json", object)?,
            )
            .await
        }
        Action::Delete {
            target,
            namespace,
            name,
            uid,
            propagation,
        } => {
            let path = format!("{}/{name}", collection_path(*target, namespace.as_deref()));
            let mut options = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
            if let Some(uid) = uid {
                options["preconditions"] = json!({"uid": uid});
            }
            if let Some(p) = propagation {
                options["propagationPolicy"] = json!(p);
            }
            send(
                client,
                request(http::Method::DELETE, &path, "application/json", &options)?,
            )
            .await
        }
        Action::MergePatch {
            target,
            namespace,
            name,
            patch,
        } => {
            let path = format!("{}/{name}", collection_path(*target, namespace.as_deref()));
            send(
                client,
                request(
                    http::Method::PATCH,
                    &path,
                    "application/merge-patch+json",
                    patch,
                )?,
            )
            .await
        }
        Action::PatchStatus {
            target,
            namespace,
            name,
            status,
        } => {
            let path = format!(
                "{}/{name}/status",
                collection_path(*target, namespace.as_deref())
            );
            let patch = json!({ "status": status });
            send(
                client,
                request(
                    http::Method::PATCH,
                    &path,
                    "application/merge-patch+json",
                    &patch,
                )?,
            )
            .await
        }
        Action::DeleteIfOwnerGone {
            target,
            namespace,
            name,
            uid,
            owner,
            owner_name,
            owner_uid,
        } => {
            let owner_path = format!(
                "{}/{owner_name}",
                collection_path(*owner, namespace.as_deref())
            );
            let get = http::Request::get(&owner_path)
                .body(Vec::new())
                .map_err(|e| ExecError::Transport(e.to_string()))?;
            match client.request::<Value>(get).await {
                Ok(found)
                    if found.pointer("/metadata/uid").and_then(Value::as_str)
                        == Some(owner_uid) =>
                {
                    return Ok(Value::Null); // the owner is there: nothing to collect
                }
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(ExecError::Transport(e.to_string())),
            }
            let delete = Action::Delete {
                target: *target,
                namespace: namespace.clone(),
                name: name.clone(),
                uid: uid.clone(),
                propagation: Some("Background"),
            };
            Box::pin(execute(client, &delete, component)).await
        }
        Action::ForceDeletePod {
            namespace,
            name,
            uid,
            unless_node,
        } => {
            if let Some(node) = unless_node {
                let get = http::Request::get(format!("/api/v1/nodes/{node}"))
                    .body(Vec::new())
                    .map_err(|e| ExecError::Transport(e.to_string()))?;
                match client.request::<Value>(get).await {
                    Ok(_) => return Ok(Value::Null), // the node is there after all
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(ExecError::Transport(e.to_string())),
                }
            }
            let path = format!(
                "{}/{name}",
                collection_path(Target::PODS, Some(namespace.as_str()))
            );
            let mut options =
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0});
            if let Some(uid) = uid {
                options["preconditions"] = json!({"uid": uid});
            }
            send(
                client,
                request(http::Method::DELETE, &path, "application/json", &options)?,
            )
            .await
        }
        Action::CleanNamespace { name } => clean_namespace(client, name).await,
        Action::Event {
            involved,
            event_type,
            reason,
            message,
        } => {
            let ns = involved
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let now = Time(Timestamp::now());
            let event = json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "generateName": format!("{}.", involved.name.as_deref().unwrap_or("object")),
                    "namespace": ns,
                },
                "involvedObject": involved,
                "type": event_type.as_str(),
                "reason": reason,
                "message": message,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": component},
                "reportingComponent": component,
            });
            let path = collection_path(Target::EVENTS, Some(&ns));
            send(
                client,
                request(http::Method::POST, &path, "application/json", &event)?,
            )
            .await
        }
    }
}

/// Write an Event the correlator decided on: a PATCH of the count of an Event written before
/// (created anew if it is gone), or a create.
pub async fn write_event(
    client: &kube::Client,
    write: &crate::events::EventWrite,
) -> Result<Value, ExecError> {
    let path = collection_path(Target::EVENTS, Some(&write.namespace));
    if write.patch {
        let patched = send(
            client,
            request(
                http::Method::PATCH,
                &format!("{path}/{}", write.name),
                "application/merge-patch+json",
                &write.patch_body(),
            )?,
        )
        .await;
        match patched {
            Err(ExecError::Refused { code: 404, .. }) => {}
            other => return other,
        }
    }
    send(
        client,
        request(http::Method::POST, &path, "application/json", &write.body)?,
    )
    .await
}

/// Every namespaced collection the namespace controller empties.
const NAMESPACED: &[Target] = &[
    Target::DEPLOYMENTS,
    Target::DAEMONSETS,
    Target::STATEFULSETS,
    Target::CRONJOBS,
    Target::JOBS,
    Target::REPLICASETS,
    Target::CONTROLLERREVISIONS,
    Target::PODS,
    Target {
        api_version: "v1",
        plural: "services",
    },
    Target::ENDPOINTS,
    Target::ENDPOINTSLICES,
    Target {
        api_version: "v1",
        plural: "configmaps",
    },
    Target {
        api_version: "v1",
        plural: "secrets",
    },
    Target {
        api_version: "v1",
        plural: "serviceaccounts",
    },
    Target {
        api_version: "coordination.k8s.io/v1",
        plural: "leases",
    },
    Target {
        api_version: "autoscaling/v2",
        plural: "horizontalpodautoscalers",
    },
    Target::EVENTS,
];

/// Delete everything in the namespace; when all is gone, finalize it.
async fn clean_namespace(client: &kube::Client, name: &str) -> Result<Value, ExecError> {
    let transport = |e: &dyn std::fmt::Display| ExecError::Transport(e.to_string());
    let mut left = 0usize;
    for target in NAMESPACED {
        let path = collection_path(*target, Some(name));
        let del = http::Request::delete(&path)
            .body(Vec::new())
            .map_err(|e| transport(&e))?;
        match client.request::<Value>(del).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 => {}
            Err(e) => return Err(transport(&e)),
        }
        let list = http::Request::get(format!("{path}?limit=1"))
            .body(Vec::new())
            .map_err(|e| transport(&e))?;
        if let Ok(v) = client.request::<Value>(list).await {
            left += v.get("items").and_then(Value::as_array).map_or(0, Vec::len);
        }
    }
    if left > 0 {
        return Err(ExecError::Transport(format!(
            "namespace {name}: content still being deleted"
        )));
    }
    let path = format!("/api/v1/namespaces/{name}");
    let get = http::Request::get(&path)
        .body(Vec::new())
        .map_err(|e| transport(&e))?;
    let mut ns = match client.request::<Value>(get).await {
        Ok(v) => v,
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Value::Null),
        Err(e) => return Err(transport(&e)),
    };
    ns["spec"]["finalizers"] = json!([]);
    send(
        client,
        request(
            http::Method::PUT,
            &format!("{path}/finalize"),
            "application/json",
            &ns,
        )?,
    )
    .await
}

/// Whether a failure means "already done" (create of an existing object, delete of a missing
/// one, a precondition that no longer holds): the next reconcile sees the truth.
pub fn is_benign(action: &Action, err: &ExecError) -> bool {
    matches!(
        (action, err),
        (Action::Create { .. }, ExecError::Refused { code: 409, .. })
            | (
                Action::Delete { .. } | Action::ForceDeletePod { .. },
                ExecError::Refused {
                    code: 404 | 409,
                    ..
                }
            )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_api_layout() {
        assert_eq!(
            collection_path(Target::PODS, Some("default")),
            "/api/v1/namespaces/default/pods"
        );
        assert_eq!(collection_path(Target::NODES, None), "/api/v1/nodes");
        assert_eq!(
            collection_path(Target::REPLICASETS, Some("x")),
            "/apis/apps/v1/namespaces/x/replicasets"
        );
    }
}
