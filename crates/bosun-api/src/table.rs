//! Server-side printing: objects as the `meta.k8s.io/v1` Table that `kubectl get` asks for, with
//! the columns and cells upstream's printers write for each kind
//! (kubernetes/pkg/printers/internalversion/printers.go).
//!
//! Like upstream's table convertor, every row carries the wide (priority 1) cells too; kubectl
//! shows them with `-o wide`. Objects are read as JSON, and fields an upstream API server would
//! have defaulted (`spec.replicas`, `spec.type`, ...) read as their defaults when absent.

use crate::resources::ResourceInfo;
use crate::selector::LabelSelector;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No `object`.
    None,
    /// A `meta.k8s.io/v1` `PartialObjectMetadata` with the object's metadata (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

/// Kubernetes' `duration.HumanDuration`: "5s", "3m2s", "10m", "5h3m", "2d3h", "45d", "2y3d".
pub fn human_duration(d: Duration) -> String {
    human_nanos(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// `HumanDuration` of a signed duration: a second of clock skew reads "0s", more "<invalid>".
fn human_nanos(nanos: i128) -> String {
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn parse_time(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Nanoseconds from `from` to `to`.
fn nanos_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i128 {
    let d = to.signed_duration_since(from);
    d.num_nanoseconds()
        .map_or_else(|| i128::from(d.num_milliseconds()) * 1_000_000, i128::from)
}

/// Upstream's `translateTimestampSince`: how long ago `ts` was, "<unknown>" when unset.
fn since(ts: Option<&str>, now: SystemTime) -> String {
    match ts.filter(|t| !t.is_empty()).and_then(parse_time) {
        Some(t) => human_nanos(nanos_between(t, DateTime::<Utc>::from(now))),
        None => "<unknown>".into(),
    }
}

/// The string at a JSON pointer.
fn text<'a>(o: &'a Value, ptr: &str) -> Option<&'a str> {
    o.pointer(ptr).and_then(Value::as_str)
}

/// The string at a JSON pointer, "" when absent.
fn text_or_empty<'a>(o: &'a Value, ptr: &str) -> &'a str {
    text(o, ptr).unwrap_or_default()
}

/// The integer at a JSON pointer, `default` when absent.
fn int(o: &Value, ptr: &str, default: i64) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(default)
}

/// The array at a JSON pointer, empty when absent.
fn list<'a>(o: &'a Value, ptr: &str) -> &'a [Value] {
    o.pointer(ptr)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A quantity or other scalar as text.
fn scalar(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

/// Upstream's `labels.FormatLabels`: `k=v` sorted by key, "<none>" when empty.
fn format_labels(map: Option<&Value>) -> String {
    let pairs: Vec<String> = map
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    none_if_empty(pairs.join(","))
}

/// Upstream's `metav1.FormatLabelSelector`: "<none>" when it selects everything or nothing,
/// "<error>" when invalid.
fn format_label_selector(sel: Option<&Value>) -> String {
    match LabelSelector::from_label_selector(sel.unwrap_or(&Value::Null)) {
        Ok(s) => none_if_empty(s.to_string()),
        Err(_) => "<error>".into(),
    }
}

/// Upstream's `layoutContainerCells`: names and images, comma-separated.
fn containers(pod_spec: Option<&Value>) -> (String, String) {
    let cs = pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let names: Vec<&str> = cs
        .iter()
        .map(|c| c.get("name").and_then(Value::as_str).unwrap_or_default())
        .collect();
    let images: Vec<&str> = cs
        .iter()
        .map(|c| c.get("image").and_then(Value::as_str).unwrap_or_default())
        .collect();
    (names.join(","), images.join(","))
}

/// Upstream's `listWithMoreString`: the first `max`, "+ N more...", "<unset>" when empty.
fn list_with_more(items: &[String], max: usize) -> String {
    if items.len() > max {
        return format!("{} + {} more...", items[..max].join(","), items.len() - max);
    }
    if items.is_empty() {
        return "<unset>".into();
    }
    items.join(",")
}

/// Upstream's `net.JoinHostPort`.
fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// One column definition.
#[derive(Debug, Clone, Copy)]
struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    priority: u8,
    description: &'static str,
}

const fn col(name: &'static str, kind: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind,
        format: "",
        priority: 0,
        description,
    }
}

/// A priority 1 (`-o wide`) column.
const fn wide(name: &'static str, kind: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind,
        format: "",
        priority: 1,
        description,
    }
}

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";
const SELECTOR_DOC: &str = "A label query over pods that should match the replicas count. Label keys and values that must match in order to be controlled by this controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: NAME_DOC,
};
const AGE: Column = col("Age", "string", AGE_DOC);
const CONTAINERS: Column = wide("Containers", "string", CONTAINERS_DOC);
const IMAGES: Column = wide("Images", "string", IMAGES_DOC);
const SELECTOR: Column = wide("Selector", "string", SELECTOR_DOC);

const POD_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    ),
    wide(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled.",
    ),
    wide(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
    ),
];
const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];
const NODE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", "Kubelet Version reported by the node."),
    wide(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node.",
    ),
    wide(
        "External-IP",
        "string",
        "List of addresses reachable to the node.",
    ),
    wide(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    wide(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    wide(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];
const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "type determines how the Service is exposed.",
    ),
    col(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually assigned randomly.",
    ),
    col(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    col(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service.",
    ),
    AGE,
    wide(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
    ),
];
const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
    ),
    AGE,
];
const CONFIGMAP_COLUMNS: &[Column] = &[
    NAME,
    col("Data", "string", "Data contains the configuration data."),
    AGE,
];
const SECRET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
    ),
    col("Data", "string", "Data contains the secret data."),
    AGE,
];
const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    ),
    AGE,
];
const EVENT_COLUMNS: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    col("Type", "string", "Type of this event (Normal, Warning)."),
    col(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    col("Object", "string", "The object that this event is about."),
    wide(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    ),
    wide(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    col(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    wide(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    wide(
        "Count",
        "string",
        "The number of times this event has occurred.",
    ),
    Column {
        name: "Name",
        kind: "string",
        format: "name",
        priority: 1,
        description: NAME_DOC,
    },
];
const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    col(
        "Available",
        "string",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
const REPLICA_SET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas.",
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    col(
        "Ready",
        "integer",
        "The number of ready replicas for this replica set.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
const STATEFUL_SET_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];
const DAEMON_SET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
    ),
    col(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
    ),
    col(
        "Ready",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
    ),
    col(
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    col(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    col(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
const CONTROLLER_REVISION_COLUMNS: &[Column] = &[
    NAME,
    col("Controller", "string", "Controller of the object"),
    col(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
    ),
    AGE,
];
const JOB_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the job."),
    col(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded.",
    ),
    col("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
const CRON_JOB_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Schedule",
        "string",
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
    ),
    col(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
    ),
    col(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.",
    ),
    col(
        "Active",
        "integer",
        "A list of pointers to currently running jobs.",
    ),
    col(
        "Last Schedule",
        "string",
        "Information when was the last time the job was successfully scheduled.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
const LEASE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease.",
    ),
    AGE,
];
const ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice.",
    ),
    col(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
    ),
    col(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice.",
    ),
    AGE,
];
const HPA_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Reference",
        "string",
        "reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource.",
    ),
    col(
        "Targets",
        "string",
        "metrics contains the specifications for which to use to calculate the desired replica count.",
    ),
    col(
        "MinPods",
        "string",
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
    ),
    col(
        "MaxPods",
        "string",
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.",
    ),
    col(
        "Replicas",
        "string",
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
    ),
    AGE,
];
const PRIORITY_CLASS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Value",
        "integer",
        "value represents the integer value of this priority class.",
    ),
    col(
        "Global-Default",
        "boolean",
        "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
    ),
    AGE,
    col(
        "PreemptionPolicy",
        "string",
        "preemptionPolicy is the Policy for preempting pods with lower priority.",
    ),
];
const DEFAULT_COLUMNS: &[Column] = &[NAME, AGE];

/// The cells of one row and, for finished pods, its conditions.
#[derive(Debug, Default)]
struct Row {
    cells: Vec<Value>,
    conditions: Option<Value>,
}

impl From<Vec<Value>> for Row {
    fn from(cells: Vec<Value>) -> Self {
        Self {
            cells,
            conditions: None,
        }
    }
}

type Printer = fn(&Value, SystemTime) -> Row;

/// The columns of `res` and the function that prints one object's row.
fn printer(res: &ResourceInfo) -> (&'static [Column], Printer) {
    match (res.group, res.kind) {
        ("", "Pod") => (POD_COLUMNS, pod_row),
        ("", "Namespace") => (NAMESPACE_COLUMNS, namespace_row),
        ("", "Node") => (NODE_COLUMNS, node_row),
        ("", "Service") => (SERVICE_COLUMNS, service_row),
        ("", "Endpoints") => (ENDPOINTS_COLUMNS, endpoints_row),
        ("", "ConfigMap") => (CONFIGMAP_COLUMNS, configmap_row),
        ("", "Secret") => (SECRET_COLUMNS, secret_row),
        ("", "ServiceAccount") => (SERVICE_ACCOUNT_COLUMNS, service_account_row),
        ("", "Event") => (EVENT_COLUMNS, event_row),
        ("events.k8s.io", "Event") => (EVENT_COLUMNS, events_v1_row),
        ("apps", "Deployment") => (DEPLOYMENT_COLUMNS, deployment_row),
        ("apps", "ReplicaSet") => (REPLICA_SET_COLUMNS, replica_set_row),
        ("apps", "StatefulSet") => (STATEFUL_SET_COLUMNS, stateful_set_row),
        ("apps", "DaemonSet") => (DAEMON_SET_COLUMNS, daemon_set_row),
        ("apps", "ControllerRevision") => (CONTROLLER_REVISION_COLUMNS, controller_revision_row),
        ("batch", "Job") => (JOB_COLUMNS, job_row),
        ("batch", "CronJob") => (CRON_JOB_COLUMNS, cron_job_row),
        ("coordination.k8s.io", "Lease") => (LEASE_COLUMNS, lease_row),
        ("discovery.k8s.io", "EndpointSlice") => (ENDPOINT_SLICE_COLUMNS, endpoint_slice_row),
        ("autoscaling", "HorizontalPodAutoscaler") => (HPA_COLUMNS, hpa_row),
        ("scheduling.k8s.io", "PriorityClass") => (PRIORITY_CLASS_COLUMNS, priority_class_row),
        _ => (DEFAULT_COLUMNS, default_row),
    }
}

fn name(o: &Value) -> Value {
    json!(text_or_empty(o, "/metadata/name"))
}

fn age(o: &Value, now: SystemTime) -> Value {
    json!(since(text(o, "/metadata/creationTimestamp"), now))
}

fn default_row(o: &Value, now: SystemTime) -> Row {
    vec![name(o), age(o, now)].into()
}

fn has_condition(o: &Value, ptr: &str, kind: &str) -> bool {
    list(o, ptr)
        .iter()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// Upstream's `printPod`: readiness, the aggregate status (init containers, waiting and
/// terminated reasons, Terminating), restarts with the last restart's age.
fn pod_row(o: &Value, now: SystemTime) -> Row {
    let init_specs = list(o, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| c["name"] == name && c["restartPolicy"] == "Always")
    };
    let total = list(o, "/spec/containers").len()
        + init_specs
            .iter()
            .filter(|c| c["restartPolicy"] == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;
    let finished = |c: &Value| text(c, "/lastState/terminated/finishedAt").and_then(parse_time);

    let phase = text(o, "/status/phase").unwrap_or("Pending");
    let mut reason = match text(o, "/status/reason") {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => phase.to_string(),
    };
    if list(o, "/status/conditions")
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let mut initializing = false;
    for (i, c) in list(o, "/status/initContainerStatuses").iter().enumerate() {
        let count = int(c, "/restartCount", 0);
        restarts += count;
        last_restart = last_restart.max(finished(c));
        let sidecar = restartable(text_or_empty(c, "/name"));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = last_sidecar_restart.max(finished(c));
        }
        let terminated = c.pointer("/state/terminated");
        if terminated.is_some_and(|t| int(t, "/exitCode", 0) == 0) {
            continue;
        }
        if sidecar && c["started"] == true {
            if c["ready"] == true {
                ready += 1;
            }
            continue;
        }
        let waiting = text(c, "/state/waiting/reason").filter(|r| !r.is_empty());
        if let Some(t) = terminated {
            reason = match text(t, "/reason").filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if int(t, "/signal", 0) != 0 => {
                    format!("Init:Signal:{}", int(t, "/signal", 0))
                }
                None => format!("Init:ExitCode:{}", int(t, "/exitCode", 0)),
            };
        } else if let Some(w) = waiting.filter(|w| *w != "PodInitializing") {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || has_condition(o, "/status/conditions", "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in list(o, "/status/containerStatuses").iter().rev() {
            restarts += int(c, "/restartCount", 0);
            last_restart = last_restart.max(finished(c));
            let waiting = text(c, "/state/waiting/reason").filter(|r| !r.is_empty());
            let terminated = c.pointer("/state/terminated");
            if let Some(w) = waiting {
                reason = w.to_string();
            } else if let Some(t) = terminated {
                reason = match text(t, "/reason").filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None if int(t, "/signal", 0) != 0 => {
                        format!("Signal:{}", int(t, "/signal", 0))
                    }
                    None => format!("ExitCode:{}", int(t, "/exitCode", 0)),
                };
            } else if c["ready"] == true && c.pointer("/state/running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(o, "/status/conditions", "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if o.pointer("/metadata/deletionTimestamp").is_some() {
        if text(o, "/status/reason") == Some("NodeLost") {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            human_nanos(nanos_between(t, DateTime::<Utc>::from(now)))
        ),
        _ => restarts.to_string(),
    };

    let pod_ip = text(o, "/status/podIPs/0/ip")
        .or_else(|| text(o, "/status/podIP"))
        .unwrap_or_default();
    let gates = list(o, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = list(o, "/status/conditions");
        let met = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| c["type"] == g["conditionType"])
                    .is_some_and(|c| c["status"] == "True")
            })
            .count();
        format!("{met}/{}", gates.len())
    };
    let conditions = match phase {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    };
    Row {
        cells: vec![
            name(o),
            json!(format!("{ready}/{total}")),
            json!(reason),
            json!(restarts_cell),
            age(o, now),
            json!(none_if_empty(pod_ip.to_string())),
            json!(none_if_empty(text_or_empty(o, "/spec/nodeName").into())),
            json!(none_if_empty(
                text_or_empty(o, "/status/nominatedNodeName").into()
            )),
            json!(readiness_gates),
        ],
        conditions,
    }
}

fn namespace_row(o: &Value, now: SystemTime) -> Row {
    vec![
        name(o),
        json!(text(o, "/status/phase").unwrap_or("Active")),
        age(o, now),
    ]
    .into()
}

/// Upstream's `printNode`: Ready/NotReady/Unknown, SchedulingDisabled, roles from labels.
fn node_row(o: &Value, now: SystemTime) -> Row {
    let ready = list(o, "/status/conditions")
        .iter()
        .rfind(|c| c["type"] == "Ready");
    let mut status = vec![match ready {
        Some(c) if c["status"] == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if o.pointer("/spec/unschedulable") == Some(&json!(true)) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (k, v) in o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role"
            && let Some(v) = v.as_str().filter(|v| !v.is_empty())
        {
            roles.insert(v.to_string());
        }
    }
    let address = |kind: &str| {
        list(o, "/status/addresses")
            .iter()
            .find(|a| a["type"] == kind)
            .and_then(|a| a["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    let info = |field: &str| {
        let v = text_or_empty(o, &format!("/status/nodeInfo/{field}"));
        if v.is_empty() { "<unknown>" } else { v }.to_string()
    };
    vec![
        name(o),
        json!(status.join(",")),
        json!(none_if_empty(
            roles.into_iter().collect::<Vec<_>>().join(",")
        )),
        age(o, now),
        json!(text_or_empty(o, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
    .into()
}

/// Upstream's `getServiceExternalIP` (wide, so load balancer addresses are not clipped).
fn service_external_ip(o: &Value, kind: &str) -> String {
    let external: Vec<&str> = list(o, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match kind {
        "ClusterIP" | "NodePort" => none_if_empty(external.join(",")),
        "LoadBalancer" => {
            let ingress: BTreeSet<&str> = list(o, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| {
                    i["ip"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .or_else(|| i["hostname"].as_str().filter(|s| !s.is_empty()))
                })
                .collect();
            let mut all: Vec<&str> = ingress.into_iter().collect();
            all.extend(external);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => text_or_empty(o, "/spec/externalName").into(),
        _ => "<unknown>".into(),
    }
}

fn service_row(o: &Value, now: SystemTime) -> Row {
    let kind = text(o, "/spec/type").unwrap_or("ClusterIP");
    let cluster_ip = text(o, "/spec/clusterIPs/0")
        .or_else(|| text(o, "/spec/clusterIP"))
        .unwrap_or_default();
    let ports: Vec<String> = list(o, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            let port = int(p, "/port", 0);
            match int(p, "/nodePort", 0) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    vec![
        name(o),
        json!(kind),
        json!(none_if_empty(cluster_ip.into())),
        json!(service_external_ip(o, kind)),
        json!(none_if_empty(ports.join(","))),
        age(o, now),
        json!(format_labels(o.pointer("/spec/selector"))),
    ]
    .into()
}

/// Upstream's `formatEndpoints`: up to three `ip:port`, then "+ N more...".
fn endpoints_row(o: &Value, now: SystemTime) -> Row {
    const MAX: usize = 3;
    let subsets = list(o, "/subsets");
    let cell = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        let mut shown: Vec<String> = Vec::new();
        let mut count = 0usize;
        let mut more = false;
        for ss in subsets {
            let addresses = list(ss, "/addresses");
            let ports = list(ss, "/ports");
            if ports.is_empty() {
                count += addresses.len();
                for a in addresses {
                    if shown.len() == MAX {
                        more = true;
                        break;
                    }
                    shown.push(text_or_empty(a, "/ip").into());
                }
                continue;
            }
            for p in ports {
                count += addresses.len();
                for a in addresses {
                    if shown.len() == MAX {
                        more = true;
                        break;
                    }
                    shown.push(host_port(text_or_empty(a, "/ip"), int(p, "/port", 0)));
                }
            }
        }
        if more {
            format!("{} + {} more...", shown.join(","), count - MAX)
        } else {
            shown.join(",")
        }
    };
    vec![name(o), json!(cell), age(o, now)].into()
}

fn count_of(o: &Value, ptr: &str) -> usize {
    o.pointer(ptr)
        .and_then(Value::as_object)
        .map_or(0, Map::len)
}

fn configmap_row(o: &Value, now: SystemTime) -> Row {
    vec![
        name(o),
        json!(count_of(o, "/data") + count_of(o, "/binaryData")),
        age(o, now),
    ]
    .into()
}

fn secret_row(o: &Value, now: SystemTime) -> Row {
    vec![
        name(o),
        json!(text(o, "/type").unwrap_or("Opaque")),
        json!(count_of(o, "/data")),
        age(o, now),
    ]
    .into()
}

fn service_account_row(o: &Value, now: SystemTime) -> Row {
    vec![name(o), json!(list(o, "/secrets").len()), age(o, now)].into()
}

/// Upstream's `printEvent`, on a core/v1 Event.
fn event_row(o: &Value, now: SystemTime) -> Row {
    let first_ts = text(o, "/firstTimestamp").filter(|t| !t.is_empty());
    let first = match first_ts {
        Some(t) => since(Some(t), now),
        None => since(text(o, "/eventTime"), now),
    };
    let mut last = match text(o, "/lastTimestamp").filter(|t| !t.is_empty()) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = int(o, "/count", 0);
    if let Some(series) = o.get("series").filter(|s| s.is_object()) {
        last = since(text(series, "/lastObservedTime"), now);
        count = int(series, "/count", 0);
    } else if count == 0 {
        count = 1;
    }
    let kind = text_or_empty(o, "/involvedObject/kind").to_lowercase();
    let object_name = text_or_empty(o, "/involvedObject/name");
    let target = if object_name.is_empty() {
        kind
    } else {
        format!("{kind}/{object_name}")
    };
    let first_non_empty = |a: &str, b: &str| {
        let a = text_or_empty(o, a);
        if a.is_empty() { text_or_empty(o, b) } else { a }.to_string()
    };
    let component = first_non_empty("/source/component", "/reportingComponent");
    let instance = first_non_empty("/source/host", "/reportingInstance");
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(text_or_empty(o, "/type")),
        json!(text_or_empty(o, "/reason")),
        json!(target),
        json!(text_or_empty(o, "/involvedObject/fieldPath")),
        json!(source),
        json!(text_or_empty(o, "/message").trim()),
        json!(first),
        json!(count),
        name(o),
    ]
    .into()
}

/// An events.k8s.io/v1 Event printed as upstream does: through its core/v1 form.
fn events_v1_row(o: &Value, now: SystemTime) -> Row {
    let field = |k: &str| o.get(k).cloned().unwrap_or(Value::Null);
    let core = json!({
        "metadata": field("metadata"),
        "involvedObject": field("regarding"),
        "message": field("note"),
        "reason": field("reason"),
        "type": field("type"),
        "firstTimestamp": field("deprecatedFirstTimestamp"),
        "lastTimestamp": field("deprecatedLastTimestamp"),
        "count": field("deprecatedCount"),
        "source": field("deprecatedSource"),
        "eventTime": field("eventTime"),
        "series": field("series"),
        "reportingComponent": field("reportingController"),
        "reportingInstance": field("reportingInstance"),
    });
    event_row(&core, now)
}

/// Upstream prints `metav1.LabelSelectorAsSelector(..).String()` for deployments.
fn selector_as_string(sel: Option<&Value>) -> String {
    match LabelSelector::from_label_selector(sel.unwrap_or(&Value::Null)) {
        Ok(s) => s.to_string(),
        Err(_) => "<invalid>".into(),
    }
}

fn deployment_row(o: &Value, now: SystemTime) -> Row {
    let (names, images) = containers(o.pointer("/spec/template/spec"));
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            int(o, "/status/readyReplicas", 0),
            int(o, "/spec/replicas", 1)
        )),
        json!(int(o, "/status/updatedReplicas", 0)),
        json!(int(o, "/status/availableReplicas", 0)),
        age(o, now),
        json!(names),
        json!(images),
        json!(selector_as_string(o.pointer("/spec/selector"))),
    ]
    .into()
}

fn replica_set_row(o: &Value, now: SystemTime) -> Row {
    let (names, images) = containers(o.pointer("/spec/template/spec"));
    vec![
        name(o),
        json!(int(o, "/spec/replicas", 1)),
        json!(int(o, "/status/replicas", 0)),
        json!(int(o, "/status/readyReplicas", 0)),
        age(o, now),
        json!(names),
        json!(images),
        json!(format_label_selector(o.pointer("/spec/selector"))),
    ]
    .into()
}

fn stateful_set_row(o: &Value, now: SystemTime) -> Row {
    let (names, images) = containers(o.pointer("/spec/template/spec"));
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            int(o, "/status/readyReplicas", 0),
            int(o, "/spec/replicas", 1)
        )),
        age(o, now),
        json!(names),
        json!(images),
    ]
    .into()
}

fn daemon_set_row(o: &Value, now: SystemTime) -> Row {
    let (names, images) = containers(o.pointer("/spec/template/spec"));
    vec![
        name(o),
        json!(int(o, "/status/desiredNumberScheduled", 0)),
        json!(int(o, "/status/currentNumberScheduled", 0)),
        json!(int(o, "/status/numberReady", 0)),
        json!(int(o, "/status/updatedNumberScheduled", 0)),
        json!(int(o, "/status/numberAvailable", 0)),
        json!(format_labels(o.pointer("/spec/template/spec/nodeSelector"))),
        age(o, now),
        json!(names),
        json!(images),
        json!(format_label_selector(o.pointer("/spec/selector"))),
    ]
    .into()
}

/// `statefulset.apps/web`: the controller owner as upstream's `formatResourceName`.
fn controller_revision_row(o: &Value, now: SystemTime) -> Row {
    let controller = list(o, "/metadata/ownerReferences")
        .iter()
        .find(|r| r["controller"] == true)
        .map_or_else(
            || "<none>".to_string(),
            |r| {
                let api_version = r["apiVersion"].as_str().unwrap_or_default();
                let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
                let kind = r["kind"].as_str().unwrap_or_default();
                let owner = r["name"].as_str().unwrap_or_default();
                let group_kind = if group.is_empty() {
                    kind.to_string()
                } else {
                    format!("{kind}.{group}")
                };
                if group_kind.is_empty() {
                    owner.to_string()
                } else {
                    format!("{}/{owner}", group_kind.to_lowercase())
                }
            },
        );
    vec![
        name(o),
        json!(controller),
        json!(int(o, "/revision", 0)),
        age(o, now),
    ]
    .into()
}

/// Upstream's `hasJobCondition`: the first condition of the type decides.
fn job_condition(o: &Value, kind: &str) -> bool {
    list(o, "/status/conditions")
        .iter()
        .find(|c| c["type"] == kind)
        .is_some_and(|c| c["status"] == "True")
}

fn job_row(o: &Value, now: SystemTime) -> Row {
    let succeeded = int(o, "/status/succeeded", 0);
    let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int(o, "/spec/parallelism", 0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = text(o, "/status/startTime").and_then(parse_time);
    let end = text(o, "/status/completionTime").and_then(parse_time);
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(s), None) => human_nanos(nanos_between(s, DateTime::<Utc>::from(now))),
        (Some(s), Some(e)) => human_nanos(nanos_between(s, e)),
    };
    let status = if job_condition(o, "Complete") {
        "Complete"
    } else if job_condition(o, "Failed") {
        "Failed"
    } else if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if job_condition(o, "Suspended") {
        "Suspended"
    } else if job_condition(o, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers(o.pointer("/spec/template/spec"));
    vec![
        name(o),
        json!(status),
        json!(completions),
        json!(duration),
        age(o, now),
        json!(names),
        json!(images),
        json!(format_label_selector(o.pointer("/spec/selector"))),
    ]
    .into()
}

fn cron_job_row(o: &Value, now: SystemTime) -> Row {
    let (names, images) = containers(o.pointer("/spec/jobTemplate/spec/template/spec"));
    let suspend = match o.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        _ => "False",
    };
    let last_schedule = match text(o, "/status/lastScheduleTime") {
        Some(t) => since(Some(t), now),
        None => "<none>".into(),
    };
    vec![
        name(o),
        json!(text_or_empty(o, "/spec/schedule")),
        json!(text(o, "/spec/timeZone").unwrap_or("<none>")),
        json!(suspend),
        json!(list(o, "/status/active").len()),
        json!(last_schedule),
        age(o, now),
        json!(names),
        json!(images),
        json!(format_label_selector(
            o.pointer("/spec/jobTemplate/spec/selector")
        )),
    ]
    .into()
}

fn lease_row(o: &Value, now: SystemTime) -> Row {
    vec![
        name(o),
        json!(text_or_empty(o, "/spec/holderIdentity")),
        age(o, now),
    ]
    .into()
}

fn endpoint_slice_row(o: &Value, now: SystemTime) -> Row {
    let ports: Vec<String> = list(o, "/ports")
        .iter()
        .map(|p| match (p["port"].as_i64(), p["name"].as_str()) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let endpoints: Vec<String> = list(o, "/endpoints")
        .iter()
        .flat_map(|e| list(e, "/addresses"))
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    vec![
        name(o),
        json!(text_or_empty(o, "/addressType")),
        json!(list_with_more(&ports, 3)),
        json!(list_with_more(&endpoints, 3)),
        age(o, now),
    ]
    .into()
}

/// Upstream's `formatHPAMetrics` over autoscaling/v2 metric specs and statuses.
fn hpa_targets(o: &Value) -> String {
    const MAX: usize = 2;
    let specs = list(o, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = list(o, "/status/currentMetrics");
    let unknown = || "<unknown>".to_string();
    let mut shown = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let current = |source: &str, field: &str| {
            status
                .and_then(|s| s.get(source))
                .and_then(|s| scalar(s.pointer(&format!("/current/{field}"))))
        };
        let entry = match spec["type"].as_str().unwrap_or_default() {
            kind @ ("External" | "Object") => {
                let source = if kind == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = &spec[source]["target"];
                match scalar(target.get("averageValue")) {
                    Some(avg) => format!(
                        "{}/{avg} (avg)",
                        current(source, "averageValue").unwrap_or_else(unknown)
                    ),
                    None => format!(
                        "{}/{}",
                        current(source, "value").unwrap_or_else(unknown),
                        scalar(target.get("value")).unwrap_or_default()
                    ),
                }
            }
            "Pods" => format!(
                "{}/{}",
                current("pods", "averageValue").unwrap_or_else(unknown),
                scalar(spec.pointer("/pods/target/averageValue")).unwrap_or_default()
            ),
            kind @ ("Resource" | "ContainerResource") => {
                let source = if kind == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let resource = spec[source]["name"].as_str().unwrap_or_default();
                let target = &spec[source]["target"];
                match scalar(target.get("averageValue")) {
                    Some(avg) => format!(
                        "{resource}: {}/{avg}",
                        current(source, "averageValue").unwrap_or_else(unknown)
                    ),
                    None => {
                        let current = current(source, "averageUtilization")
                            .map_or_else(unknown, |u| format!("{u}%"));
                        let target = scalar(target.get("averageUtilization"))
                            .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                        format!("{resource}: {current}/{target}")
                    }
                }
            }
            _ => "<unknown type>".into(),
        };
        shown.push(entry);
    }
    if shown.len() > MAX {
        let more = shown.len() - MAX;
        shown.truncate(MAX);
        return format!("{} + {more} more...", shown.join(", "));
    }
    shown.join(", ")
}

fn hpa_row(o: &Value, now: SystemTime) -> Row {
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            text_or_empty(o, "/spec/scaleTargetRef/kind"),
            text_or_empty(o, "/spec/scaleTargetRef/name")
        )),
        json!(hpa_targets(o)),
        json!(int(o, "/spec/minReplicas", 1).to_string()),
        json!(int(o, "/spec/maxReplicas", 0)),
        json!(int(o, "/status/currentReplicas", 0)),
        age(o, now),
    ]
    .into()
}

fn priority_class_row(o: &Value, now: SystemTime) -> Row {
    vec![
        name(o),
        json!(int(o, "/value", 0)),
        json!(
            o.pointer("/globalDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        ),
        age(o, now),
        json!(text(o, "/preemptionPolicy").unwrap_or("PreemptLowerPriority")),
    ]
    .into()
}

/// The Table of `objects` (all of `res`'s kind) as of `now`, with `list_meta` as its metadata
/// (`resourceVersion`, `continue`) and each row's `object` as `include_object` asks.
pub fn table(
    res: &ResourceInfo,
    objects: &[Value],
    now: SystemTime,
    list_meta: Value,
    include_object: IncludeObject,
) -> Value {
    let (columns, print) = printer(res);
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let printed = print(o, now);
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(printed.cells));
            if let Some(conditions) = printed.conditions {
                row.insert("conditions".into(), conditions);
            }
            match include_object {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    let mut metadata = o.get("metadata").cloned().unwrap_or_else(|| json!({}));
                    // As upstream's tables, without the managed fields.
                    if let Some(m) = metadata.as_object_mut() {
                        m.remove("managedFields");
                    }
                    row.insert(
                        "object".into(),
                        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}),
                    );
                }
                IncludeObject::Object => {
                    row.insert("object".into(), o.clone());
                }
            }
            Value::Object(row)
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": definitions, "rows": rows})
}

#[cfg(test)]
mod tests;
