//! ImageLocality, as kube-scheduler's score: prefer nodes that already hold the pod's images,
//! weighing each image by its size and by how many nodes hold it (an image on every node says
//! little), between 23 MB and 1000 MB per container.

use crate::snapshot::NodeInfo;
use k8s_openapi::api::core::v1::Pod;

const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// An image name with the tag `latest` when it has neither tag nor digest, as kubelet
/// reports and kube-scheduler compares them.
pub fn normalized_image_name(name: &str) -> String {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    if name.contains('@') || name[slash..].contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// A pod's images as ImageLocality reads them, worked out once per scheduling cycle rather than
/// once per node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodImages {
    /// Normalized names of the containers' images (init containers included).
    pub names: Vec<String>,
    /// Containers counted, with or without an image.
    pub containers: i64,
}

/// The images of `pod`'s containers and init containers.
pub fn pod_images(pod: &Pod) -> PodImages {
    let Some(spec) = pod.spec.as_ref() else {
        return PodImages::default();
    };
    let containers: Vec<_> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    PodImages {
        names: containers
            .iter()
            .filter_map(|c| c.image.as_deref())
            .map(normalized_image_name)
            .collect(),
        containers: containers.len() as i64,
    }
}

/// The score, 0..=100: `nodes_with` gives how many of `total_nodes` hold an image.
pub fn score(
    images: &PodImages,
    info: &NodeInfo,
    nodes_with: &dyn Fn(&str) -> usize,
    total_nodes: usize,
) -> i64 {
    if images.containers == 0 {
        return 0;
    }
    let count = images.containers;
    let mut sum = 0i64;
    for image in &images.names {
        if let Some(size) = info.images.get(image) {
            let spread = nodes_with(image) as f64 / total_nodes.max(1) as f64;
            sum += (*size as f64 * spread) as i64;
        }
    }
    let max = MAX_CONTAINER_THRESHOLD * count.max(1);
    let sum = sum.clamp(MIN_THRESHOLD, max);
    100 * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn node(images: serde_json::Value) -> NodeInfo {
        NodeInfo::new(Arc::new(
            serde_json::from_value(
                json!({"metadata": {"name": "n"}, "status": {"images": images}}),
            )
            .expect("node"),
        ))
    }

    #[test]
    fn image_names_get_latest_unless_tagged_or_pinned() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.25"), "nginx:1.25");
        assert_eq!(
            normalized_image_name("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(normalized_image_name("app@sha256:abc"), "app@sha256:abc");
    }

    #[test]
    fn big_images_on_few_nodes_score_and_small_or_everywhere_ones_less() {
        let pod: Pod = serde_json::from_value(
            json!({"spec": {"containers": [{"name": "c", "image": "big:1"}]}}),
        )
        .expect("pod");
        let holder = node(json!([{"names": ["big:1"], "sizeBytes": 523 * MB}]));
        let bare = node(json!([]));
        // Held by every node: full weight, (523-23)/(1000-23) of 100.
        assert_eq!(score(&pod_images(&pod), &holder, &|_| 4, 4), 51);
        // Held by 1 of 4 nodes: a quarter of the size counts.
        assert_eq!(score(&pod_images(&pod), &holder, &|_| 1, 4), 11);
        assert_eq!(score(&pod_images(&pod), &bare, &|_| 1, 4), 0);
        let tiny = node(json!([{"names": ["big:1"], "sizeBytes": MB}]));
        assert_eq!(score(&pod_images(&pod), &tiny, &|_| 4, 4), 0);
    }
}
