//! Filter, then rank: the decision for one pod as a pure function of the pod, the snapshot and
//! the profile. Each filter returns why a node does not fit, in kube-scheduler's words; each
//! score ranks a fitting node from 0 to 100.

use crate::image_locality;
use crate::inter_pod_affinity::{self, AffinityTerms};
use crate::resources::{Resources, pod_requests};
use crate::snapshot::{NodeInfo, PlacedPod, Snapshot, host_ports};
use crate::topology_spread::{self, Constraint, NodeChecks};
use k8s_openapi::api::core::v1::{
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm, Taint,
    Toleration,
};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How nodes are ranked by their free resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScoringStrategy {
    /// Prefer the emptiest nodes (spreads pods): the default.
    LeastAllocated,
    /// Prefer the fullest nodes (packs pods).
    MostAllocated,
}

/// The filter plugins, in kube-scheduler's order.
pub const FILTERS: [&str; 8] = [
    "NodeUnschedulable",
    "NodeName",
    "TaintToleration",
    "NodeAffinity",
    "NodePorts",
    "NodeResourcesFit",
    "PodTopologySpread",
    "InterPodAffinity",
];

/// The score plugins, in the order [`score`] returns them, with kube-scheduler's default
/// weights.
pub const SCORES: [(&str, i64); 7] = [
    ("NodeResourcesFit", 1),
    ("NodeResourcesBalancedAllocation", 1),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("InterPodAffinity", 2),
    ("PodTopologySpread", 2),
    ("ImageLocality", 1),
];

/// A scheduling profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub scheduler_name: String,
    pub strategy: ScoringStrategy,
    /// The enabled score plugins and their weights (a plugin absent or at 0 is not run).
    pub weights: BTreeMap<&'static str, i64>,
    /// Filter plugins turned off.
    pub disabled_filters: BTreeSet<&'static str>,
    /// Stop filtering after this share of nodes found feasible (0: kube-scheduler's adaptive
    /// default).
    pub percentage_of_nodes_to_score: u32,
    /// Weight of a placed pod's required affinity term that matches the incoming pod, in
    /// InterPodAffinity's score (kube-scheduler's hardPodAffinityWeight).
    pub hard_pod_affinity_weight: i64,
    /// Whether PostFilter preemption (DefaultPreemption) runs.
    pub preemption: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            scheduler_name: "default-scheduler".into(),
            strategy: ScoringStrategy::LeastAllocated,
            weights: SCORES.into_iter().collect(),
            disabled_filters: BTreeSet::new(),
            percentage_of_nodes_to_score: 0,
            hard_pod_affinity_weight: inter_pod_affinity::HARD_POD_AFFINITY_WEIGHT,
            preemption: true,
        }
    }
}

impl Profile {
    fn filter_on(&self, name: &str) -> bool {
        !self.disabled_filters.contains(name)
    }

    fn weight(&self, name: &str) -> i64 {
        self.weights.get(name).copied().unwrap_or(0)
    }
}

/// How many of the best nodes an explanation lists.
pub const EXPLAINED_NODES: usize = 3;

/// Why a pod went where it did, or why it fits nowhere: failed nodes counted by reason, and
/// the score breakdown of the best nodes (at most [`EXPLAINED_NODES`], the winner first; each
/// breakdown names the plugins that scored above 0, whose weighted sum is the total). It
/// travels with every binding and every later copy of the pod, so it stays small.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Explanation {
    pub nodes: usize,
    pub feasible: usize,
    pub filtered: BTreeMap<String, usize>,
    pub top: Vec<NodeScore>,
}

/// One node's scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeScore {
    pub node: String,
    pub total: i64,
    pub scores: BTreeMap<&'static str, i64>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Bind {
        node: String,
        explanation: Explanation,
    },
    Unschedulable {
        message: String,
        explanation: Explanation,
    },
    /// The pod's own spec cannot be evaluated (a malformed affinity term or spread
    /// constraint); it stays Pending with this message until it changes.
    Invalid { message: String },
}

/// Why a node does not fit, and whether removing pods from it could change that (kube's
/// Unschedulable versus UnschedulableAndUnresolvable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: Cow<'static, str>,
    pub resolvable: bool,
}

fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Failure {
    Failure {
        reason: reason.into(),
        resolvable: false,
    }
}

fn resolvable(reason: impl Into<Cow<'static, str>>) -> Failure {
    Failure {
        reason: reason.into(),
        resolvable: true,
    }
}

/// kube-scheduler's number of feasible nodes to find before scoring.
pub fn feasible_nodes_to_find(nodes: usize, percentage: u32) -> usize {
    const MIN: usize = 100;
    if nodes < MIN {
        return nodes;
    }
    let pct = if percentage == 0 {
        (50 - (nodes as i64) / 125).max(5) as usize
    } else {
        percentage.min(100) as usize
    };
    (nodes * pct / 100).max(MIN)
}

fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => t
            .key
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == taint.key),
        _ => {
            t.key.as_deref() == Some(taint.key.as_str())
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

fn taint_text(t: &Taint) -> String {
    format!("{{{}: {}}}", t.key, t.value.as_deref().unwrap_or(""))
}

fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn term_matches(term: &NodeSelectorTerm, info: &NodeInfo) -> bool {
    let labels = info.node.metadata.labels.as_ref();
    let exprs = term.match_expressions.iter().flatten();
    let fields = term.match_fields.iter().flatten();
    let any = term
        .match_expressions
        .as_ref()
        .is_some_and(|e| !e.is_empty())
        || term.match_fields.as_ref().is_some_and(|f| !f.is_empty());
    any && exprs
        .into_iter()
        .all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields
            .into_iter()
            .all(|r| r.key == "metadata.name" && requirement_matches(r, Some(&info.name)))
}

/// What a pod asks of a node's labels: its nodeSelector and its required node affinity, read
/// from the pod once (a scheduling cycle reads them for every node it filters).
#[derive(Debug, Clone, Copy)]
pub struct NodeSelection<'a> {
    selector: Option<&'a BTreeMap<String, String>>,
    required: Option<&'a NodeSelector>,
}

impl<'a> NodeSelection<'a> {
    pub fn of(pod: &'a Pod) -> Self {
        let spec = pod.spec.as_ref();
        Self {
            selector: spec.and_then(|s| s.node_selector.as_ref()),
            required: spec
                .and_then(|s| s.affinity.as_ref())
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
        }
    }

    /// Whether the node's labels satisfy both. The labels are read only when the pod asks for
    /// some (they are a pointer away).
    pub fn matches(&self, info: &NodeInfo) -> bool {
        if let Some(selector) = self.selector
            && !selector
                .iter()
                .all(|(k, v)| info.labels().get(k) == Some(v))
        {
            return false;
        }
        if let Some(required) = self.required
            && !required
                .node_selector_terms
                .iter()
                .any(|t| term_matches(t, info))
        {
            return false;
        }
        true
    }
}

/// The first NoSchedule/NoExecute taint of the node the pod does not tolerate.
fn untolerated_taint<'a>(pod: &Pod, info: &'a NodeInfo) -> Option<&'a Taint> {
    info.taints.iter().find(|taint| {
        taint.effect != "PreferNoSchedule" && !tolerations(pod).iter().any(|t| tolerates(t, taint))
    })
}

/// The node checks topology spread counts a node by, with the pod's selection read once.
struct PodChecks<'a> {
    pod: &'a Pod,
    selection: NodeSelection<'a>,
}

impl<'a> PodChecks<'a> {
    fn of(pod: &'a Pod) -> Self {
        Self {
            pod,
            selection: NodeSelection::of(pod),
        }
    }
}

impl NodeChecks for PodChecks<'_> {
    fn affinity_ok(&self, info: &NodeInfo) -> bool {
        self.selection.matches(info)
    }
    fn taints_ok(&self, info: &NodeInfo) -> bool {
        untolerated_taint(self.pod, info).is_none()
    }
}

/// One scheduling cycle's view of the pod: its requests and compiled terms, and the counts
/// its inter-pod and spread filters need (kube-scheduler's PreFilter state).
#[derive(Debug, Clone)]
pub struct Cycle<'a> {
    pub pod: &'a Pod,
    pub profile: &'a Profile,
    pub requests: Resources,
    pub terms: Option<Arc<AffinityTerms>>,
    pub constraints: Vec<Constraint>,
    pub inter_pod: Option<inter_pod_affinity::FilterState>,
    pub spread: Option<topology_spread::FilterState>,
    /// The host ports the pod asks for (NodePorts), read once rather than once per node.
    pub ports: Vec<(String, String, i32)>,
    /// The pod's nodeSelector and required node affinity (NodeAffinity), read once.
    pub selection: NodeSelection<'a>,
}

impl<'a> Cycle<'a> {
    /// Compile the pod's terms and count what its filters need. `Err` when the pod's spec
    /// is malformed.
    pub fn new(pod: &'a Pod, snapshot: &Snapshot, profile: &'a Profile) -> Result<Self, String> {
        let terms = AffinityTerms::of(pod)?.map(Arc::new);
        let constraints = topology_spread::constraints(pod)?;
        let inter_pod = if profile.filter_on("InterPodAffinity") {
            inter_pod_affinity::FilterState::new(pod, terms.clone(), snapshot)
        } else {
            None
        };
        let spread = if profile.filter_on("PodTopologySpread") {
            topology_spread::FilterState::new(pod, &constraints, snapshot, &PodChecks::of(pod))
        } else {
            None
        };
        Ok(Self {
            pod,
            profile,
            requests: pod_requests(pod),
            terms,
            constraints,
            inter_pod,
            spread,
            ports: host_ports(pod),
            selection: NodeSelection::of(pod),
        })
    }

    /// Count (delta 1) or uncount (delta -1) a placed pod on `info` in the filters' state, as
    /// if it were added to or removed from that node (kube's AddPod/RemovePod extensions).
    pub fn update(&mut self, placed: &PlacedPod, info: &NodeInfo, snapshot: &Snapshot, delta: i64) {
        if let Some(s) = &mut self.inter_pod {
            s.update(placed, info.labels(), snapshot.namespaces(), delta);
        }
        if let Some(s) = &mut self.spread {
            let checks = PodChecks {
                pod: self.pod,
                selection: self.selection,
            };
            let ok = (checks.affinity_ok(info), checks.taints_ok(info));
            s.update(placed, info, ok, delta);
        }
    }

    /// The filters, in kube-scheduler's order: the first that refuses the node says why.
    pub fn filter(&self, info: &NodeInfo, snapshot: &Snapshot) -> Result<(), Failure> {
        let pod = self.pod;
        let on = |name| self.profile.filter_on(name);
        let spec = pod.spec.as_ref();
        if on("NodeUnschedulable") && info.unschedulable {
            let taint = Taint {
                key: "node.kubernetes.io/unschedulable".into(),
                effect: "NoSchedule".into(),
                ..Taint::default()
            };
            if !tolerations(pod).iter().any(|t| tolerates(t, &taint)) {
                return Err(unresolvable("node(s) were unschedulable"));
            }
        }
        if on("NodeName")
            && let Some(name) = spec
                .and_then(|s| s.node_name.as_deref())
                .filter(|n| !n.is_empty())
            && name != info.name
        {
            return Err(unresolvable("node(s) didn't match the requested node name"));
        }
        if on("TaintToleration")
            && let Some(taint) = untolerated_taint(pod, info)
        {
            return Err(unresolvable(format!(
                "node(s) had untolerated taint {}",
                taint_text(taint)
            )));
        }
        // Readiness (kube-scheduler relies on the not-ready taint; bosun also checks the
        // condition).
        if !info.ready {
            return Err(unresolvable(
                "node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
            ));
        }
        if on("NodeAffinity") && !self.selection.matches(info) {
            return Err(unresolvable(
                "node(s) didn't match Pod's node affinity/selector",
            ));
        }
        if on("NodePorts") {
            for (proto, ip, port) in &self.ports {
                let clash = info.ports.iter().any(|(p, i, n)| {
                    p == proto && n == port && (i == ip || i == "0.0.0.0" || ip == "0.0.0.0")
                });
                if clash {
                    return Err(resolvable(
                        "node(s) didn't have free ports for the requested pod ports",
                    ));
                }
            }
        }
        if on("NodeResourcesFit") {
            fits(&self.requests, info).map_err(resolvable)?;
        }
        if let Some(s) = &self.spread {
            s.filter(info).map_err(resolvable)?;
        }
        if let Some(s) = &self.inter_pod {
            s.filter(info, snapshot.namespaces())
                .map_err(|(reason, r)| Failure {
                    reason: reason.into(),
                    resolvable: r,
                })?;
        }
        Ok(())
    }
}

impl Cycle<'_> {
    /// The filters with the pods nominated to the node by preemption that are at least as
    /// important as this pod counted there as if placed, and then without them (kube's
    /// RunFilterPluginsWithNominatedPods): a node freed for a preemptor stays its own.
    pub fn filter_with_nominated(
        &self,
        info: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Result<(), Failure> {
        if snapshot.has_nominations() {
            let own = self.pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
            let uid = self.pod.metadata.uid.as_deref().unwrap_or_default();
            let held: Vec<&Arc<PlacedPod>> = snapshot
                .nominated_to(&info.name)
                .filter(|p| p.priority >= own && p.uid != uid)
                .collect();
            if !held.is_empty() {
                let mut cycle = self.clone();
                let mut node = info.clone();
                for p in held {
                    node.add(p.clone());
                    cycle.update(p, &node, snapshot, 1);
                }
                cycle.filter(&node, snapshot)?;
            }
        }
        self.filter(info, snapshot)
    }
}

/// NodeResourcesFit's filter: whether `requests` fit in what the node has left.
pub fn fits(requests: &Resources, info: &NodeInfo) -> Result<(), Cow<'static, str>> {
    let free = |alloc: i64, used: i64| alloc - used;
    if info.requested.pods + 1 > info.allocatable.pods {
        return Err("Too many pods".into());
    }
    if requests.milli_cpu > 0
        && requests.milli_cpu > free(info.allocatable.milli_cpu, info.requested.milli_cpu)
    {
        return Err("Insufficient cpu".into());
    }
    if requests.memory > 0 && requests.memory > free(info.allocatable.memory, info.requested.memory)
    {
        return Err("Insufficient memory".into());
    }
    for (name, want) in &requests.scalar {
        if *want > 0 && *want > free(info.allocatable.scalar(name), info.requested.scalar(name)) {
            return Err(format!("Insufficient {name}").into());
        }
    }
    Ok(())
}

/// kube-scheduler counts pods without requests as 100m cpu and 200 MiB for scoring only.
const DEFAULT_MILLI_CPU: i64 = 100;
const DEFAULT_MEMORY: i64 = 200 << 20;

fn score_requests(r: &Resources) -> (i64, i64) {
    (
        if r.milli_cpu == 0 {
            DEFAULT_MILLI_CPU
        } else {
            r.milli_cpu
        },
        if r.memory == 0 {
            DEFAULT_MEMORY
        } else {
            r.memory
        },
    )
}

/// NodeResourcesFit's score of cpu and memory `requested` (the node's and the pod's) against
/// `allocatable`, as kube-scheduler computes it in integers: each resource 0..=100 (free share
/// for LeastAllocated, 0 when over; used share, capped, for MostAllocated), resources with
/// nothing allocatable left out, the rest averaged with equal weights.
pub fn resource_fit_score(
    strategy: ScoringStrategy,
    requested: [i64; 2],
    allocatable: [i64; 2],
) -> i64 {
    // Called for every scored node: the average of one or two resources is written out, so
    // that the only divisions are each resource's own.
    let one = |req: i64, cap: i64| match strategy {
        ScoringStrategy::LeastAllocated if req > cap => 0,
        ScoringStrategy::LeastAllocated => (cap - req) * 100 / cap,
        ScoringStrategy::MostAllocated => req.clamp(0, cap) * 100 / cap,
    };
    let [cpu, mem] = requested;
    match allocatable {
        [a, b] if a > 0 && b > 0 => (one(cpu, a) + one(mem, b)) / 2,
        [a, _] if a > 0 => one(cpu, a),
        [_, b] if b > 0 => one(mem, b),
        _ => 0,
    }
}

/// NodeResourcesBalancedAllocation's score, as kube-scheduler's: 100 × (1 − the standard
/// deviation of the resources' requested shares, each capped at 1), truncated; for two
/// resources the deviation is half their difference. Resources with nothing allocatable are
/// left out.
pub fn balanced_allocation_score(requested: [i64; 2], allocatable: [i64; 2]) -> i64 {
    // Called for every scored node: no allocation.
    let share = |req: i64, cap: i64| (cap > 0).then(|| (req as f64 / cap as f64).min(1.0));
    let std = match (
        share(requested[0], allocatable[0]),
        share(requested[1], allocatable[1]),
    ) {
        (Some(a), Some(b)) => ((a - b) / 2.0).abs(),
        _ => 0.0,
    };
    ((1.0 - std) * 100.0) as i64
}

/// What the scores need beyond the pod and the node, computed once per cycle (kube's
/// PreScore state).
struct ScoreContext<'a> {
    cycle: &'a Cycle<'a>,
    snapshot: &'a Snapshot,
    inter_pod: Option<inter_pod_affinity::ScoreState>,
    spread: Option<topology_spread::ScoreState>,
    /// The profile's weights in the order of [`SCORES`], looked up once per pod rather than
    /// once per node.
    weights: [i64; 7],
    /// The pod's images, for ImageLocality.
    images: image_locality::PodImages,
    /// The pod's preferred node affinity terms, for NodeAffinity.
    preferred: &'a [PreferredSchedulingTerm],
}

impl<'a> ScoreContext<'a> {
    fn new(cycle: &'a Cycle<'a>, snapshot: &'a Snapshot) -> Self {
        let profile = cycle.profile;
        let weights = SCORES.map(|(k, _)| profile.weight(k));
        let inter_pod = (profile.weight("InterPodAffinity") > 0)
            .then(|| {
                inter_pod_affinity::ScoreState::new(
                    cycle.pod,
                    cycle.terms.as_ref(),
                    snapshot,
                    profile.hard_pod_affinity_weight,
                )
            })
            .flatten();
        let spread = (profile.weight("PodTopologySpread") > 0)
            .then(|| {
                topology_spread::ScoreState::new(
                    cycle.pod,
                    &cycle.constraints,
                    snapshot,
                    &PodChecks::of(cycle.pod),
                )
            })
            .flatten();
        let mut images = if weights[6] > 0 {
            image_locality::pod_images(cycle.pod)
        } else {
            image_locality::PodImages::default()
        };
        // An image no node holds adds nothing on any node: leaving it out here spares a
        // lookup per node, and with none left the score is 0 everywhere without looking.
        images
            .names
            .retain(|image| snapshot.nodes_with_image(image) > 0);
        let preferred = cycle
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
            })
            .unwrap_or(&[]);
        Self {
            cycle,
            snapshot,
            inter_pod,
            spread,
            weights,
            images,
            preferred,
        }
    }
}

/// Raw scores of one node, in the order of [`SCORES`]; `None` for a node PodTopologySpread
/// ignores. Resource fit, balance and image locality are 0..=100; the others are normalized
/// across nodes by [`schedule`].
fn score(ctx: &ScoreContext, info: &NodeInfo) -> ([i64; 7], Option<i64>) {
    let cycle = ctx.cycle;
    let (pod, profile, weights) = (cycle.pod, cycle.profile, &ctx.weights);
    let mut out = [0i64; 7];
    if weights[0] > 0 || weights[1] > 0 {
        let (cpu, mem) = score_requests(&cycle.requests);
        let requested = [info.requested.milli_cpu + cpu, info.requested.memory + mem];
        let allocatable = [info.allocatable.milli_cpu, info.allocatable.memory];
        out[0] = resource_fit_score(profile.strategy, requested, allocatable);
        out[1] = balanced_allocation_score(requested, allocatable);
    }
    if weights[2] > 0 {
        out[2] = info
            .taints
            .iter()
            .filter(|t| {
                t.effect == "PreferNoSchedule"
                    && !tolerations(pod).iter().any(|tol| tolerates(tol, t))
            })
            .count() as i64;
    }
    if weights[3] > 0 {
        out[3] = ctx
            .preferred
            .iter()
            .filter(|t| term_matches(&t.preference, info))
            .map(|t| i64::from(t.weight))
            .sum();
    }
    if let Some(s) = &ctx.inter_pod {
        out[4] = s.score(info);
    }
    let spread = ctx.spread.as_ref().and_then(|s| s.score(info));
    if weights[6] > 0 && !ctx.images.names.is_empty() {
        let snapshot = ctx.snapshot;
        out[6] = image_locality::score(
            &ctx.images,
            info,
            &|image| snapshot.nodes_with_image(image),
            snapshot.len(),
        );
    }
    (out, spread)
}

/// The message of an unschedulable pod, in kube-scheduler's form.
pub fn unschedulable_message(nodes: usize, reasons: &BTreeMap<String, usize>) -> String {
    if nodes == 0 {
        return "0/0 nodes are available: no nodes available to schedule pods.".into();
    }
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

/// The node the pod was nominated to by an earlier preemption, if it is set.
pub fn nominated_node(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Insert `(index, total)` among the [`EXPLAINED_NODES`] best of `best` (highest total first;
/// of equal totals the one found first), dropping the one it pushes out. Nodes come in the
/// order found, so a node ties with no one it follows.
fn keep_best(best: &mut Vec<(usize, i64)>, node: (usize, i64)) {
    if best.len() == EXPLAINED_NODES && best.last().is_some_and(|last| last.1 >= node.1) {
        return;
    }
    let at = best.partition_point(|b| b.1 >= node.1);
    best.insert(at, node);
    best.truncate(EXPLAINED_NODES);
}

/// Decide where `pod` goes. `start` rotates where the search begins, as kube-scheduler does,
/// so that sampling a share of a large cluster does not always look at the same nodes. A pod
/// nominated to a node by preemption goes there first if it fits.
pub fn schedule(pod: &Pod, snapshot: &Snapshot, profile: &Profile, start: usize) -> Decision {
    let cycle = match Cycle::new(pod, snapshot, profile) {
        Ok(c) => c,
        Err(message) => return Decision::Invalid { message },
    };
    let nodes = snapshot.nodes();
    let total = nodes.len();
    let mut explanation = Explanation {
        nodes: total,
        ..Explanation::default()
    };
    if let Some(info) = nominated_node(pod).and_then(|n| snapshot.node(n))
        && cycle.filter_with_nominated(info, snapshot).is_ok()
    {
        explanation.feasible = 1;
        return Decision::Bind {
            node: info.name.clone(),
            explanation,
        };
    }
    let want = feasible_nodes_to_find(total, profile.percentage_of_nodes_to_score);
    let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want.min(total));
    // From `start` round to just before it (no division per node).
    let (head, tail) = nodes.split_at(start % total.max(1));
    for info in tail.iter().chain(head) {
        match cycle.filter_with_nominated(info, snapshot) {
            Ok(()) => {
                feasible.push(info);
                if feasible.len() >= want {
                    break;
                }
            }
            Err(f) => {
                *explanation
                    .filtered
                    .entry(f.reason.into_owned())
                    .or_insert(0) += 1
            }
        }
    }
    explanation.feasible = feasible.len();
    if feasible.is_empty() {
        return Decision::Unschedulable {
            message: unschedulable_message(total, &explanation.filtered),
            explanation,
        };
    }
    let ctx = ScoreContext::new(&cycle, snapshot);
    let mut raw: Vec<[i64; 7]> = Vec::with_capacity(feasible.len());
    let mut spread: Vec<Option<i64>> = Vec::new();
    for info in &feasible {
        let (scores, s) = score(&ctx, info);
        raw.push(scores);
        if ctx.spread.is_some() {
            spread.push(s);
        }
    }
    // Normalize: fewer intolerable PreferNoSchedule taints is better; more preferred node
    // affinity weight is better; inter-pod weights scale min..max; fewer matching pods in the
    // domain is better for spreading.
    let max_taint = raw.iter().map(|s| s[2]).max().unwrap_or(0);
    let max_aff = raw.iter().map(|s| s[3]).max().unwrap_or(0);
    let inter = ctx.inter_pod.is_some().then(|| {
        let mut inter: Vec<i64> = raw.iter().map(|s| s[4]).collect();
        inter_pod_affinity::normalize(&mut inter);
        inter
    });
    let spread = ctx
        .spread
        .is_some()
        .then(|| topology_spread::normalize(&spread));
    let weights = ctx.weights;
    // Highest total wins; ties go to the first found (which rotates with `start`). Only the
    // best few are kept, best first.
    let mut best: Vec<(usize, i64)> = Vec::with_capacity(EXPLAINED_NODES + 1);
    for (i, s) in raw.iter_mut().enumerate() {
        s[2] = if max_taint == 0 {
            100
        } else {
            100 - s[2] * 100 / max_taint
        };
        s[3] = if max_aff == 0 {
            0
        } else {
            s[3] * 100 / max_aff
        };
        s[4] = inter.as_ref().map_or(0, |v| v[i]);
        s[5] = spread.as_ref().map_or(0, |v| v[i]);
        let total: i64 = s.iter().zip(&weights).map(|(v, w)| v * w).sum();
        keep_best(&mut best, (i, total));
    }
    let node = feasible[best[0].0].name.clone();
    explanation.top = best
        .iter()
        .map(|(i, total)| NodeScore {
            node: feasible[*i].name.clone(),
            total: *total,
            scores: SCORES
                .iter()
                .zip(raw[*i])
                .filter(|((k, _), v)| *v != 0 && profile.weight(k) > 0)
                .map(|((k, _), v)| (*k, v))
                .collect(),
        })
        .collect();
    Decision::Bind { node, explanation }
}

#[cfg(test)]
mod tests;
