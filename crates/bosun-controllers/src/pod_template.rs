//! Objects built from templates: pods from a PodTemplateSpec with their controller's
//! reference, and the `pod-template-hash` that names a Deployment's ReplicaSets.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// The characters Kubernetes uses in generated name suffixes (no vowels, no confusables).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a, 32 bits.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A number as characters from the safe alphabet (like Kubernetes' SafeEncodeString of its
/// decimal form).
pub fn safe_encode(n: u64) -> String {
    n.to_string()
        .bytes()
        .map(|d| char::from(ALPHANUMS[usize::from(d - b'0') % ALPHANUMS.len()]))
        .collect()
}

/// The `pod-template-hash` of a template and collision count: stable across processes.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut text = serde_json::to_string(template).unwrap_or_default();
    if let Some(c) = collision_count {
        text.push_str(&c.to_string());
    }
    safe_encode(u64::from(fnv32a(text.as_bytes())))
}

/// A 5-character name suffix, deterministic in its inputs (so decisions stay pure).
pub fn name_suffix(seed: &str, now: Timestamp, index: usize) -> String {
    let text = format!("{seed}/{}/{index}", now.as_nanosecond());
    let h = fnv32a(text.as_bytes());
    (0..5)
        .map(|i| char::from(ALPHANUMS[((h >> (i * 6)) as usize) % ALPHANUMS.len()]))
        .collect()
}

/// A pod (JSON) from a template: labels, annotations and spec from it, the controller's
/// reference, a name.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    name: &str,
    namespace: &str,
    owner: &OwnerReference,
) -> Value {
    let meta = template.metadata.clone().unwrap_or_default();
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": [owner],
        },
        "spec": template.spec,
    });
    if let Some(labels) = meta.labels {
        pod["metadata"]["labels"] = json!(labels);
    }
    if let Some(annotations) = meta.annotations {
        pod["metadata"]["annotations"] = json!(annotations);
    }
    if let Some(finalizers) = meta.finalizers {
        pod["metadata"]["finalizers"] = json!(finalizers);
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_change_with_the_template_and_collisions() {
        let mut t = PodTemplateSpec::default();
        let a = template_hash(&t, None);
        assert_eq!(a, template_hash(&t, None));
        assert_ne!(a, template_hash(&t, Some(1)));
        t.metadata = Some(Default::default());
        if let Some(m) = t.metadata.as_mut() {
            m.labels = Some([("a".to_string(), "b".to_string())].into());
        }
        assert_ne!(a, template_hash(&t, None));
        assert!(a.chars().all(|c| ALPHANUMS.contains(&(c as u8))));
    }

    #[test]
    fn name_suffixes_differ_by_index_and_time() {
        let t0 = Timestamp::UNIX_EPOCH;
        let a = name_suffix("rs", t0, 0);
        assert_eq!(a.len(), 5);
        assert_ne!(a, name_suffix("rs", t0, 1));
        assert_eq!(a, name_suffix("rs", t0, 0));
    }
}
