//! PodTopologySpread, as kube-scheduler's plugin: pods matching a constraint's selector are
//! counted per domain (a node label value) over the nodes the pod could go to; a node is
//! refused when placing the pod there would make its domain exceed the least-loaded one by
//! more than maxSkew (whenUnsatisfiable=DoNotSchedule), and ranked lower the more matching
//! pods its domain holds (ScheduleAnyway).

use crate::snapshot::{Labels, NodeInfo, PlacedPod, Snapshot};
use bosun_api::selector::LabelSelector;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use std::collections::HashMap;

/// kube-scheduler's reasons.
pub const CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
pub const MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// One constraint, compiled.
#[derive(Debug, Clone)]
pub struct Constraint {
    pub max_skew: i64,
    pub topology_key: String,
    pub selector: LabelSelector,
    pub min_domains: i64,
    /// nodeAffinityPolicy Honor (the default): only nodes matching the pod's node affinity
    /// and selector count.
    pub honor_affinity: bool,
    /// nodeTaintsPolicy Honor (default Ignore): only nodes whose taints the pod tolerates
    /// count.
    pub honor_taints: bool,
    /// whenUnsatisfiable DoNotSchedule (a filter) rather than ScheduleAnyway (a score).
    pub hard: bool,
    /// Whether the incoming pod itself matches the selector.
    pub self_match: bool,
}

/// The pod's constraints; an error names the first malformed one.
pub fn constraints(pod: &Pod) -> Result<Vec<Constraint>, String> {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let list = pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or(&[]);
    let mut out = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let path = format!("spec.topologySpreadConstraints[{i}]");
        if c.max_skew <= 0 {
            return Err(format!(
                "{path}.maxSkew: Invalid value: {}: must be greater than zero",
                c.max_skew
            ));
        }
        if c.topology_key.is_empty() {
            return Err(format!(
                "{path}.topologyKey: Required value: can not be empty"
            ));
        }
        let hard = match c.when_unsatisfiable.as_str() {
            "DoNotSchedule" => true,
            "ScheduleAnyway" => false,
            other => {
                return Err(format!(
                    "{path}.whenUnsatisfiable: Unsupported value: \"{other}\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\""
                ));
            }
        };
        let policy = |v: &Option<String>, field: &str, default: bool| match v.as_deref() {
            None => Ok(default),
            Some("Honor") => Ok(true),
            Some("Ignore") => Ok(false),
            Some(other) => Err(format!(
                "{path}.{field}: Unsupported value: \"{other}\": supported values: \"Honor\", \"Ignore\""
            )),
        };
        let mut selector = match &c.label_selector {
            Some(s) => serde_json::to_value(s).map_err(|e| format!("{path}.labelSelector: {e}"))?,
            None => Value::Null,
        };
        // matchLabelKeys: `key in (the pod's value)`, for keys the pod has.
        let added: Vec<Value> = c
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|k| {
                labels
                    .get(k)
                    .map(|v| json!({"key": k, "operator": "In", "values": [v]}))
            })
            .collect();
        if !added.is_empty()
            && let Value::Object(obj) = &mut selector
            && let Value::Array(a) = obj
                .entry("matchExpressions")
                .or_insert_with(|| Value::Array(Vec::new()))
        {
            a.extend(added);
        }
        let selector = LabelSelector::from_label_selector(&selector)
            .map_err(|e| format!("{path}.labelSelector: {e}"))?;
        let min_domains = match c.min_domains {
            None => 1,
            Some(m) if m > 0 && hard => i64::from(m),
            Some(m) if m <= 0 => {
                return Err(format!(
                    "{path}.minDomains: Invalid value: {m}: must be greater than 0"
                ));
            }
            Some(_) => {
                return Err(format!(
                    "{path}.minDomains: Invalid value: {}: can only use minDomains if whenUnsatisfiable=DoNotSchedule",
                    c.min_domains.unwrap_or(0)
                ));
            }
        };
        out.push(Constraint {
            max_skew: i64::from(c.max_skew),
            topology_key: c.topology_key.clone(),
            self_match: selector.matches(&labels),
            selector,
            min_domains,
            honor_affinity: policy(&c.node_affinity_policy, "nodeAffinityPolicy", true)?,
            honor_taints: policy(&c.node_taints_policy, "nodeTaintsPolicy", false)?,
            hard,
        });
    }
    Ok(out)
}

/// Whether a node counts for a constraint: its policies, given whether the node matches the
/// pod's node affinity/selector and tolerates-taints.
fn node_counts(c: &Constraint, affinity_ok: bool, taints_ok: bool) -> bool {
    (!c.honor_affinity || affinity_ok) && (!c.honor_taints || taints_ok)
}

fn matching_pods(c: &Constraint, ns: &str, pods: &[std::sync::Arc<PlacedPod>]) -> i64 {
    pods.iter()
        .filter(|p| !p.terminating && p.namespace == ns && c.selector.matches(&p.labels))
        .count() as i64
}

/// The node-level checks the policies need, from the framework.
pub trait NodeChecks {
    fn affinity_ok(&self, info: &NodeInfo) -> bool;
    fn taints_ok(&self, info: &NodeInfo) -> bool;
}

/// The filter's state for one pod: matching pods per domain for each DoNotSchedule
/// constraint, over the nodes that count.
#[derive(Debug, Clone)]
pub struct FilterState {
    namespace: String,
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
    /// The least count per constraint (0 when there are fewer domains than minDomains).
    min: Vec<i64>,
}

impl FilterState {
    /// Count over the snapshot; `None` without DoNotSchedule constraints.
    pub fn new(
        pod: &Pod,
        all: &[Constraint],
        snapshot: &Snapshot,
        checks: &dyn NodeChecks,
    ) -> Option<Self> {
        let constraints: Vec<Constraint> = all.iter().filter(|c| c.hard).cloned().collect();
        if constraints.is_empty() {
            return None;
        }
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let mut counts = vec![HashMap::new(); constraints.len()];
        for info in snapshot.nodes() {
            let labels = info.labels();
            // A node counts only if it has every constraint's key.
            if !constraints
                .iter()
                .all(|c| labels.contains_key(&c.topology_key))
            {
                continue;
            }
            let (aff, taints) = (checks.affinity_ok(info), checks.taints_ok(info));
            for (c, per_domain) in constraints.iter().zip(counts.iter_mut()) {
                if !node_counts(c, aff, taints) {
                    continue;
                }
                let value = labels.get(&c.topology_key).cloned().unwrap_or_default();
                *per_domain.entry(value).or_insert(0) += matching_pods(c, &namespace, &info.pods);
            }
        }
        let mut state = Self {
            namespace,
            min: vec![0; constraints.len()],
            constraints,
            counts,
        };
        state.recompute_min();
        Some(state)
    }

    fn recompute_min(&mut self) {
        for (i, c) in self.constraints.iter().enumerate() {
            let domains = self.counts[i].len() as i64;
            self.min[i] = if domains < c.min_domains {
                0
            } else {
                self.counts[i].values().copied().min().unwrap_or(0)
            };
        }
    }

    /// Count (delta 1) or uncount (delta -1) a placed pod on `info`, given whether the node
    /// matches the pod's node affinity and tolerates-taints.
    pub fn update(
        &mut self,
        placed: &PlacedPod,
        info: &NodeInfo,
        (affinity_ok, taints_ok): (bool, bool),
        delta: i64,
    ) {
        let labels = info.labels();
        if placed.terminating
            || placed.namespace != self.namespace
            || !self
                .constraints
                .iter()
                .all(|c| labels.contains_key(&c.topology_key))
        {
            return;
        }
        let mut changed = false;
        for (i, c) in self.constraints.iter().enumerate() {
            if node_counts(c, affinity_ok, taints_ok)
                && let Some(v) = labels.get(&c.topology_key)
                && c.selector.matches(&placed.labels)
                && let Some(n) = self.counts[i].get_mut(v)
            {
                *n += delta;
                changed = true;
            }
        }
        if changed {
            self.recompute_min();
        }
    }

    /// The filter: `Err(reason)`.
    pub fn filter(&self, info: &NodeInfo) -> Result<(), &'static str> {
        let labels = info.labels();
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = labels.get(&c.topology_key) else {
                return Err(MISSING_LABEL);
            };
            let count = self.counts[i].get(value).copied().unwrap_or(0);
            let skew = count + i64::from(c.self_match) - self.min[i];
            if skew > c.max_skew {
                return Err(CONSTRAINTS_NOT_MATCH);
            }
        }
        Ok(())
    }
}

/// The score's state: matching pods per domain for each ScheduleAnyway constraint, and each
/// constraint's weight (the log of its domain count, as kube-scheduler weighs them).
#[derive(Debug, Clone)]
pub struct ScoreState {
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
}

impl ScoreState {
    /// `None` without ScheduleAnyway constraints.
    pub fn new(
        pod: &Pod,
        all: &[Constraint],
        snapshot: &Snapshot,
        checks: &dyn NodeChecks,
    ) -> Option<Self> {
        let constraints: Vec<Constraint> = all.iter().filter(|c| !c.hard).cloned().collect();
        if constraints.is_empty() {
            return None;
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let mut counts = vec![HashMap::new(); constraints.len()];
        for info in snapshot.nodes() {
            let labels = info.labels();
            if !constraints
                .iter()
                .all(|c| labels.contains_key(&c.topology_key))
            {
                continue;
            }
            let (aff, taints) = (checks.affinity_ok(info), checks.taints_ok(info));
            for (c, per_domain) in constraints.iter().zip(counts.iter_mut()) {
                if !node_counts(c, aff, taints) {
                    continue;
                }
                let value = labels.get(&c.topology_key).cloned().unwrap_or_default();
                *per_domain.entry(value).or_insert(0) += matching_pods(c, &ns, &info.pods);
            }
        }
        let weights = counts.iter().map(|d| ((d.len() + 2) as f64).ln()).collect();
        Some(Self {
            constraints,
            counts,
            weights,
        })
    }

    /// The raw score of a node (more matching pods: higher), or `None` when the node lacks a
    /// constraint's key (it scores 0 after normalizing).
    pub fn score(&self, info: &NodeInfo) -> Option<i64> {
        let labels: &Labels = info.labels();
        let mut total = 0.0;
        for (i, c) in self.constraints.iter().enumerate() {
            let value = labels.get(&c.topology_key)?;
            let count = self.counts[i].get(value).copied().unwrap_or(0);
            total += count as f64 * self.weights[i] + (c.max_skew - 1) as f64;
        }
        Some(total.round() as i64)
    }
}

/// kube-scheduler's normalization: fewer matching pods is better; nodes without the keys
/// get 0; when every node scores 0, all get 100.
pub fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let scored = raw.iter().flatten();
    let max = scored.clone().copied().max().unwrap_or(0);
    let min = scored.copied().min().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => 100,
            Some(s) => 100 * (max + min - s) / max,
        })
        .collect()
}
