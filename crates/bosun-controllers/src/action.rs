//! What a controller's decision asks the runner to do.

use k8s_openapi::api::core::v1::ObjectReference;
use serde_json::Value;
use std::time::Duration;

/// The REST collection an action addresses: `apiVersion` and plural resource name, e.g.
/// `("apps/v1", "replicasets")`. The runner turns it into a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    pub api_version: &'static str,
    pub plural: &'static str,
}

impl Target {
    pub const PODS: Target = Target {
        api_version: "v1",
        plural: "pods",
    };
    pub const EVENTS: Target = Target {
        api_version: "v1",
        plural: "events",
    };
    pub const NODES: Target = Target {
        api_version: "v1",
        plural: "nodes",
    };
    pub const ENDPOINTS: Target = Target {
        api_version: "v1",
        plural: "endpoints",
    };
    pub const REPLICASETS: Target = Target {
        api_version: "apps/v1",
        plural: "replicasets",
    };
    pub const DEPLOYMENTS: Target = Target {
        api_version: "apps/v1",
        plural: "deployments",
    };
    pub const DAEMONSETS: Target = Target {
        api_version: "apps/v1",
        plural: "daemonsets",
    };
    pub const STATEFULSETS: Target = Target {
        api_version: "apps/v1",
        plural: "statefulsets",
    };
    pub const CONTROLLERREVISIONS: Target = Target {
        api_version: "apps/v1",
        plural: "controllerrevisions",
    };
    pub const JOBS: Target = Target {
        api_version: "batch/v1",
        plural: "jobs",
    };
    pub const CRONJOBS: Target = Target {
        api_version: "batch/v1",
        plural: "cronjobs",
    };
    pub const ENDPOINTSLICES: Target = Target {
        api_version: "discovery.k8s.io/v1",
        plural: "endpointslices",
    };
}

/// `Normal` or `Warning`, as an Event's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One thing for the runner to do. Objects are JSON as the API server takes them; a name may be
/// left out in favour of `metadata.generateName`.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// POST the object into the collection (namespaced when `namespace` is set).
    Create {
        target: Target,
        namespace: Option<String>,
        object: Value,
    },
    /// DELETE the object; `uid` is sent as a precondition so a newer object of the same name
    /// is never deleted by mistake. `propagation` is `Background`, `Foreground` or `Orphan`.
    Delete {
        target: Target,
        namespace: Option<String>,
        name: String,
        uid: Option<String>,
        propagation: Option<&'static str>,
    },
    /// A JSON merge patch (RFC 7386) of the object.
    MergePatch {
        target: Target,
        namespace: Option<String>,
        name: String,
        patch: Value,
    },
    /// A JSON merge patch of the `status` subresource: `status` is the new `.status` (fields
    /// left out keep their values; a JSON null removes one).
    PatchStatus {
        target: Target,
        namespace: Option<String>,
        name: String,
        status: Value,
    },
    /// Delete the object only if a live read shows its owner gone (or replaced by another
    /// object of the same name): caches may lag, the garbage collector must not.
    DeleteIfOwnerGone {
        target: Target,
        namespace: Option<String>,
        name: String,
        uid: Option<String>,
        owner: Target,
        owner_name: String,
        owner_uid: String,
    },
    /// Delete a pod at once (grace period 0), as the pod garbage collector does for pods no
    /// kubelet will finish; with `unless_node`, only if a live read shows that Node gone.
    ForceDeletePod {
        namespace: String,
        name: String,
        uid: Option<String>,
        unless_node: Option<String>,
    },
    /// Delete everything in a namespace being deleted; once nothing is left, finalize it
    /// (the runner retries until then).
    CleanNamespace { name: String },
    /// Record a core/v1 Event about `involved`.
    Event {
        involved: ObjectReference,
        event_type: EventType,
        reason: String,
        message: String,
    },
}

/// The result of one reconcile: actions in order, and when to reconcile again even if nothing
/// changes (for time-driven behaviour such as minReadySeconds or deadlines).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconcile {
    pub actions: Vec<Action>,
    pub requeue_after: Option<Duration>,
}

impl Reconcile {
    /// Keep the earliest of two requeue times.
    pub fn requeue_at_most(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |d| d.min(after)));
    }
}
