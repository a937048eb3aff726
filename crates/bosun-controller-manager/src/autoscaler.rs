//! The HorizontalPodAutoscaler runner: every sync period, each HPA's target scale (its `/scale`
//! subresource), its pods (from the pod cache, by the scale's selector) and their usage (from
//! metrics.k8s.io, through the API server) go into `bosun_controllers::hpa::reconcile`, whose
//! actions are performed like any controller's. The decision's memory (recent recommendations
//! and scale events) is kept here per HPA, as kube-controller-manager keeps it in memory.

use crate::caches::Caches;
use crate::executor::{self, collection_path};
use bosun_controllers::hpa::{self, Memory, PodUsage, Scale};
use bosun_controllers::pod::Pod;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const COMPONENT: &str = "horizontal-pod-autoscaler";

/// Run until `stop`: one pass over every HPA per [`hpa::SYNC_PERIOD`].
pub async fn run(client: kube::Client, caches: Caches, stop: CancellationToken) {
    let mut memory: HashMap<String, Memory> = HashMap::new();
    let mut tick = tokio::time::interval(hpa::SYNC_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let hpas = match Api::<HorizontalPodAutoscaler>::all(client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(list) => list.items,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list HorizontalPodAutoscalers");
                continue;
            }
        };
        memory.retain(|uid, _| {
            hpas.iter()
                .any(|h| h.metadata.uid.as_deref() == Some(uid.as_str()))
        });
        for h in &hpas {
            let uid = h.metadata.uid.clone().unwrap_or_default();
            let remembered = memory.get(&uid).cloned().unwrap_or_default();
            let next = reconcile_one(&client, &caches, h, &remembered).await;
            memory.insert(uid, next);
        }
    }
}

async fn get_json(client: &kube::Client, path: &str) -> Option<Value> {
    let req = http::Request::get(path)
        .header("accept", "application/json")
        .body(Vec::new())
        .ok()?;
    client.request::<Value>(req).await.ok()
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The usage of each pod of a PodMetricsList, by pod name, summed over its containers.
pub fn usage_of(pod_metrics: &Value) -> BTreeMap<String, PodUsage> {
    let mut out = BTreeMap::new();
    for item in pod_metrics["items"].as_array().into_iter().flatten() {
        let Some(name) = item.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        let (mut cpu, mut memory) = (0i64, 0i64);
        for c in item["containers"].as_array().into_iter().flatten() {
            cpu += c
                .pointer("/usage/cpu")
                .and_then(Value::as_str)
                .and_then(bosun_api::quantity::milli)
                .unwrap_or(0);
            memory += c
                .pointer("/usage/memory")
                .and_then(Value::as_str)
                .and_then(bosun_api::quantity::units)
                .unwrap_or(0);
        }
        let timestamp = item["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .unwrap_or_else(Timestamp::now);
        let window = item["window"]
            .as_str()
            .and_then(|w| w.strip_suffix('s'))
            .and_then(|s| s.parse::<f64>().ok())
            .map_or(SignedDuration::from_secs(15), |s| {
                SignedDuration::from_millis((s * 1000.0) as i64)
            });
        out.insert(
            name.to_string(),
            PodUsage {
                milli_cpu: cpu,
                memory_bytes: memory,
                timestamp,
                window,
            },
        );
    }
    out
}

async fn reconcile_one(
    client: &kube::Client,
    caches: &Caches,
    h: &HorizontalPodAutoscaler,
    memory: &Memory,
) -> Memory {
    let ns = h.metadata.namespace.clone().unwrap_or_default();
    let reference = h.spec.as_ref().map(|s| &s.scale_target_ref);
    let target = reference
        .and_then(|r| hpa::scale_target(r.api_version.as_deref().unwrap_or_default(), &r.kind));
    let scale_doc = match (target, reference) {
        (Some(t), Some(r)) => {
            get_json(
                client,
                &format!("{}/{}/scale", collection_path(t, Some(&ns)), r.name),
            )
            .await
        }
        _ => None,
    };
    let selector = scale_doc
        .as_ref()
        .and_then(|s| s.pointer("/status/selector"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let parsed = bosun_api::LabelSelector::parse(&selector).ok();
    let pods: Vec<Arc<Pod>> = caches
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns.as_str()))
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            parsed.as_ref().is_some_and(|s| s.matches(&labels))
        })
        .collect();
    let scale = match (target, &scale_doc) {
        (Some(t), Some(doc)) => Some(Scale {
            target: t,
            replicas: doc
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0) as i32,
            pods: pods.iter().map(|p| p.as_ref()).collect(),
        }),
        _ => None,
    };
    let usage = if scale.is_some() && !selector.is_empty() {
        get_json(
            client,
            &format!(
                "/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods?labelSelector={}",
                query_escape(&selector)
            ),
        )
        .await
        .map(|doc| usage_of(&doc))
    } else {
        None
    };
    let decision = hpa::reconcile(h, scale.as_ref(), usage.as_ref(), memory, Timestamp::now());
    for action in &decision.reconcile.actions {
        if let Err(e) = executor::execute(client, action, COMPONENT).await {
            tracing::warn!(error = %e, ?action, "autoscaler action failed");
        }
    }
    decision.memory
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_metrics_become_usage_per_pod() {
        let doc = json!({"items": [
            {"metadata": {"name": "a"}, "timestamp": "2026-11-27T10:00:00Z", "window": "10.5s",
             "containers": [
                {"name": "x", "usage": {"cpu": "150000000n", "memory": "1024Ki"}},
                {"name": "y", "usage": {"cpu": "50m", "memory": "1Mi"}}]},
            {"metadata": {"name": "b"}, "containers": []}
        ]});
        let usage = usage_of(&doc);
        let a = usage["a"];
        assert_eq!((a.milli_cpu, a.memory_bytes), (200, 2 * 1024 * 1024));
        assert_eq!(a.window, SignedDuration::from_millis(10_500));
        assert_eq!(
            a.timestamp,
            "2026-11-27T10:00:00Z".parse::<Timestamp>().expect("time")
        );
        assert_eq!(usage["b"].milli_cpu, 0);
    }

    #[test]
    fn selectors_are_escaped_for_the_query_string() {
        assert_eq!(
            query_escape("app=web,tier in (a,b)"),
            "app%3Dweb%2Ctier%20in%20%28a%2Cb%29"
        );
    }
}
