//! metrics.k8s.io/v1beta1, served by the API server itself as metrics-server would: the usage
//! each node agent reports in the kubelet Summary API (`GET /stats/summary` on its HTTPS port,
//! read with the API server's kubelet-client identity, as logs are) becomes NodeMetrics and
//! PodMetrics, so `kubectl top nodes|pods` and the HorizontalPodAutoscaler work.
//!
//! The conversion is pure ([`node_metrics`], [`pod_metrics`]); the summaries are fetched from
//! every node concurrently and kept for [`FRESH_FOR`] so that a burst of requests costs one
//! round of node calls.

use crate::node_proxy::agent_endpoint;
use crate::registry;
use crate::response::{Result, json};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use bosun_api::{ApiError, FieldSelector, LabelSelector, ResourceInfo, resources};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long fetched summaries are reused.
pub const FRESH_FOR: Duration = Duration::from_secs(10);
/// How long one node may take to answer.
const NODE_TIMEOUT: Duration = Duration::from_secs(3);
/// The window metrics are reported over.
const WINDOW: &str = "10s";

/// The parts of the kubelet Summary API bosun reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub node: NodeStats,
    #[serde(default)]
    pub pods: Vec<PodStats>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    #[serde(default)]
    pub node_name: String,
    pub cpu: Option<CpuStats>,
    pub memory: Option<MemoryStats>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStats {
    pub pod_ref: PodReference,
    #[serde(default)]
    pub containers: Vec<ContainerStats>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodReference {
    pub name: String,
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    pub name: String,
    pub cpu: Option<CpuStats>,
    pub memory: Option<MemoryStats>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    pub time: Option<String>,
    pub usage_nano_cores: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    pub time: Option<String>,
    pub working_set_bytes: Option<u64>,
}

/// cpu as metrics-server writes it (nanocores) and memory in KiB.
fn usage(cpu: Option<&CpuStats>, memory: Option<&MemoryStats>) -> Option<Value> {
    let nano = cpu?.usage_nano_cores?;
    let bytes = memory?.working_set_bytes?;
    Some(json!({"cpu": format!("{nano}n"), "memory": format!("{}Ki", bytes / 1024)}))
}

fn timestamp(cpu: Option<&CpuStats>, now: &str) -> String {
    cpu.and_then(|c| c.time.clone())
        .unwrap_or_else(|| now.to_string())
}

/// A node's NodeMetrics, or `None` when its summary lacks usage. `labels` are the Node's.
pub fn node_metrics(summary: &Summary, labels: &Value, now: &str) -> Option<Value> {
    let n = &summary.node;
    let usage = usage(n.cpu.as_ref(), n.memory.as_ref())?;
    Some(json!({
        "kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": n.node_name, "creationTimestamp": now, "labels": labels},
        "timestamp": timestamp(n.cpu.as_ref(), now),
        "window": WINDOW,
        "usage": usage,
    }))
}

/// Every pod's PodMetrics in a summary; a pod any of whose containers lacks usage is left out,
/// as metrics-server does. `labels` looks up a pod's labels by (namespace, name).
pub fn pod_metrics(
    summary: &Summary,
    labels: &dyn Fn(&str, &str) -> Option<Value>,
    now: &str,
) -> Vec<Value> {
    summary
        .pods
        .iter()
        .filter_map(|p| {
            let containers: Option<Vec<Value>> = p
                .containers
                .iter()
                .map(|c| {
                    usage(c.cpu.as_ref(), c.memory.as_ref())
                        .map(|u| json!({"name": c.name, "usage": u}))
                })
                .collect();
            let containers = containers?;
            let labels = labels(&p.pod_ref.namespace, &p.pod_ref.name)?;
            Some(json!({
                "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": p.pod_ref.name, "namespace": p.pod_ref.namespace,
                    "creationTimestamp": now, "labels": labels},
                "timestamp": timestamp(p.containers.first().and_then(|c| c.cpu.as_ref()), now),
                "window": WINDOW,
                "containers": containers,
            }))
        })
        .collect()
}

/// Summaries by node name.
pub type Summaries = Arc<BTreeMap<String, Summary>>;

/// The summaries last fetched, and when.
#[derive(Debug, Default)]
pub struct SummaryCache {
    last: Mutex<Option<(Instant, Summaries)>>,
    /// Serializes refreshes so concurrent requests share one round of node calls.
    refresh: tokio::sync::Mutex<()>,
}

impl SummaryCache {
    fn fresh(&self) -> Option<Summaries> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|(at, _)| at.elapsed() < FRESH_FOR)
            .map(|(_, s)| s.clone())
    }
}

fn core(plural: &str) -> Result<&'static ResourceInfo> {
    resources::find("", "v1", plural)
        .ok_or_else(|| ApiError::internal(&format!("no {plural} resource")).into())
}

/// Every node's summary (nodes that do not answer are left out, as metrics-server does).
async fn summaries(state: &AppState, nodes: &[Value]) -> Result<Summaries> {
    let cache = state.summary_cache();
    if let Some(s) = cache.fresh() {
        return Ok(s);
    }
    let _one = cache.refresh.lock().await;
    if let Some(s) = cache.fresh() {
        return Ok(s);
    }
    let Some(client) = state.kubelet_client() else {
        return Err(ApiError::unavailable("this API server has no node agent client").into());
    };
    let calls = nodes.iter().filter_map(|node| {
        let name = node.pointer("/metadata/name")?.as_str()?.to_string();
        let (host, port) = agent_endpoint(node)?;
        let url = format!("https://{host}:{port}/stats/summary");
        let client = client.clone();
        Some(async move {
            let resp = client.get(&url).timeout(NODE_TIMEOUT).send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            let summary: Summary = resp.json().await.ok()?;
            Some((name, summary))
        })
    });
    let fetched: BTreeMap<String, Summary> = futures::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect();
    let fetched = Arc::new(fetched);
    *cache.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), fetched.clone()));
    Ok(fetched)
}

async fn all_of(state: &AppState, plural: &str, namespace: Option<&str>) -> Result<Vec<Value>> {
    let res = core(plural)?;
    let prefix = registry::prefix(res, namespace);
    let listed = crate::list::read_list(
        state.store(),
        res,
        &prefix,
        &crate::list::Filter::everything(),
        0,
        &HashMap::from([("resourceVersion".to_string(), "0".to_string())]),
    )
    .await?;
    Ok(listed.items)
}

/// GET on metrics.k8s.io/v1beta1 nodes or pods, one or a list, with label and field selectors.
pub async fn serve(
    state: &AppState,
    res: &'static ResourceInfo,
    namespace: Option<&str>,
    name: Option<&str>,
    query: &HashMap<String, String>,
) -> Result<Response> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let labels = query
        .get("labelSelector")
        .filter(|s| !s.is_empty())
        .map(|s| LabelSelector::parse(s))
        .transpose()?;
    let fields = query
        .get("fieldSelector")
        .filter(|s| !s.is_empty())
        .map(|s| FieldSelector::parse(s, res))
        .transpose()?;
    let nodes = all_of(state, "nodes", None).await?;
    let summaries = summaries(state, &nodes).await?;
    let mut items: Vec<Value> = if res.kind == "NodeMetrics" {
        let node_labels: HashMap<&str, &Value> = nodes
            .iter()
            .filter_map(|n| {
                Some((
                    n.pointer("/metadata/name")?.as_str()?,
                    n.pointer("/metadata/labels").unwrap_or(&Value::Null),
                ))
            })
            .collect();
        summaries
            .iter()
            .filter_map(|(node, s)| {
                let labels = node_labels.get(node.as_str())?;
                node_metrics(s, labels, &now)
            })
            .collect()
    } else {
        let pods = all_of(state, "pods", namespace).await?;
        let pod_labels: HashMap<(&str, &str), Value> = pods
            .iter()
            .filter_map(|p| {
                Some((
                    (
                        p.pointer("/metadata/namespace")?.as_str()?,
                        p.pointer("/metadata/name")?.as_str()?,
                    ),
                    p.pointer("/metadata/labels")
                        .cloned()
                        .unwrap_or(Value::Null),
                ))
            })
            .collect();
        let lookup = |ns: &str, name: &str| pod_labels.get(&(ns, name)).cloned();
        summaries
            .values()
            .flat_map(|s| pod_metrics(s, &lookup, &now))
            .filter(|m| {
                namespace.is_none_or(|ns| m.pointer("/metadata/namespace") == Some(&json!(ns)))
            })
            .collect()
    };
    items.retain(|m| {
        labels
            .as_ref()
            .is_none_or(|l| l.matches(&crate::object::labels(m)))
            && fields.as_ref().is_none_or(|f| f.matches(m))
    });
    items.sort_by(|a, b| {
        let key = |m: &Value| {
            (
                m.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                m.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    if let Some(name) = name {
        return match items
            .into_iter()
            .find(|m| m.pointer("/metadata/name") == Some(&json!(name)))
        {
            Some(m) => Ok(json(StatusCode::OK, &m)),
            None => Err(ApiError::not_found(res, name).into()),
        };
    }
    Ok(json(
        StatusCode::OK,
        &json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": {}, "items": items}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        serde_json::from_value(json!({
            "node": {"nodeName": "n1",
                "cpu": {"time": "2026-11-27T10:00:00Z", "usageNanoCores": 250_000_000u64, "usageCoreNanoSeconds": 9},
                "memory": {"time": "2026-11-27T10:00:00Z", "workingSetBytes": 2048 * 1024, "usageBytes": 4096 * 1024}},
            "pods": [
                {"podRef": {"name": "web", "namespace": "default", "uid": "u1"},
                 "containers": [
                    {"name": "app", "cpu": {"time": "2026-11-27T10:00:01Z", "usageNanoCores": 1_000_000u64},
                     "memory": {"workingSetBytes": 10 * 1024 * 1024}},
                    {"name": "side", "cpu": {"usageNanoCores": 0u64}, "memory": {"workingSetBytes": 4096}}]},
                {"podRef": {"name": "half", "namespace": "default"},
                 "containers": [{"name": "app", "cpu": {"usageNanoCores": 5u64}}]},
                {"podRef": {"name": "gone", "namespace": "default"},
                 "containers": [{"name": "app", "cpu": {"usageNanoCores": 5u64}, "memory": {"workingSetBytes": 1}}]}
            ]
        }))
        .expect("summary")
    }

    #[test]
    fn node_usage_is_nanocores_and_kibibytes() {
        let m = node_metrics(&summary(), &json!({"zone": "a"}), "2026-11-27T10:00:05Z")
            .expect("metrics");
        assert_eq!(m["metadata"]["name"], "n1");
        assert_eq!(m["metadata"]["labels"]["zone"], "a");
        assert_eq!(m["usage"], json!({"cpu": "250000000n", "memory": "2048Ki"}));
        assert_eq!(m["timestamp"], "2026-11-27T10:00:00Z");
        assert_eq!(m["window"], WINDOW);
        assert_eq!(bosun_api::quantity::milli("250000000n"), Some(250));
        assert_eq!(bosun_api::quantity::units("2048Ki"), Some(2048 * 1024));
    }

    #[test]
    fn pods_need_usage_for_every_container_and_to_exist() {
        let labels = |ns: &str, name: &str| {
            (ns == "default" && name != "gone").then(|| json!({"app": name}))
        };
        let pods = pod_metrics(&summary(), &labels, "now");
        assert_eq!(pods.len(), 1, "{pods:?}");
        let web = &pods[0];
        assert_eq!(web["metadata"]["name"], "web");
        assert_eq!(web["metadata"]["labels"]["app"], "web");
        assert_eq!(web["timestamp"], "2026-11-27T10:00:01Z");
        assert_eq!(
            web["containers"],
            json!([
                {"name": "app", "usage": {"cpu": "1000000n", "memory": "10240Ki"}},
                {"name": "side", "usage": {"cpu": "0n", "memory": "4Ki"}}
            ])
        );
    }

    #[test]
    fn a_node_without_usage_has_no_metrics() {
        let mut s = summary();
        s.node.memory = None;
        assert_eq!(node_metrics(&s, &Value::Null, "now"), None);
    }
}
