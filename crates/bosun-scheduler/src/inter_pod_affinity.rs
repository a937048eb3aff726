//! InterPodAffinity, as kube-scheduler's plugin: a pod's required podAffinity and
//! podAntiAffinity terms, and the required anti-affinity terms of the pods already placed
//! against the incoming one, counted per topology domain (a node label value) once per
//! scheduling cycle; preferred terms of both sides add or subtract their weights.

use crate::snapshot::{Labels, NodeInfo, PlacedPod, Snapshot};
use bosun_api::selector::LabelSelector;
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// kube-scheduler's reasons.
pub const AFFINITY_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
pub const ANTI_AFFINITY_NOT_MATCH: &str = "node(s) didn't match pod anti-affinity rules";
pub const EXISTING_ANTI_AFFINITY_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// The weight of an existing pod's required affinity term matching the incoming pod, in
/// scoring (kube-scheduler's hardPodAffinityWeight).
pub const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// One term, compiled: which pods (selector, namespaces) in which domains (topology key).
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    pub selector: LabelSelector,
    /// Namespaces named in the term (the owner's own namespace when neither these nor a
    /// namespaceSelector are given).
    pub namespaces: Vec<String>,
    pub namespace_selector: Option<LabelSelector>,
    pub topology_key: String,
    /// The weight of a preferred term (0 for required terms).
    pub weight: i64,
}

static NO_LABELS: Labels = Labels::new();

impl AffinityTerm {
    /// Compile a term of a pod in `own_ns` with `own_labels` (for matchLabelKeys and
    /// mismatchLabelKeys). `path` names the term in errors.
    pub fn compile(
        term: &PodAffinityTerm,
        weight: i64,
        own_ns: &str,
        own_labels: &Labels,
        path: &str,
    ) -> Result<Self, String> {
        if term.topology_key.is_empty() {
            return Err(format!(
                "{path}.topologyKey: Required value: can not be empty"
            ));
        }
        let mut selector = match &term.label_selector {
            Some(s) => serde_json::to_value(s).map_err(|e| format!("{path}.labelSelector: {e}"))?,
            None => Value::Null,
        };
        // matchLabelKeys / mismatchLabelKeys: `key in (own value)` / `key notin (own value)`.
        let extra = |keys: &Option<Vec<String>>, op: &str| -> Vec<Value> {
            keys.iter()
                .flatten()
                .filter_map(|k| {
                    own_labels
                        .get(k)
                        .map(|v| json!({"key": k, "operator": op, "values": [v]}))
                })
                .collect()
        };
        let mut added = extra(&term.match_label_keys, "In");
        added.extend(extra(&term.mismatch_label_keys, "NotIn"));
        if !added.is_empty()
            && let Value::Object(obj) = &mut selector
        {
            let exprs = obj
                .entry("matchExpressions")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = exprs {
                a.extend(added);
            }
        }
        let selector = LabelSelector::from_label_selector(&selector)
            .map_err(|e| format!("{path}.labelSelector: {e}"))?;
        let namespace_selector = match &term.namespace_selector {
            Some(s) => {
                let v = serde_json::to_value(s)
                    .map_err(|e| format!("{path}.namespaceSelector: {e}"))?;
                Some(
                    LabelSelector::from_label_selector(&v)
                        .map_err(|e| format!("{path}.namespaceSelector: {e}"))?,
                )
            }
            None => None,
        };
        let mut namespaces = term.namespaces.clone().unwrap_or_default();
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.push(own_ns.to_string());
        }
        Ok(Self {
            selector,
            namespaces,
            namespace_selector,
            topology_key: term.topology_key.clone(),
            weight,
        })
    }

    /// Whether a pod in `ns` with `labels` is one this term speaks of.
    pub fn matches(&self, ns: &str, labels: &Labels, ns_labels: &HashMap<String, Labels>) -> bool {
        let in_scope = self.namespaces.iter().any(|n| n == ns)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(ns_labels.get(ns).unwrap_or(&NO_LABELS)));
        in_scope && self.selector.matches(labels)
    }
}

/// A pod's inter-pod terms, compiled.
#[derive(Debug, Clone, Default)]
pub struct AffinityTerms {
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti: Vec<AffinityTerm>,
}

impl AffinityTerms {
    /// The pod's terms; `None` when it has none; an error names the first malformed term.
    pub fn of(pod: &Pod) -> Result<Option<Self>, String> {
        let Some(aff) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
            return Ok(None);
        };
        if aff.pod_affinity.is_none() && aff.pod_anti_affinity.is_none() {
            return Ok(None);
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let labels = pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
        let required = |terms: Option<&Vec<PodAffinityTerm>>, path: &str| {
            terms
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, t)| AffinityTerm::compile(t, 0, ns, labels, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>, path: &str| {
            terms
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, t)| {
                    AffinityTerm::compile(
                        &t.pod_affinity_term,
                        i64::from(t.weight),
                        ns,
                        labels,
                        &format!("{path}[{i}].podAffinityTerm"),
                    )
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let a = aff.pod_affinity.as_ref();
        let n = aff.pod_anti_affinity.as_ref();
        let terms = Self {
            required_affinity: required(
                a.and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution",
            )?,
            required_anti: required(
                n.and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
            )?,
            preferred_affinity: preferred(
                a.and_then(|a| {
                    a.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution",
            )?,
            preferred_anti: preferred(
                n.and_then(|a| {
                    a.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
                "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution",
            )?,
        };
        Ok(Some(terms))
    }

    fn is_empty(&self) -> bool {
        self.required_affinity.is_empty()
            && self.required_anti.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti.is_empty()
    }
}

/// Counts per topology key, then per value.
type Counts = HashMap<String, HashMap<String, i64>>;

fn bump(counts: &mut Counts, key: &str, value: &str, delta: i64) {
    let per_value = counts.entry(key.to_string()).or_default();
    let n = per_value.entry(value.to_string()).or_insert(0);
    *n += delta;
    if *n == 0 {
        per_value.remove(value);
        if per_value.is_empty() {
            counts.remove(key);
        }
    }
}

fn count_at(counts: &Counts, key: &str, node: &Labels) -> i64 {
    node.get(key)
        .and_then(|v| counts.get(key)?.get(v))
        .copied()
        .unwrap_or(0)
}

/// The incoming pod, as the filter sees it.
#[derive(Debug, Clone)]
struct Incoming {
    namespace: String,
    labels: Labels,
    terms: Option<Arc<AffinityTerms>>,
}

/// The filter's state for one pod: counts per domain of the pods its required terms match,
/// and of the placed pods whose required anti-affinity matches it. Pods can be taken out
/// and put back (preemption asks "what if these pods were gone").
#[derive(Debug, Clone)]
pub struct FilterState {
    incoming: Incoming,
    /// Domains holding a placed pod whose required anti-affinity term matches the pod.
    existing_anti: Counts,
    /// Domains holding pods that match all the pod's required affinity terms.
    affinity: Counts,
    /// Domains holding pods that match one of the pod's required anti-affinity terms.
    anti: Counts,
}

impl FilterState {
    /// Count over the snapshot. `None` when there is nothing to check.
    pub fn new(pod: &Pod, terms: Option<Arc<AffinityTerms>>, snapshot: &Snapshot) -> Option<Self> {
        let has_required = terms
            .as_ref()
            .is_some_and(|t| !t.required_affinity.is_empty() || !t.required_anti.is_empty());
        let mut state = Self {
            incoming: Incoming {
                namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                labels: pod.metadata.labels.clone().unwrap_or_default(),
                terms,
            },
            existing_anti: Counts::new(),
            affinity: Counts::new(),
            anti: Counts::new(),
        };
        let ns = snapshot.namespaces();
        if has_required {
            for info in snapshot.nodes() {
                for p in &info.pods {
                    state.update(p, info.labels(), ns, 1);
                }
            }
        } else {
            for (info, p) in snapshot.pods_with_affinity() {
                state.update(p, info.labels(), ns, 1);
            }
            if state.existing_anti.is_empty() {
                return None;
            }
        }
        Some(state)
    }

    /// Count (delta 1) or uncount (delta -1) a placed pod on a node with `node_labels`.
    pub fn update(
        &mut self,
        placed: &PlacedPod,
        node_labels: &Labels,
        ns: &HashMap<String, Labels>,
        delta: i64,
    ) {
        let inc = &self.incoming;
        if let Some(terms) = &placed.affinity {
            for t in &terms.required_anti {
                if let Some(v) = node_labels.get(&t.topology_key)
                    && t.matches(&inc.namespace, &inc.labels, ns)
                {
                    bump(&mut self.existing_anti, &t.topology_key, v, delta);
                }
            }
        }
        let Some(terms) = &inc.terms else {
            return;
        };
        if !terms.required_affinity.is_empty()
            && terms
                .required_affinity
                .iter()
                .all(|t| t.matches(&placed.namespace, &placed.labels, ns))
        {
            for t in &terms.required_affinity {
                if let Some(v) = node_labels.get(&t.topology_key) {
                    bump(&mut self.affinity, &t.topology_key, v, delta);
                }
            }
        }
        for t in &terms.required_anti {
            if let Some(v) = node_labels.get(&t.topology_key)
                && t.matches(&placed.namespace, &placed.labels, ns)
            {
                bump(&mut self.anti, &t.topology_key, v, delta);
            }
        }
    }

    /// The filter: `Err((reason, resolvable))`. A pod whose affinity no placed pod matches
    /// may go anywhere its terms' keys exist if it matches its own terms (the first pod of a
    /// group), as kube-scheduler allows.
    pub fn filter(
        &self,
        info: &NodeInfo,
        ns: &HashMap<String, Labels>,
    ) -> Result<(), (&'static str, bool)> {
        let labels = info.labels();
        if let Some(terms) = &self.incoming.terms {
            let mut pods_exist = true;
            for t in &terms.required_affinity {
                if !labels.contains_key(&t.topology_key) {
                    return Err((AFFINITY_NOT_MATCH, false));
                }
                if count_at(&self.affinity, &t.topology_key, labels) <= 0 {
                    pods_exist = false;
                }
            }
            if !pods_exist {
                let inc = &self.incoming;
                let matches_itself = terms
                    .required_affinity
                    .iter()
                    .all(|t| t.matches(&inc.namespace, &inc.labels, ns));
                if !(self.affinity.is_empty() && matches_itself) {
                    return Err((AFFINITY_NOT_MATCH, false));
                }
            }
            if terms
                .required_anti
                .iter()
                .any(|t| count_at(&self.anti, &t.topology_key, labels) > 0)
            {
                return Err((ANTI_AFFINITY_NOT_MATCH, true));
            }
        }
        if self
            .existing_anti
            .iter()
            .any(|(key, values)| labels.get(key).is_some_and(|v| values.contains_key(v)))
        {
            return Err((EXISTING_ANTI_AFFINITY_NOT_MATCH, true));
        }
        Ok(())
    }
}

/// The score's state for one pod: the summed weights per domain.
#[derive(Debug, Clone, Default)]
pub struct ScoreState {
    scores: Counts,
}

impl ScoreState {
    /// Sum over the snapshot; `None` when no term on either side can score.
    pub fn new(
        pod: &Pod,
        terms: Option<&Arc<AffinityTerms>>,
        snapshot: &Snapshot,
        hard_weight: i64,
    ) -> Option<Self> {
        let ns_of = pod.metadata.namespace.clone().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let own =
            terms.filter(|t| !t.preferred_affinity.is_empty() || !t.preferred_anti.is_empty());
        let ns = snapshot.namespaces();
        let mut state = Self::default();
        let mut score = |placed: &PlacedPod, node: &Labels| {
            if let Some(own) = own {
                for t in &own.preferred_affinity {
                    if let Some(v) = node.get(&t.topology_key)
                        && t.matches(&placed.namespace, &placed.labels, ns)
                    {
                        bump(&mut state.scores, &t.topology_key, v, t.weight);
                    }
                }
                for t in &own.preferred_anti {
                    if let Some(v) = node.get(&t.topology_key)
                        && t.matches(&placed.namespace, &placed.labels, ns)
                    {
                        bump(&mut state.scores, &t.topology_key, v, -t.weight);
                    }
                }
            }
            let Some(theirs) = placed.affinity.as_deref().filter(|t| !t.is_empty()) else {
                return;
            };
            let sides = [
                (&theirs.required_affinity, hard_weight, false),
                (&theirs.preferred_affinity, 0, false),
                (&theirs.preferred_anti, 0, true),
            ];
            for (list, fixed, negative) in sides {
                for t in list {
                    let w = if fixed > 0 { fixed } else { t.weight };
                    if w == 0 {
                        continue;
                    }
                    if let Some(v) = node.get(&t.topology_key)
                        && t.matches(&ns_of, &labels, ns)
                    {
                        bump(
                            &mut state.scores,
                            &t.topology_key,
                            v,
                            if negative { -w } else { w },
                        );
                    }
                }
            }
        };
        if own.is_some() {
            for info in snapshot.nodes() {
                for p in &info.pods {
                    score(p, info.labels());
                }
            }
        } else {
            for (info, p) in snapshot.pods_with_affinity() {
                score(p, info.labels());
            }
        }
        (!state.scores.is_empty()).then_some(state)
    }

    /// The raw score of a node: the sum over its domains.
    pub fn score(&self, info: &NodeInfo) -> i64 {
        let labels = info.labels();
        self.scores
            .iter()
            .filter_map(|(key, values)| values.get(labels.get(key)?))
            .sum()
    }
}

/// kube-scheduler's normalization: min..max over the nodes scaled to 0..=100.
pub fn normalize(raw: &mut [i64]) {
    let (Some(min), Some(max)) = (raw.iter().min().copied(), raw.iter().max().copied()) else {
        return;
    };
    let diff = max - min;
    for s in raw.iter_mut() {
        *s = if diff > 0 { 100 * (*s - min) / diff } else { 0 };
    }
}
