//! Filter, then rank: the decision for one pod as a pure function of the pod, the snapshot and
//! the profile. Each filter returns why a node does not fit, in kube-scheduler's words; each
//! score ranks a fitting node from 0 to 100.

use crate::resources::{Resources, pod_requests};
use crate::snapshot::{NodeInfo, Snapshot, host_ports};
use k8s_openapi::api::core::v1::{
    NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// How nodes are ranked by their free resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScoringStrategy {
    /// Prefer the emptiest nodes (spreads pods): the default.
    LeastAllocated,
    /// Prefer the fullest nodes (packs pods).
    MostAllocated,
}

/// A scheduling profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub scheduler_name: String,
    pub strategy: ScoringStrategy,
    /// Weights of the scores: NodeResourcesFit, BalancedAllocation, TaintToleration,
    /// NodeAffinity.
    pub weights: BTreeMap<&'static str, i64>,
    /// Stop filtering after this share of nodes found feasible (0: kube-scheduler's adaptive
    /// default).
    pub percentage_of_nodes_to_score: u32,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            scheduler_name: "default-scheduler".into(),
            strategy: ScoringStrategy::LeastAllocated,
            weights: BTreeMap::from([
                ("NodeResourcesFit", 1),
                ("NodeResourcesBalancedAllocation", 1),
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
            ]),
            percentage_of_nodes_to_score: 0,
        }
    }
}

/// Why a pod went where it did, or why it fits nowhere: failed nodes counted by reason, and
/// the score breakdown of the best nodes (at most 5).
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

/// The filters, in kube-scheduler's order. `Err(reason)` when the node does not fit.
pub fn filter(pod: &Pod, requests: &Resources, info: &NodeInfo) -> Result<(), String> {
    let spec = pod.spec.as_ref();
    let node_spec = info.node.spec.as_ref();
    // NodeUnschedulable
    if node_spec.and_then(|s| s.unschedulable) == Some(true) {
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        };
        if !tolerations(pod).iter().any(|t| tolerates(t, &taint)) {
            return Err("node(s) were unschedulable".into());
        }
    }
    // NodeName
    if let Some(name) = spec
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
        && name != info.name
    {
        return Err("node(s) didn't match the requested node name".into());
    }
    // TaintToleration (NoSchedule and NoExecute); not-ready/unreachable taints say so.
    for taint in node_spec.and_then(|s| s.taints.as_deref()).unwrap_or(&[]) {
        if taint.effect == "PreferNoSchedule" {
            continue;
        }
        if !tolerations(pod).iter().any(|t| tolerates(t, taint)) {
            return Err(format!(
                "node(s) had untolerated taint {}",
                taint_text(taint)
            ));
        }
    }
    // Readiness (kube-scheduler relies on the not-ready taint; bosun also checks the condition).
    let ready = info
        .node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    if !ready {
        return Err("node(s) had untolerated taint {node.kubernetes.io/not-ready: }".into());
    }
    // NodeAffinity and nodeSelector
    let labels = info.node.metadata.labels.as_ref();
    if let Some(selector) = spec.and_then(|s| s.node_selector.as_ref())
        && !selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    {
        return Err("node(s) didn't match Pod's node affinity/selector".into());
    }
    if let Some(required) = spec
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        && !required
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, info))
    {
        return Err("node(s) didn't match Pod's node affinity/selector".into());
    }
    // NodePorts
    for (proto, ip, port) in host_ports(pod) {
        let clash = info.ports.iter().any(|(p, i, n)| {
            *p == proto && *n == port && (i == &ip || i == "0.0.0.0" || ip == "0.0.0.0")
        });
        if clash {
            return Err("node(s) didn't have free ports for the requested pod ports".into());
        }
    }
    // NodeResourcesFit
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

/// The score plugins, in the order [`score`] returns them.
pub const SCORES: [&str; 4] = [
    "NodeResourcesFit",
    "NodeResourcesBalancedAllocation",
    "TaintToleration",
    "NodeAffinity",
];

/// The scores of a fitting node, in the order of [`SCORES`]: resource fit and balance are
/// 0..=100; TaintToleration (count of intolerable PreferNoSchedule taints) and NodeAffinity
/// (sum of matching preferred weights) are raw, normalized across nodes by [`schedule`].
pub fn score(pod: &Pod, requests: &Resources, info: &NodeInfo, profile: &Profile) -> [i64; 4] {
    let (cpu, mem) = score_requests(requests);
    let used_cpu = info.requested.milli_cpu + cpu;
    let used_mem = info.requested.memory + mem;
    let frac = |used: i64, alloc: i64| {
        if alloc <= 0 {
            1.0
        } else {
            (used as f64 / alloc as f64).min(1.0)
        }
    };
    let (fc, fm) = (
        frac(used_cpu, info.allocatable.milli_cpu),
        frac(used_mem, info.allocatable.memory),
    );
    let fit = match profile.strategy {
        ScoringStrategy::LeastAllocated => ((1.0 - fc) * 100.0 + (1.0 - fm) * 100.0) / 2.0,
        ScoringStrategy::MostAllocated => (fc * 100.0 + fm * 100.0) / 2.0,
    };
    let balanced = (1.0 - (fc - fm).abs()) * 100.0;
    let prefer_no_schedule = info
        .node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
        .iter()
        .filter(|t| {
            t.effect == "PreferNoSchedule" && !tolerations(pod).iter().any(|tol| tolerates(tol, t))
        })
        .count() as i64;
    let preferred: i64 = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map_or(0, |terms| {
            terms
                .iter()
                .filter(|t| term_matches(&t.preference, info))
                .map(|t| i64::from(t.weight))
                .sum()
        });
    [
        fit.round() as i64,
        balanced.round() as i64,
        prefer_no_schedule,
        preferred,
    ]
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

/// Decide where `pod` goes. `start` rotates where the search begins, as kube-scheduler does,
/// so that sampling a share of a large cluster does not always look at the same nodes.
pub fn schedule(pod: &Pod, snapshot: &Snapshot, profile: &Profile, start: usize) -> Decision {
    let nodes = snapshot.nodes();
    let total = nodes.len();
    let requests = pod_requests(pod);
    let want = feasible_nodes_to_find(total, profile.percentage_of_nodes_to_score);
    let mut explanation = Explanation {
        nodes: total,
        ..Explanation::default()
    };
    let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want.min(total));
    for i in 0..total {
        let info = &nodes[(start + i) % total];
        match filter(pod, &requests, info) {
            Ok(()) => {
                feasible.push(info);
                if feasible.len() >= want {
                    break;
                }
            }
            Err(reason) => *explanation.filtered.entry(reason).or_insert(0) += 1,
        }
    }
    explanation.feasible = feasible.len();
    if feasible.is_empty() {
        return Decision::Unschedulable {
            message: unschedulable_message(total, &explanation.filtered),
            explanation,
        };
    }
    let mut raw: Vec<[i64; 4]> = feasible
        .iter()
        .map(|n| score(pod, &requests, n, profile))
        .collect();
    // Normalize: fewer intolerable PreferNoSchedule taints is better; more preferred
    // affinity weight is better; both scale to 0..=100 across the feasible nodes.
    let max_taint = raw.iter().map(|s| s[2]).max().unwrap_or(0);
    let max_aff = raw.iter().map(|s| s[3]).max().unwrap_or(0);
    let weights: Vec<i64> = SCORES
        .iter()
        .map(|k| profile.weights.get(k).copied().unwrap_or(0))
        .collect();
    let mut totals: Vec<(usize, i64)> = Vec::with_capacity(raw.len());
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
        totals.push((i, s.iter().zip(&weights).map(|(v, w)| v * w).sum()));
    }
    // Highest total wins; ties go to the first found (which rotates with `start`).
    totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let node = feasible[totals[0].0].name.clone();
    explanation.top = totals
        .iter()
        .take(5)
        .map(|(i, total)| NodeScore {
            node: feasible[*i].name.clone(),
            total: *total,
            scores: SCORES.iter().copied().zip(raw[*i]).collect(),
        })
        .collect();
    Decision::Bind { node, explanation }
}

#[cfg(test)]
mod tests;
