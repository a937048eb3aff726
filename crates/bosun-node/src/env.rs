//! A container's environment and command as the kubelet builds them, pure: `envFrom`, then
//! `env` with literal values, ConfigMap and Secret keys and the downward API, and `$(VAR)`
//! expansion in values, command and args.

use k8s_openapi::api::core::v1::{Container, Pod};
use std::collections::{BTreeMap, BTreeSet};

/// ConfigMaps and Secrets the pod refers to, fetched by the caller (Secret data decoded).
/// A name that is absent was not found.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
}

/// Why a container's configuration could not be built (the kubelet's
/// CreateContainerConfigError).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);

/// The ConfigMap and Secret names the pod's containers and volumes refer to.
pub fn referenced(pod: &Pod) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut cms = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let Some(spec) = &pod.spec else {
        return (cms, secrets);
    };
    let all = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for c in all {
        for from in c.env_from.iter().flatten() {
            if let Some(r) = &from.config_map_ref {
                cms.insert(r.name.clone());
            }
            if let Some(r) = &from.secret_ref {
                secrets.insert(r.name.clone());
            }
        }
        for e in c.env.iter().flatten() {
            if let Some(vf) = &e.value_from {
                if let Some(r) = &vf.config_map_key_ref {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = &vf.secret_key_ref {
                    secrets.insert(r.name.clone());
                }
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            cms.insert(cm.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.insert(s);
        }
    }
    (cms, secrets)
}

/// Expand `$(VAR)` from `env`; `$$` is a literal `$`; unknown references stay as written.
pub fn expand(input: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The downward API value of a `fieldRef.fieldPath`.
fn field(pod: &Pod, path: &str, pod_ip: &str, host_ip: &str) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let in_map = |map: &Option<BTreeMap<String, String>>, prefix: &str| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(
            map.as_ref()
                .and_then(|m| m.get(key))
                .cloned()
                .unwrap_or_default(),
        )
    };
    let spec = pod.spec.as_ref();
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        _ => {
            if let Some(v) = in_map(&meta.labels, "metadata.labels['") {
                v
            } else if let Some(v) = in_map(&meta.annotations, "metadata.annotations['") {
                v
            } else {
                return Err(EnvError(format!("unsupported fieldPath: {path}")));
            }
        }
    })
}

/// The environment of `container`, in order, with later definitions of a name winning.
pub fn environment(
    pod: &Pod,
    container: &Container,
    sources: &Sources,
    pod_ip: &str,
    host_ip: &str,
) -> Result<Vec<(String, String)>, EnvError> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    fn set(
        env: &mut Vec<(String, String)>,
        seen: &mut BTreeMap<String, String>,
        k: String,
        v: String,
    ) {
        seen.insert(k.clone(), v.clone());
        env.retain(|(name, _)| *name != k);
        env.push((k, v));
    }
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (kind, name, optional, data) = if let Some(r) = &from.config_map_ref {
            (
                "configmap",
                &r.name,
                r.optional,
                sources.config_maps.get(&r.name),
            )
        } else if let Some(r) = &from.secret_ref {
            ("secret", &r.name, r.optional, sources.secrets.get(&r.name))
        } else {
            continue;
        };
        match data {
            Some(data) => {
                for (k, v) in data {
                    set(&mut env, &mut seen, format!("{prefix}{k}"), v.clone());
                }
            }
            None if optional == Some(true) => {}
            None => return Err(EnvError(format!("{kind} \"{name}\" not found"))),
        }
    }
    for e in container.env.iter().flatten() {
        let value = if let Some(vf) = &e.value_from {
            if let Some(f) = &vf.field_ref {
                field(pod, &f.field_path, pod_ip, host_ip)?
            } else if let Some(r) = &vf.config_map_key_ref {
                match sources.config_maps.get(&r.name) {
                    Some(data) => match data.get(&r.key) {
                        Some(v) => v.clone(),
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(EnvError(format!(
                                "couldn't find key {} in ConfigMap {}/{}",
                                r.key,
                                pod.metadata.namespace.as_deref().unwrap_or(""),
                                r.name
                            )));
                        }
                    },
                    None if r.optional == Some(true) => continue,
                    None => return Err(EnvError(format!("configmap \"{}\" not found", r.name))),
                }
            } else if let Some(r) = &vf.secret_key_ref {
                match sources.secrets.get(&r.name) {
                    Some(data) => match data.get(&r.key) {
                        Some(v) => v.clone(),
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(EnvError(format!(
                                "couldn't find key {} in Secret {}/{}",
                                r.key,
                                pod.metadata.namespace.as_deref().unwrap_or(""),
                                r.name
                            )));
                        }
                    },
                    None if r.optional == Some(true) => continue,
                    None => return Err(EnvError(format!("secret \"{}\" not found", r.name))),
                }
            } else {
                // resourceFieldRef and others are not modelled: an empty value.
                String::new()
            }
        } else {
            expand(e.value.as_deref().unwrap_or(""), &seen)
        };
        set(&mut env, &mut seen, e.name.clone(), value);
    }
    Ok(env)
}

/// `$(VAR)` references expanded in each of `args`.
pub fn expand_all(args: &[String], env: &[(String, String)]) -> Vec<String> {
    let map: BTreeMap<String, String> = env.iter().cloned().collect();
    args.iter().map(|a| expand(a, &map)).collect()
}

/// The command line to run: command (or the image's, which the process runtime does not know)
/// then args, with `$(VAR)` expanded from the environment.
pub fn command_line(container: &Container, env: &[(String, String)]) -> Vec<String> {
    let map: BTreeMap<String, String> = env.iter().cloned().collect();
    container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .map(|a| expand(a, &map))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVar, EnvVarSource,
        ObjectFieldSelector, PodSpec, SecretKeySelector,
    };

    fn pod_with(container: Container) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("web-1".into());
        p.metadata.namespace = Some("default".into());
        p.metadata.labels = Some(BTreeMap::from([("app".into(), "web".into())]));
        p.spec = Some(PodSpec {
            node_name: Some("n1".into()),
            containers: vec![container],
            ..PodSpec::default()
        });
        p
    }

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            value_from: None,
        }
    }

    fn from(name: &str, source: EnvVarSource) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: None,
            value_from: Some(source),
        }
    }

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let env = BTreeMap::from([("A".to_string(), "x".to_string())]);
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &env), "x-$(B)-$(A)-$");
        assert_eq!(expand("$(A", &env), "$(A");
    }

    #[test]
    fn env_combines_literals_sources_and_the_downward_api() {
        let c = Container {
            name: "c".into(),
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: "cfg".into(),
                    optional: None,
                }),
                prefix: Some("CFG_".into()),
                secret_ref: None,
            }]),
            env: Some(vec![
                var("GREETING", "hello"),
                from(
                    "POD_IP",
                    EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "status.podIP".into(),
                            api_version: None,
                        }),
                        ..EnvVarSource::default()
                    },
                ),
                from(
                    "APP",
                    EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.labels['app']".into(),
                            api_version: None,
                        }),
                        ..EnvVarSource::default()
                    },
                ),
                from(
                    "PASSWORD",
                    EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: "s".into(),
                            key: "pw".into(),
                            optional: None,
                        }),
                        ..EnvVarSource::default()
                    },
                ),
                var("URL", "http://$(POD_IP):8080/$(GREETING)"),
            ]),
            command: Some(vec!["serve".into()]),
            args: Some(vec!["--bind=$(POD_IP)".into()]),
            ..Container::default()
        };
        let sources = Sources {
            config_maps: BTreeMap::from([(
                "cfg".into(),
                BTreeMap::from([("mode".into(), "fast".into())]),
            )]),
            secrets: BTreeMap::from([(
                "s".into(),
                BTreeMap::from([("pw".into(), "hunter2".into())]),
            )]),
        };
        let p = pod_with(c.clone());
        let env = environment(&p, &c, &sources, "127.1.0.5", "127.0.0.1").expect("env");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CFG_mode"), Some("fast"));
        assert_eq!(get("POD_IP"), Some("127.1.0.5"));
        assert_eq!(get("APP"), Some("web"));
        assert_eq!(get("PASSWORD"), Some("hunter2"));
        assert_eq!(get("URL"), Some("http://127.1.0.5:8080/hello"));
        assert_eq!(command_line(&c, &env), vec!["serve", "--bind=127.1.0.5"]);
        let (cms, secrets) = referenced(&p);
        assert!(cms.contains("cfg") && secrets.contains("s"));
    }

    #[test]
    fn a_missing_required_source_is_a_config_error_and_an_optional_one_is_skipped() {
        let mk = |optional| Container {
            name: "c".into(),
            env: Some(vec![from(
                "X",
                EnvVarSource {
                    config_map_key_ref: Some(ConfigMapKeySelector {
                        name: "gone".into(),
                        key: "k".into(),
                        optional,
                    }),
                    ..EnvVarSource::default()
                },
            )]),
            ..Container::default()
        };
        let c = mk(None);
        let err = environment(&pod_with(c.clone()), &c, &Sources::default(), "", "")
            .expect_err("missing");
        assert_eq!(err.0, "configmap \"gone\" not found");
        let c = mk(Some(true));
        assert!(
            environment(&pod_with(c.clone()), &c, &Sources::default(), "", "")
                .expect("ok")
                .is_empty()
        );
    }
}
