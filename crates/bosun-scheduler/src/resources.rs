//! Resource amounts as the scheduler counts them: millicores, bytes, pod slots, and every
//! other resource (extended resources such as `example.com/gpu`, `ephemeral-storage`,
//! `hugepages-2Mi`) as whole units.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// Amounts of the resources the scheduler fits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub pods: i64,
    /// Every other resource by name, sorted, in whole units (bytes for storage).
    pub scalar: Vec<(String, i64)>,
}

impl Resources {
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.pods += other.pods;
        for (name, v) in &other.scalar {
            self.add_scalar(name, *v);
        }
    }

    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.pods -= other.pods;
        for (name, v) in &other.scalar {
            self.add_scalar(name, -v);
        }
    }

    /// The amount of a resource other than cpu, memory and pods.
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map_or(0, |i| self.scalar[i].1)
    }

    fn add_scalar(&mut self, name: &str, v: i64) {
        match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].1 += v,
            Err(i) => self.scalar.insert(i, (name.to_string(), v)),
        }
    }

    /// The larger of each amount (an init container against the running ones).
    fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        for (name, v) in &other.scalar {
            let cur = self.scalar(name);
            if *v > cur {
                self.add_scalar(name, v - cur);
            }
        }
    }
}

/// A quantity scaled: `scale` 1000 gives milli-units (cpu), 1 gives whole units rounded up
/// (memory bytes), exactly as `bosun_api::quantity` computes them. Unparseable quantities count
/// as zero (validation rejects them earlier).
pub fn parse_quantity(q: &str, scale: i64) -> i64 {
    bosun_api::quantity::scaled(q, scale).unwrap_or(0)
}

fn amounts(map: Option<&BTreeMap<String, Quantity>>) -> Resources {
    let mut r = Resources::default();
    for (name, q) in map.into_iter().flatten() {
        match name.as_str() {
            "cpu" => r.milli_cpu = parse_quantity(&q.0, 1000),
            "memory" => r.memory = parse_quantity(&q.0, 1),
            "pods" => r.pods = parse_quantity(&q.0, 1),
            // A BTreeMap iterates sorted, so `scalar` stays sorted.
            other => r.scalar.push((other.to_string(), parse_quantity(&q.0, 1))),
        }
    }
    r
}

/// What a pod requests: the larger of its containers' sum and its largest init container,
/// plus overhead; one pod slot.
pub fn pod_requests(pod: &Pod) -> Resources {
    let Some(spec) = &pod.spec else {
        return Resources {
            pods: 1,
            ..Resources::default()
        };
    };
    let mut sum = Resources::default();
    for c in &spec.containers {
        sum.add(&amounts(
            c.resources.as_ref().and_then(|r| r.requests.as_ref()),
        ));
    }
    for c in spec.init_containers.iter().flatten() {
        let r = amounts(c.resources.as_ref().and_then(|r| r.requests.as_ref()));
        sum.max_with(&r);
    }
    sum.add(&amounts(spec.overhead.as_ref()));
    sum.pods = 1;
    sum
}

/// What a node offers: status.allocatable, else capacity.
pub fn node_allocatable(node: &Node) -> Resources {
    let status = node.status.as_ref();
    amounts(status.and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(parse_quantity("250m", 1000), 250);
        assert_eq!(parse_quantity("2", 1000), 2000);
        assert_eq!(parse_quantity("0.5", 1000), 500);
        assert_eq!(parse_quantity("1Gi", 1), 1 << 30);
        assert_eq!(parse_quantity("128Mi", 1), 128 << 20);
        assert_eq!(parse_quantity("1k", 1), 1000);
        assert_eq!(parse_quantity("1e3", 1), 1000);
        assert_eq!(parse_quantity("bogus", 1), 0);
        // Exact decimal arithmetic: a float parse would make 0.1 cpu 101m.
        assert_eq!(parse_quantity("0.1", 1000), 100);
        assert_eq!(parse_quantity("1.1", 1000), 1100);
    }

    #[test]
    fn extended_resources_add_up_and_init_containers_take_the_larger() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "1", "example.com/gpu": "1"}}},
                    {"name": "b", "resources": {"requests": {"example.com/gpu": "2", "ephemeral-storage": "1Gi"}}}
                ],
                "initContainers": [{"name": "i", "resources": {"requests": {"example.com/gpu": "4", "cpu": "500m"}}}]
            }
        }))
        .expect("pod");
        let r = pod_requests(&pod);
        assert_eq!(r.milli_cpu, 1000);
        assert_eq!(r.scalar("example.com/gpu"), 4);
        assert_eq!(r.scalar("ephemeral-storage"), 1 << 30);
        let mut node = Resources::default();
        node.add(&r);
        node.add(&r);
        node.sub(&r);
        assert_eq!(node.scalar("example.com/gpu"), 4);
        assert_eq!(node.scalar("nothing"), 0);
    }
}
