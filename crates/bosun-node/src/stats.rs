//! Resource usage: the kubelet's Summary API subset (`GET /stats/summary`) that
//! metrics-server reads — the node's and each running container's CPU and memory, with pods as
//! the sums of their containers. Field names are the kubelet's (`k8s.io/kubelet/pkg/apis/
//! stats/v1alpha1`). CPU rates (`usageNanoCores`) come from the difference between this and
//! the previous sample of the same thing.

use crate::runtime::{ContainerInfo, ContainerState, ContainerUsage};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    pub time: String,
    pub usage_nano_cores: u64,
    pub usage_core_nano_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    pub time: String,
    pub working_set_bytes: u64,
    pub usage_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    pub node_name: String,
    pub cpu: CpuStats,
    pub memory: MemoryStats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodReference {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    pub name: String,
    pub start_time: String,
    pub cpu: CpuStats,
    pub memory: MemoryStats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStats {
    pub pod_ref: PodReference,
    pub start_time: String,
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub containers: Vec<ContainerStats>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub node: NodeStats,
    pub pods: Vec<PodStats>,
}

/// A cumulative CPU reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    pub at: Timestamp,
    pub core_nanoseconds: u64,
}

/// CPU in nanocores between two readings; none without an earlier one (or when the counter
/// went back: a new container under the same key).
pub fn nano_cores(previous: Option<CpuSample>, now: CpuSample) -> Option<u64> {
    let p = previous?;
    let wall = now.at.duration_since(p.at).as_nanos();
    if wall <= 0 || now.core_nanoseconds < p.core_nanoseconds {
        return None;
    }
    let used = u128::from(now.core_nanoseconds - p.core_nanoseconds);
    u64::try_from(used * 1_000_000_000 / wall.unsigned_abs()).ok()
}

/// The last CPU reading of each thing, for rates.
#[derive(Debug, Default)]
pub struct Rates {
    last: Mutex<HashMap<String, CpuSample>>,
}

impl Rates {
    /// Record `now` for `key`; the rate since the previous reading.
    pub fn observe(&self, key: &str, now: CpuSample) -> Option<u64> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let previous = last.insert(key.to_string(), now);
        nano_cores(previous, now)
    }

    pub fn is_empty(&self) -> bool {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
    }

    /// Forget keys not in `keep`.
    pub fn retain(&self, keep: &dyn Fn(&str) -> bool) {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|k, _| keep(k));
    }
}

/// The node's own usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeUsage {
    pub core_nanoseconds: u64,
    pub memory_usage_bytes: u64,
    pub memory_working_set_bytes: u64,
}

/// The node's usage from `/proc/stat` and `/proc/meminfo` text: CPU time spent not idle, and
/// memory in use (working set: all but what is available; usage: all but what is free).
pub fn node_usage_from(stat: &str, meminfo: &str) -> NodeUsage {
    let ticks: u64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(|v| v.parse::<u64>().unwrap_or(0))
                .enumerate()
                // user nice system idle iowait irq softirq steal: all but idle and iowait.
                .filter(|(i, _)| matches!(i, 0 | 1 | 2 | 5 | 6 | 7))
                .map(|(_, v)| v)
                .sum()
        })
        .unwrap_or(0);
    let field = |name: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    let total = field("MemTotal:");
    NodeUsage {
        core_nanoseconds: ticks * TICK_NS,
        memory_usage_bytes: total.saturating_sub(field("MemFree:")),
        memory_working_set_bytes: total.saturating_sub(field("MemAvailable:")),
    }
}

/// `/proc` counts CPU time in USER_HZ ticks, 100 per second on Linux.
pub const TICK_NS: u64 = 10_000_000;

/// This host's usage.
pub fn node_usage() -> NodeUsage {
    node_usage_from(
        &std::fs::read_to_string("/proc/stat").unwrap_or_default(),
        &std::fs::read_to_string("/proc/meminfo").unwrap_or_default(),
    )
}

/// Build the summary: the node, then each pod (known by `pods`, uid → (namespace, name))
/// with its running containers' usage; `rate` turns a key and a reading into nanocores.
pub fn summary(
    node_name: &str,
    at: Timestamp,
    node: NodeUsage,
    containers: &[ContainerInfo],
    usage: &HashMap<String, ContainerUsage>,
    pods: &HashMap<String, (String, String)>,
    rate: &dyn Fn(&str, CpuSample) -> Option<u64>,
) -> Summary {
    let time = at.to_string();
    let cpu = |key: &str, core_ns: u64| CpuStats {
        time: time.clone(),
        usage_nano_cores: rate(
            key,
            CpuSample {
                at,
                core_nanoseconds: core_ns,
            },
        )
        .unwrap_or(0),
        usage_core_nano_seconds: core_ns,
    };
    let memory = |working_set: u64, usage: u64| MemoryStats {
        time: time.clone(),
        working_set_bytes: working_set,
        usage_bytes: usage,
    };
    let node_stats = NodeStats {
        node_name: node_name.to_string(),
        cpu: cpu("node", node.core_nanoseconds),
        memory: memory(node.memory_working_set_bytes, node.memory_usage_bytes),
    };
    let mut by_pod: BTreeMap<&str, Vec<(&ContainerInfo, &ContainerUsage)>> = BTreeMap::new();
    for c in containers {
        if let (ContainerState::Running { .. }, Some(u)) = (&c.state, usage.get(&c.id)) {
            by_pod.entry(c.pod_uid.as_str()).or_default().push((c, u));
        }
    }
    let mut pod_stats = Vec::new();
    for (uid, runs) in by_pod {
        let Some((namespace, name)) = pods.get(uid) else {
            continue;
        };
        let mut containers = Vec::new();
        let (mut nano, mut core, mut ws, mut used) = (0u64, 0u64, 0u64, 0u64);
        let mut start: Option<Timestamp> = None;
        for (c, u) in runs {
            let ContainerState::Running { started_at } = c.state else {
                continue;
            };
            start = Some(start.map_or(started_at, |s| s.min(started_at)));
            let cs = cpu(&c.id, u.cpu_core_nanoseconds);
            nano += cs.usage_nano_cores;
            core += u.cpu_core_nanoseconds;
            ws += u.memory_working_set_bytes;
            used += u.memory_usage_bytes;
            containers.push(ContainerStats {
                name: c.name.clone(),
                start_time: started_at.to_string(),
                cpu: cs,
                memory: memory(u.memory_working_set_bytes, u.memory_usage_bytes),
            });
        }
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        pod_stats.push(PodStats {
            pod_ref: PodReference {
                name: name.clone(),
                namespace: namespace.clone(),
                uid: uid.to_string(),
            },
            start_time: start.unwrap_or(at).to_string(),
            cpu: CpuStats {
                time: time.clone(),
                usage_nano_cores: nano,
                usage_core_nano_seconds: core,
            },
            memory: memory(ws, used),
            containers,
        });
    }
    Summary {
        node: node_stats,
        pods: pod_stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("time")
    }

    #[test]
    fn nano_cores_are_cpu_time_over_wall_time() {
        let a = CpuSample {
            at: t(0),
            core_nanoseconds: 1_000_000_000,
        };
        let b = CpuSample {
            at: t(2),
            core_nanoseconds: 2_000_000_000,
        };
        assert_eq!(nano_cores(Some(a), b), Some(500_000_000), "half a core");
        assert_eq!(nano_cores(None, b), None);
        assert_eq!(nano_cores(Some(b), a), None, "a counter that went back");
        assert_eq!(nano_cores(Some(a), a), None);
    }

    #[test]
    fn node_usage_reads_busy_ticks_and_memory() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3\n";
        let meminfo = "MemTotal:       1000 kB\nMemFree:         200 kB\nMemAvailable:    600 kB\n";
        let u = node_usage_from(stat, meminfo);
        assert_eq!(u.core_nanoseconds, (100 + 5 + 50 + 3 + 2 + 1) * TICK_NS);
        assert_eq!(u.memory_usage_bytes, 800 * 1024);
        assert_eq!(u.memory_working_set_bytes, 400 * 1024);
    }

    #[test]
    fn the_summary_has_the_kubelet_field_names_and_pods_sum_their_containers() {
        let running = |id: &str, uid: &str, name: &str| ContainerInfo {
            id: id.into(),
            pod_uid: uid.into(),
            name: name.into(),
            attempt: 0,
            state: ContainerState::Running { started_at: t(0) },
        };
        let containers = vec![
            running("a", "u1", "web"),
            running("b", "u1", "side"),
            running("c", "gone", "x"),
        ];
        let usage = HashMap::from([
            (
                "a".to_string(),
                ContainerUsage {
                    cpu_core_nanoseconds: 3_000,
                    memory_usage_bytes: 20,
                    memory_working_set_bytes: 10,
                },
            ),
            (
                "b".to_string(),
                ContainerUsage {
                    cpu_core_nanoseconds: 1_000,
                    memory_usage_bytes: 2,
                    memory_working_set_bytes: 1,
                },
            ),
        ]);
        let pods = HashMap::from([(
            "u1".to_string(),
            ("default".to_string(), "web-1".to_string()),
        )]);
        let node = NodeUsage {
            core_nanoseconds: 9,
            memory_usage_bytes: 8,
            memory_working_set_bytes: 7,
        };
        let s = summary("n1", t(10), node, &containers, &usage, &pods, &|_, _| {
            Some(5)
        });
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["node"]["nodeName"], "n1");
        assert_eq!(json["node"]["cpu"]["usageCoreNanoSeconds"], 9);
        assert_eq!(json["node"]["cpu"]["usageNanoCores"], 5);
        assert_eq!(json["node"]["memory"]["workingSetBytes"], 7);
        assert_eq!(json["node"]["memory"]["usageBytes"], 8);
        let pods = json["pods"].as_array().expect("pods");
        assert_eq!(pods.len(), 1, "only pods the agent knows, with usage");
        let p = &pods[0];
        assert_eq!(
            p["podRef"],
            serde_json::json!({"name": "web-1", "namespace": "default", "uid": "u1"})
        );
        assert_eq!(p["cpu"]["usageCoreNanoSeconds"], 4_000);
        assert_eq!(p["cpu"]["usageNanoCores"], 10);
        assert_eq!(p["memory"]["workingSetBytes"], 11);
        assert_eq!(p["containers"][0]["name"], "side");
        assert_eq!(p["containers"][1]["memory"]["usageBytes"], 20);
        assert_eq!(p["containers"][1]["cpu"]["time"], t(10).to_string());
    }
}
