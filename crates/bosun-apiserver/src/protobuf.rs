//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which the typed
//! `kubectl create namespace|deployment|configmap|secret|job` commands send with no fallback.
//!
//! The body is Kubernetes' envelope (`k8s\0` + `runtime.Unknown`) around the typed message;
//! the messages come from `k8s-pb`. The conversion to JSON covers the fields those commands set
//! (metadata, data, selectors, pod templates with their containers); anything else in a protobuf
//! body is refused with 415 so a client can fall back to JSON.

use base64::Engine;
use bosun_api::ApiError;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// Decode a protobuf body into the JSON object it describes.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = |m: String| ApiError::bad_request(&format!("protobuf body: {m}"));
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing the k8s envelope".into()))?;
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(rest)
        .map_err(|e| bad(e.to_string()))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let decode_err = |e: prost::DecodeError| bad(format!("{kind}: {e}"));
    let mut obj = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => {
            let ns = core::Namespace::decode(raw.as_slice()).map_err(decode_err)?;
            json!({"metadata": object_meta(ns.metadata)})
        }
        ("v1", "ConfigMap") => {
            let cm = core::ConfigMap::decode(raw.as_slice()).map_err(decode_err)?;
            let mut o = json!({"metadata": object_meta(cm.metadata), "data": cm.data});
            if !cm.binary_data.is_empty() {
                o["binaryData"] = bytes_map(&cm.binary_data);
            }
            o
        }
        ("v1", "Secret") => {
            let s = core::Secret::decode(raw.as_slice()).map_err(decode_err)?;
            let mut o = json!({"metadata": object_meta(s.metadata), "data": bytes_map(&s.data)});
            if let Some(t) = s.r#type {
                o["type"] = json!(t);
            }
            if !s.string_data.is_empty() {
                o["stringData"] = json!(s.string_data);
            }
            o
        }
        ("apps/v1", "Deployment") => {
            let d =
                k8s_pb::api::apps::v1::Deployment::decode(raw.as_slice()).map_err(decode_err)?;
            let spec = d.spec.unwrap_or_default();
            let mut s = Map::new();
            opt(&mut s, "replicas", spec.replicas.map(|r| json!(r)));
            opt(&mut s, "selector", spec.selector.map(label_selector));
            opt(&mut s, "template", spec.template.map(pod_template));
            opt(
                &mut s,
                "strategy",
                spec.strategy
                    .and_then(|st| st.r#type)
                    .filter(|t| !t.is_empty())
                    .map(|t| json!({"type": t})),
            );
            json!({"metadata": object_meta(d.metadata), "spec": s})
        }
        ("batch/v1", "Job") => {
            let j = k8s_pb::api::batch::v1::Job::decode(raw.as_slice()).map_err(decode_err)?;
            let spec = j.spec.unwrap_or_default();
            let mut s = Map::new();
            opt(&mut s, "parallelism", spec.parallelism.map(|r| json!(r)));
            opt(&mut s, "completions", spec.completions.map(|r| json!(r)));
            opt(&mut s, "backoffLimit", spec.backoff_limit.map(|r| json!(r)));
            opt(&mut s, "template", spec.template.map(pod_template));
            json!({"metadata": object_meta(j.metadata), "spec": s})
        }
        _ => {
            return Err(ApiError::unsupported_media_type(&format!(
                "{CONTENT_TYPE} for {api_version} {kind} (send JSON or YAML)"
            )));
        }
    };
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(api_version));
        m.insert("kind".into(), json!(kind));
    }
    Ok(obj)
}

/// Set `key` unless the value is absent or an empty string (protobuf's unset strings).
fn opt(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(Value::String(s)) if s.is_empty() => {}
        Some(v) => {
            map.insert(key.into(), v);
        }
        None => {}
    }
}

fn bytes_map(m: &BTreeMap<String, Vec<u8>>) -> Value {
    let engine = base64::engine::general_purpose::STANDARD;
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), json!(engine.encode(v))))
            .collect(),
    )
}

fn object_meta(m: Option<meta::ObjectMeta>) -> Value {
    let m = m.unwrap_or_default();
    let mut out = Map::new();
    opt(&mut out, "name", m.name.map(Value::String));
    opt(&mut out, "generateName", m.generate_name.map(Value::String));
    opt(&mut out, "namespace", m.namespace.map(Value::String));
    if !m.labels.is_empty() {
        out.insert("labels".into(), json!(m.labels));
    }
    if !m.annotations.is_empty() {
        out.insert("annotations".into(), json!(m.annotations));
    }
    Value::Object(out)
}

fn label_selector(s: meta::LabelSelector) -> Value {
    let mut out = Map::new();
    if !s.match_labels.is_empty() {
        out.insert("matchLabels".into(), json!(s.match_labels));
    }
    if !s.match_expressions.is_empty() {
        let exprs: Vec<Value> = s
            .match_expressions
            .into_iter()
            .map(|e| json!({"key": e.key, "operator": e.operator, "values": e.values}))
            .collect();
        out.insert("matchExpressions".into(), json!(exprs));
    }
    Value::Object(out)
}

fn pod_template(t: core::PodTemplateSpec) -> Value {
    let spec = t.spec.unwrap_or_default();
    let mut s = Map::new();
    s.insert(
        "containers".into(),
        Value::Array(spec.containers.into_iter().map(container).collect()),
    );
    opt(
        &mut s,
        "restartPolicy",
        spec.restart_policy.map(Value::String),
    );
    json!({"metadata": object_meta(t.metadata), "spec": s})
}

fn container(c: core::Container) -> Value {
    let mut out = Map::new();
    opt(&mut out, "name", c.name.map(Value::String));
    opt(&mut out, "image", c.image.map(Value::String));
    if !c.command.is_empty() {
        out.insert("command".into(), json!(c.command));
    }
    if !c.args.is_empty() {
        out.insert("args".into(), json!(c.args));
    }
    if !c.ports.is_empty() {
        let ports: Vec<Value> = c
            .ports
            .into_iter()
            .map(|p| {
                let mut m = Map::new();
                opt(&mut m, "name", p.name.map(Value::String));
                opt(&mut m, "containerPort", p.container_port.map(|n| json!(n)));
                opt(&mut m, "protocol", p.protocol.map(Value::String));
                Value::Object(m)
            })
            .collect();
        out.insert("ports".into(), json!(ports));
    }
    if !c.env.is_empty() {
        let env: Vec<Value> = c
            .env
            .into_iter()
            .map(|e| json!({"name": e.name, "value": e.value}))
            .collect();
        out.insert("env".into(), json!(env));
    }
    if let Some(r) = c.resources {
        let q = |m: BTreeMap<String, k8s_pb::apimachinery::pkg::api::resource::Quantity>| -> Value {
            Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k, json!(v.string.unwrap_or_default())))
                    .collect(),
            )
        };
        let mut res = Map::new();
        if !r.limits.is_empty() {
            res.insert("limits".into(), q(r.limits));
        }
        if !r.requests.is_empty() {
            res.insert("requests".into(), q(r.requests));
        }
        out.insert("resources".into(), Value::Object(res));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(unknown.encode_to_vec());
        out
    }

    #[test]
    fn a_configmap_and_a_deployment_decode_to_their_json() {
        let cm = core::ConfigMap {
            metadata: Some(meta::ObjectMeta {
                name: Some("c".into()),
                ..Default::default()
            }),
            data: BTreeMap::from([("k".to_string(), "v".to_string())]),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "ConfigMap", cm.encode_to_vec())).expect("decode");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}})
        );

        let d = k8s_pb::api::apps::v1::Deployment {
            metadata: Some(meta::ObjectMeta {
                name: Some("web".into()),
                ..Default::default()
            }),
            spec: Some(k8s_pb::api::apps::v1::DeploymentSpec {
                replicas: Some(2),
                selector: Some(meta::LabelSelector {
                    match_labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
                    ..Default::default()
                }),
                template: Some(core::PodTemplateSpec {
                    metadata: Some(meta::ObjectMeta {
                        labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
                        ..Default::default()
                    }),
                    spec: Some(core::PodSpec {
                        containers: vec![core::Container {
                            name: Some("busybox".into()),
                            image: Some("busybox".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = decode(&envelope("apps/v1", "Deployment", d.encode_to_vec())).expect("decode");
        assert_eq!(v["spec"]["replicas"], 2);
        assert_eq!(v["spec"]["selector"]["matchLabels"]["app"], "web");
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["image"],
            "busybox"
        );
    }

    #[test]
    fn bodies_without_the_envelope_or_of_other_kinds_are_refused() {
        assert_eq!(decode(b"{}").expect_err("no envelope").code(), 400);
        assert_eq!(
            decode(&envelope("v1", "Pod", vec![]))
                .expect_err("unsupported")
                .code(),
            415
        );
    }
}
