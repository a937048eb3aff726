//! `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`) read from YAML into
//! [`Profile`]s, pure: each profile's `schedulerName`, its plugins enabled and disabled per
//! extension point (by name, `"*"` for all the point's defaults), score weights, and the
//! `pluginConfig` bosun understands (NodeResourcesFit's scoring strategy, InterPodAffinity's
//! hardPodAffinityWeight). A plugin bosun does not know, a bad weight or an unsupported
//! strategy is an error that names it, so a scheduler never starts with a configuration it
//! would silently ignore.

use crate::framework::{FILTERS, Profile, SCORES, ScoringStrategy};
use serde::Deserialize;
use std::collections::BTreeSet;

/// The only API version accepted.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
/// The PostFilter plugin that preempts.
pub const DEFAULT_PREEMPTION: &str = "DefaultPreemption";
/// The largest score weight accepted (kube-scheduler accepts up to 100 in v1 validation).
pub const MAX_WEIGHT: i64 = 100;

/// Plugins bosun runs at points other than filter and score (always on, or not configurable
/// here): naming them is accepted.
const OTHER_PLUGINS: [&str; 3] = ["PrioritySort", "DefaultBinder", DEFAULT_PREEMPTION];

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The YAML does not parse into the configuration's shape.
    #[error("invalid scheduler configuration: {0}")]
    Parse(String),
    /// Not `kubescheduler.config.k8s.io/v1` / `KubeSchedulerConfiguration`.
    #[error("unsupported apiVersion/kind {0:?}: want {API_VERSION} KubeSchedulerConfiguration")]
    Version(String),
    /// A plugin bosun does not have.
    #[error("profile {profile:?}: unknown plugin {name:?} at plugins.{point} (known: {known})")]
    UnknownPlugin {
        profile: String,
        point: String,
        name: String,
        known: String,
    },
    /// A score weight out of range.
    #[error(
        "profile {profile:?}: plugin {name:?} has weight {weight}: a score weight must be 1..={MAX_WEIGHT}"
    )]
    BadWeight {
        profile: String,
        name: String,
        weight: i64,
    },
    /// Two profiles with one schedulerName.
    #[error("duplicate schedulerName {0:?}: each profile needs its own")]
    DuplicateSchedulerName(String),
    /// A pluginConfig bosun cannot honour.
    #[error("profile {profile:?}: pluginConfig {name}: {message}")]
    BadPluginConfig {
        profile: String,
        name: String,
        message: String,
    },
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// The leader election part of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderElection {
    pub leader_elect: Option<bool>,
    pub resource_name: Option<String>,
    pub resource_namespace: Option<String>,
}

/// A configuration: the profiles to serve and how to elect a leader.
#[derive(Debug, Clone)]
pub struct SchedulerConfiguration {
    pub profiles: Vec<Profile>,
    pub leader_election: LeaderElection,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    profiles: Vec<RawProfile>,
    percentage_of_nodes_to_score: Option<u32>,
    #[serde(default)]
    leader_election: LeaderElection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    scheduler_name: Option<String>,
    percentage_of_nodes_to_score: Option<u32>,
    #[serde(default)]
    plugins: Plugins,
    #[serde(default)]
    plugin_config: Vec<PluginConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plugins {
    #[serde(default)]
    multi_point: PluginSet,
    #[serde(default)]
    queue_sort: PluginSet,
    #[serde(default)]
    pre_filter: PluginSet,
    #[serde(default)]
    filter: PluginSet,
    #[serde(default)]
    post_filter: PluginSet,
    #[serde(default)]
    pre_score: PluginSet,
    #[serde(default)]
    score: PluginSet,
    #[serde(default)]
    reserve: PluginSet,
    #[serde(default)]
    permit: PluginSet,
    #[serde(default)]
    pre_bind: PluginSet,
    #[serde(default)]
    bind: PluginSet,
    #[serde(default)]
    post_bind: PluginSet,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginSet {
    #[serde(default)]
    enabled: Vec<PluginRef>,
    #[serde(default)]
    disabled: Vec<PluginRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginRef {
    name: String,
    weight: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginConfig {
    name: String,
    #[serde(default)]
    args: serde_json::Value,
}

/// Parse and validate a configuration file's text.
pub fn parse(text: &str) -> Result<SchedulerConfiguration> {
    let raw: Raw = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let version = raw.api_version.as_deref().unwrap_or_default();
    let kind = raw.kind.as_deref().unwrap_or("KubeSchedulerConfiguration");
    if version != API_VERSION || kind != "KubeSchedulerConfiguration" {
        return Err(ConfigError::Version(format!("{version} {kind}")));
    }
    let raws = if raw.profiles.is_empty() {
        vec![RawProfile::default()]
    } else {
        raw.profiles
    };
    let mut names = BTreeSet::new();
    let mut profiles = Vec::with_capacity(raws.len());
    for p in raws {
        let profile = profile(p, raw.percentage_of_nodes_to_score)?;
        if !names.insert(profile.scheduler_name.clone()) {
            return Err(ConfigError::DuplicateSchedulerName(profile.scheduler_name));
        }
        profiles.push(profile);
    }
    Ok(SchedulerConfiguration {
        profiles,
        leader_election: raw.leader_election,
    })
}

fn score_names() -> impl Iterator<Item = &'static str> {
    SCORES.iter().map(|(n, _)| *n)
}

fn all_names() -> BTreeSet<&'static str> {
    FILTERS
        .iter()
        .copied()
        .chain(score_names())
        .chain(OTHER_PLUGINS)
        .collect()
}

fn known(names: impl IntoIterator<Item = &'static str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// Resolve `name` among `among`, or say it is unknown at `point`.
fn lookup(profile: &str, point: &str, name: &str, among: &[&'static str]) -> Result<&'static str> {
    among
        .iter()
        .copied()
        .find(|n| *n == name)
        .ok_or_else(|| ConfigError::UnknownPlugin {
            profile: profile.into(),
            point: point.into(),
            name: name.into(),
            known: known(among.iter().copied()),
        })
}

fn profile(raw: RawProfile, percentage: Option<u32>) -> Result<Profile> {
    let mut p = Profile {
        scheduler_name: raw
            .scheduler_name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| Profile::default().scheduler_name),
        percentage_of_nodes_to_score: raw.percentage_of_nodes_to_score.or(percentage).unwrap_or(0),
        ..Profile::default()
    };
    let name = p.scheduler_name.clone();
    let plugins = raw.plugins;
    let all: Vec<&'static str> = all_names().into_iter().collect();
    let scores: Vec<&'static str> = score_names().collect();

    // Points bosun does not make configurable: the names must still exist.
    for (point, set) in [
        ("queueSort", &plugins.queue_sort),
        ("preFilter", &plugins.pre_filter),
        ("preScore", &plugins.pre_score),
        ("reserve", &plugins.reserve),
        ("permit", &plugins.permit),
        ("preBind", &plugins.pre_bind),
        ("bind", &plugins.bind),
        ("postBind", &plugins.post_bind),
    ] {
        for r in set.enabled.iter().chain(&set.disabled) {
            if r.name != "*" {
                lookup(&name, point, &r.name, &all)?;
            }
        }
    }

    // multiPoint first, then the specific points (which win, as in kube-scheduler).
    for (point, set) in [
        ("multiPoint", &plugins.multi_point),
        ("filter", &plugins.filter),
    ] {
        let among: &[&'static str] = if point == "multiPoint" {
            &all
        } else {
            &FILTERS
        };
        for r in &set.disabled {
            if r.name == "*" {
                p.disabled_filters = FILTERS.iter().copied().collect();
            } else {
                let n = lookup(&name, point, &r.name, among)?;
                if FILTERS.contains(&n) {
                    p.disabled_filters.insert(n);
                }
            }
        }
        for r in &set.enabled {
            let n = lookup(&name, point, &r.name, among)?;
            p.disabled_filters.remove(n);
        }
    }

    for (point, set) in [
        ("multiPoint", &plugins.multi_point),
        ("score", &plugins.score),
    ] {
        let among: &[&'static str] = if point == "multiPoint" { &all } else { &scores };
        for r in &set.disabled {
            if r.name == "*" {
                p.weights.clear();
            } else {
                let n = lookup(&name, point, &r.name, among)?;
                p.weights.remove(n);
            }
        }
        for r in &set.enabled {
            let n = lookup(&name, point, &r.name, among)?;
            let Some(default) = SCORES.iter().find(|(s, _)| *s == n).map(|(_, w)| *w) else {
                continue; // multiPoint naming a plugin that does not score
            };
            let weight = match r.weight {
                None | Some(0) => default,
                Some(w) if (1..=MAX_WEIGHT).contains(&w) => w,
                Some(w) => {
                    return Err(ConfigError::BadWeight {
                        profile: name.clone(),
                        name: n.into(),
                        weight: w,
                    });
                }
            };
            p.weights.insert(n, weight);
        }
    }

    for (point, set) in [
        ("multiPoint", &plugins.multi_point),
        ("postFilter", &plugins.post_filter),
    ] {
        let among: &[&'static str] = if point == "multiPoint" {
            &all
        } else {
            &[DEFAULT_PREEMPTION]
        };
        for r in &set.disabled {
            if r.name == "*" || lookup(&name, point, &r.name, among)? == DEFAULT_PREEMPTION {
                p.preemption = false;
            }
        }
        for r in &set.enabled {
            if lookup(&name, point, &r.name, among)? == DEFAULT_PREEMPTION {
                p.preemption = true;
            }
        }
    }

    for c in raw.plugin_config {
        plugin_config(&mut p, &c, &all)?;
    }
    Ok(p)
}

fn plugin_config(p: &mut Profile, c: &PluginConfig, all: &[&'static str]) -> Result<()> {
    let bad = |message: String| ConfigError::BadPluginConfig {
        profile: p.scheduler_name.clone(),
        name: c.name.clone(),
        message,
    };
    match lookup(&p.scheduler_name, "pluginConfig", &c.name, all)? {
        "NodeResourcesFit" => {
            let strategy = c.args.pointer("/scoringStrategy/type");
            p.strategy = match strategy.and_then(|t| t.as_str()) {
                None if strategy.is_none() => p.strategy,
                Some("LeastAllocated") => ScoringStrategy::LeastAllocated,
                Some("MostAllocated") => ScoringStrategy::MostAllocated,
                other => {
                    return Err(bad(format!(
                        "scoringStrategy.type {}: bosun supports LeastAllocated and MostAllocated",
                        other.map_or_else(
                            || strategy.map(|s| s.to_string()).unwrap_or_default(),
                            String::from
                        )
                    )));
                }
            };
        }
        "InterPodAffinity" => {
            if let Some(w) = c.args.get("hardPodAffinityWeight") {
                match w.as_i64().filter(|w| (0..=100).contains(w)) {
                    Some(w) => p.hard_pod_affinity_weight = w,
                    None => return Err(bad(format!("hardPodAffinityWeight {w}: must be 0..=100"))),
                }
            }
        }
        // Other plugins take no arguments bosun acts on.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Profile {
        let mut c = parse(text).expect("parses");
        assert_eq!(c.profiles.len(), 1);
        c.profiles.remove(0)
    }

    #[test]
    fn an_empty_configuration_is_the_default_profile() {
        let p =
            one("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n");
        let d = Profile::default();
        assert_eq!(p.scheduler_name, "default-scheduler");
        assert_eq!(p.weights, d.weights);
        assert!(p.disabled_filters.is_empty());
        assert!(p.preemption);
        assert_eq!(p.strategy, ScoringStrategy::LeastAllocated);
    }

    #[test]
    fn several_profiles_with_plugins_weights_and_strategy() {
        let c = parse(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 40
leaderElection: {leaderElect: true, resourceName: packer}
profiles:
- schedulerName: default-scheduler
- schedulerName: packer
  percentageOfNodesToScore: 70
  plugins:
    score:
      disabled: [{name: "*"}]
      enabled:
      - {name: NodeResourcesFit, weight: 5}
      - {name: ImageLocality}
    filter:
      disabled: [{name: TaintToleration}]
    postFilter:
      disabled: [{name: DefaultPreemption}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 1}]
  - name: InterPodAffinity
    args: {hardPodAffinityWeight: 3}
"#,
        )
        .expect("parses");
        assert_eq!(c.leader_election.resource_name.as_deref(), Some("packer"));
        let [d, p] = &c.profiles[..] else {
            panic!("two profiles")
        };
        assert_eq!(d.scheduler_name, "default-scheduler");
        assert_eq!(d.percentage_of_nodes_to_score, 40);
        assert_eq!(p.scheduler_name, "packer");
        assert_eq!(p.percentage_of_nodes_to_score, 70);
        assert_eq!(
            p.weights.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            vec![("ImageLocality", 1), ("NodeResourcesFit", 5)]
        );
        assert_eq!(
            p.disabled_filters.iter().copied().collect::<Vec<_>>(),
            vec!["TaintToleration"]
        );
        assert!(!p.preemption);
        assert_eq!(p.strategy, ScoringStrategy::MostAllocated);
        assert_eq!(p.hard_pod_affinity_weight, 3);
    }

    #[test]
    fn multi_point_disables_everywhere_and_specific_points_enable_again() {
        let p = one(r#"
apiVersion: kubescheduler.config.k8s.io/v1
profiles:
- plugins:
    multiPoint:
      disabled: [{name: NodeAffinity}, {name: DefaultPreemption}]
    filter:
      enabled: [{name: NodeAffinity}]
"#);
        assert!(p.disabled_filters.is_empty());
        assert!(!p.weights.contains_key("NodeAffinity"));
        assert!(!p.preemption);
    }

    #[test]
    fn unknown_plugins_are_named() {
        for (point, yaml) in [
            ("filter", "filter: {enabled: [{name: Bogus}]}"),
            ("score", "score: {disabled: [{name: Bogus}]}"),
            ("preFilter", "preFilter: {enabled: [{name: Bogus}]}"),
            ("postFilter", "postFilter: {enabled: [{name: Bogus}]}"),
            ("multiPoint", "multiPoint: {enabled: [{name: Bogus}]}"),
        ] {
            let e = parse(&format!(
                "apiVersion: kubescheduler.config.k8s.io/v1\nprofiles:\n- schedulerName: s\n  plugins: {{{yaml}}}\n"
            ))
            .expect_err(point);
            match &e {
                ConfigError::UnknownPlugin { point: p, name, .. } => {
                    assert_eq!((p.as_str(), name.as_str()), (point, "Bogus"));
                }
                other => panic!("{point}: {other:?}"),
            }
            assert!(e.to_string().contains("unknown plugin \"Bogus\""), "{e}");
        }
        // A score plugin is not a filter.
        let e = parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nprofiles:\n- plugins: {filter: {enabled: [{name: ImageLocality}]}}\n",
        )
        .expect_err("not a filter");
        assert!(matches!(e, ConfigError::UnknownPlugin { .. }), "{e:?}");
        let e = parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nprofiles:\n- pluginConfig: [{name: Bogus, args: {}}]\n",
        )
        .expect_err("unknown pluginConfig");
        assert!(e.to_string().contains("\"Bogus\""), "{e}");
    }

    #[test]
    fn bad_weights_strategies_versions_and_duplicates_are_refused() {
        for w in [-1, 101] {
            let e = parse(&format!(
                "apiVersion: kubescheduler.config.k8s.io/v1\nprofiles:\n- plugins: {{score: {{enabled: [{{name: ImageLocality, weight: {w}}}]}}}}\n"
            ))
            .expect_err("bad weight");
            assert_eq!(
                e,
                ConfigError::BadWeight {
                    profile: "default-scheduler".into(),
                    name: "ImageLocality".into(),
                    weight: w
                }
            );
        }
        let e = parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nprofiles:\n- pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: RequestedToCapacityRatio}}}]\n",
        )
        .expect_err("strategy");
        assert!(e.to_string().contains("RequestedToCapacityRatio"), "{e}");
        let e = parse("apiVersion: kubescheduler.config.k8s.io/v1beta3\n").expect_err("version");
        assert!(matches!(e, ConfigError::Version(_)), "{e:?}");
        let e = parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nprofiles: [{schedulerName: a}, {schedulerName: a}]\n",
        )
        .expect_err("duplicate");
        assert_eq!(e, ConfigError::DuplicateSchedulerName("a".into()));
        let e =
            parse("apiVersion: kubescheduler.config.k8s.io/v1\nprofiles: 3\n").expect_err("shape");
        assert!(matches!(e, ConfigError::Parse(_)), "{e:?}");
    }
}
