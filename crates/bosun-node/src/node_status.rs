//! The Node object an agent registers and keeps up to date, pure.

use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

/// What a node offers and how it is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub pod_cidr: String,
    pub cpu_milli: i64,
    pub memory_bytes: i64,
    pub max_pods: i64,
    pub labels: BTreeMap<String, String>,
    pub runtime: String,
    /// Whether cpu/memory limits are enforced, or why not.
    pub limits: Result<(), String>,
}

/// Annotation saying whether cpu/memory limits are enforced on this node.
pub const LIMITS_ANNOTATION: &str = "bosun.dev/limits-enforced";
/// Annotation saying why they are not, when they are not.
pub const LIMITS_REASON_ANNOTATION: &str = "bosun.dev/limits-not-enforced-reason";

/// The Node's annotations about limits.
pub fn limit_annotations(facts: &NodeFacts) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([(
        LIMITS_ANNOTATION.to_string(),
        facts.limits.is_ok().to_string(),
    )]);
    if let Err(reason) = &facts.limits {
        a.insert(LIMITS_REASON_ANNOTATION.to_string(), reason.clone());
    }
    a
}

fn cpu_quantity(milli: i64) -> Quantity {
    Quantity(if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    })
}

fn memory_quantity(bytes: i64) -> Quantity {
    Quantity(if bytes % 1024 == 0 {
        format!("{}Ki", bytes / 1024)
    } else {
        bytes.to_string()
    })
}

/// The Node's labels: the well-known ones, then the configured ones.
pub fn labels(facts: &NodeFacts) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), facts.name.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), arch().to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), arch().to_string()),
    ]);
    labels.extend(facts.labels.clone());
    labels
}

/// Go's name for this architecture, as Kubernetes labels use it.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The node conditions: Ready as the runtime says, no pressure.
pub fn conditions(
    ready: Result<(), String>,
    old: &[NodeCondition],
    now: Timestamp,
) -> Vec<NodeCondition> {
    let cond = |type_: &str, status: &str, reason: &str, message: String| {
        let since = old
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        NodeCondition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: Some(reason.to_string()),
            message: Some(message),
            last_heartbeat_time: Some(Time(now)),
            last_transition_time: Some(since),
        }
    };
    let mut out = vec![
        cond(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available".into(),
        ),
        cond(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure".into(),
        ),
        cond(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available".into(),
        ),
    ];
    out.push(match ready {
        Ok(()) => cond(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status".into(),
        ),
        Err(e) => cond(
            "Ready",
            "False",
            "KubeletNotReady",
            format!("container runtime is down: {e}"),
        ),
    });
    out
}

/// Whether the API's copy of the Node says something else about readiness than the agent
/// would post now (`healthy`: the runtime answers). The node controller sets Ready=Unknown
/// when it finds the Lease stale; an agent that is back re-posts at once, as the kubelet does
/// when its node differs from what it would report, rather than at its next status refresh.
pub fn ready_differs(node: &Node, healthy: bool) -> bool {
    let want = if healthy { "True" } else { "False" };
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_none_or(|c| c.status != want)
}

/// The whole Node for registration.
pub fn node(
    facts: &NodeFacts,
    images: Vec<ContainerImage>,
    ready: Result<(), String>,
    now: Timestamp,
) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(facts.name.clone()),
            labels: Some(labels(facts)),
            annotations: Some(limit_annotations(facts)),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(facts.pod_cidr.clone()),
            pod_cidrs: Some(vec![facts.pod_cidr.clone()]),
            ..NodeSpec::default()
        }),
        status: Some(status(facts, images, ready, &[], now)),
    }
}

/// The Node's status.
pub fn status(
    facts: &NodeFacts,
    images: Vec<ContainerImage>,
    ready: Result<(), String>,
    old_conditions: &[NodeCondition],
    now: Timestamp,
) -> NodeStatus {
    let resources = BTreeMap::from([
        ("cpu".to_string(), cpu_quantity(facts.cpu_milli)),
        ("memory".to_string(), memory_quantity(facts.memory_bytes)),
        ("pods".to_string(), Quantity(facts.max_pods.to_string())),
        ("ephemeral-storage".to_string(), Quantity("100Gi".into())),
    ]);
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(conditions(ready, old_conditions, now)),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: facts.address.clone(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: facts.name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(facts.port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: arch().into(),
            operating_system: "linux".into(),
            os_image: "bosun".into(),
            kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            container_runtime_version: format!("{}://{}", facts.runtime, env!("CARGO_PKG_VERSION")),
            kubelet_version: "v1.33.0-bosun".into(),
            kube_proxy_version: String::new(),
            machine_id: String::new(),
            system_uuid: String::new(),
            boot_id: String::new(),
            swap: None,
        }),
        images: Some(images),
        ..NodeStatus::default()
    }
}

/// This host's CPUs (millicores) and memory (bytes), from the OS.
pub fn host_resources() -> (i64, i64) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as i64);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<i64>().ok())
        })
        .map_or(8 << 30, |kb| kb * 1024);
    (cpus * 1000, mem)
}

#[cfg(test)]
mod tests {

    #[test]
    fn readiness_is_re_posted_when_the_apis_copy_says_otherwise() {
        let with_ready = |status: &str| Node {
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: status.into(),
                    ..NodeCondition::default()
                }]),
                ..NodeStatus::default()
            }),
            ..Node::default()
        };
        assert!(!ready_differs(&with_ready("True"), true));
        assert!(!ready_differs(&with_ready("False"), false));
        assert!(ready_differs(&with_ready("Unknown"), true));
        assert!(ready_differs(&with_ready("Unknown"), false));
        assert!(ready_differs(&with_ready("False"), true));
        assert!(ready_differs(&with_ready("True"), false));
        assert!(ready_differs(&Node::default(), true));
    }
    use super::*;

    fn facts() -> NodeFacts {
        NodeFacts {
            name: "n1".into(),
            address: "127.0.0.1".into(),
            port: 10250,
            pod_cidr: "127.1.0.0/24".into(),
            cpu_milli: 2000,
            memory_bytes: 4 << 30,
            max_pods: 110,
            labels: BTreeMap::from([("zone".into(), "a".into())]),
            runtime: "process".into(),
            limits: Err("no cgroups here".into()),
        }
    }

    #[test]
    fn a_registered_node_says_what_it_offers_and_how_to_reach_it() {
        let t = Timestamp::UNIX_EPOCH;
        let n = node(&facts(), Vec::new(), Ok(()), t);
        let annotations = n.metadata.annotations.clone().expect("annotations");
        assert_eq!(annotations[LIMITS_ANNOTATION], "false");
        assert_eq!(annotations[LIMITS_REASON_ANNOTATION], "no cgroups here");
        let labels = n.metadata.labels.expect("labels");
        assert_eq!(labels["kubernetes.io/hostname"], "n1");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(labels["zone"], "a");
        let s = n.status.expect("status");
        let cap = s.capacity.expect("capacity");
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "4194304Ki");
        assert_eq!(cap["pods"].0, "110");
        assert_eq!(
            s.daemon_endpoints
                .and_then(|d| d.kubelet_endpoint)
                .map(|e| e.port),
            Some(10250)
        );
        let ready = s
            .conditions
            .expect("conds")
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .expect("ready");
        assert_eq!(ready.status, "True");
    }

    #[test]
    fn a_failing_runtime_makes_the_node_not_ready_and_the_transition_time_moves_only_then() {
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = Timestamp::from_second(100).expect("t");
        let first = conditions(Ok(()), &[], t0);
        let again = conditions(Ok(()), &first, t1);
        let ready = |cs: &[NodeCondition]| {
            cs.iter()
                .find(|c| c.type_ == "Ready")
                .cloned()
                .expect("ready")
        };
        assert_eq!(ready(&again).last_transition_time, Some(Time(t0)));
        assert_eq!(ready(&again).last_heartbeat_time, Some(Time(t1)));
        let down = conditions(Err("boom".into()), &again, t1);
        assert_eq!(ready(&down).status, "False");
        assert_eq!(ready(&down).last_transition_time, Some(Time(t1)));
        assert!(ready(&down).message.unwrap_or_default().contains("boom"));
    }
}
