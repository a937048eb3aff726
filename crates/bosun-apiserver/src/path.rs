//! Parsing request paths under `/api` and `/apis` into what they address. Pure.

use bosun_api::{ApiError, ResourceInfo, resources};

/// What a path under `/api` or `/apis` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`
    Resources { group: String, version: String },
    /// A collection or an object, with an optional subresource.
    Object(ObjectPath),
}

/// A resource path: `.../[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    pub resource: &'static ResourceInfo,
    /// The namespace named in the path (None: cluster-scoped, or all namespaces).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

fn not_found(path: &str) -> ApiError {
    ApiError::not_found_path(path)
}

/// Parse the path (without the query) of a request under `/api` or `/apis`.
pub fn parse(path: &str) -> Result<Target, ApiError> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api"] => return Ok(Target::CoreVersions),
        ["apis"] => return Ok(Target::Groups),
        ["apis", group] => return Ok(Target::Group((*group).to_string())),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found(path)),
    };
    if rest.is_empty() {
        return Ok(Target::Resources {
            group: group.to_string(),
            version: version.to_string(),
        });
    }
    let find = |plural: &str| {
        resources::find(group, version, plural).ok_or_else(|| {
            let gv = if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            };
            ApiError::not_found_path(&format!(
                "the server could not find the requested resource {plural} in {gv}"
            ))
        })
    };
    let object = match rest {
        // namespaces/<ns>/<resource>[/<name>[/<sub>]] for namespaced resources
        ["namespaces", ns, plural, tail @ ..] if *plural != "status" && *plural != "finalize" => {
            let resource = find(plural)?;
            if !resource.namespaced {
                return Err(not_found(path));
            }
            let (name, subresource) = name_and_sub(tail, path)?;
            ObjectPath {
                resource,
                namespace: Some((*ns).to_string()),
                name,
                subresource,
            }
        }
        [plural, tail @ ..] => {
            let resource = find(plural)?;
            let (name, subresource) = name_and_sub(tail, path)?;
            if resource.namespaced && name.is_some() {
                // A namespaced object must be addressed inside its namespace.
                return Err(not_found(path));
            }
            ObjectPath {
                resource,
                namespace: None,
                name,
                subresource,
            }
        }
        [] => return Err(not_found(path)),
    };
    if let Some(sub) = &object.subresource
        && !object.resource.subresources.iter().any(|s| s.name == sub)
        && !(object.resource.plural == "namespaces" && (sub == "status" || sub == "finalize"))
    {
        return Err(not_found(path));
    }
    Ok(Target::Object(object))
}

fn name_and_sub(tail: &[&str], path: &str) -> Result<(Option<String>, Option<String>), ApiError> {
    match tail {
        [] => Ok((None, None)),
        [name] => Ok((Some((*name).to_string()), None)),
        [name, sub] => Ok((Some((*name).to_string()), Some((*sub).to_string()))),
        _ => Err(not_found(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(path: &str) -> ObjectPath {
        match parse(path) {
            Ok(Target::Object(o)) => o,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_name_collections_objects_and_subresources() {
        let o = object("/api/v1/namespaces/default/pods");
        assert_eq!(
            (o.resource.plural, o.namespace.as_deref(), o.name),
            ("pods", Some("default"), None)
        );
        let o = object("/apis/apps/v1/namespaces/ns1/deployments/web/scale");
        assert_eq!(
            (o.resource.kind, o.name.as_deref(), o.subresource.as_deref()),
            ("Deployment", Some("web"), Some("scale"))
        );
        let o = object("/api/v1/namespaces/kube-system");
        assert_eq!(
            (o.resource.plural, o.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let o = object("/api/v1/namespaces/kube-system/status");
        assert_eq!(o.subresource.as_deref(), Some("status"));
        let o = object("/api/v1/pods");
        assert_eq!((o.resource.plural, o.namespace), ("pods", None));
        let o = object("/api/v1/nodes/n1/status");
        assert_eq!(
            (o.name.as_deref(), o.subresource.as_deref()),
            (Some("n1"), Some("status"))
        );
        assert_eq!(
            parse("/apis/apps/v1").ok(),
            Some(Target::Resources {
                group: "apps".into(),
                version: "v1".into()
            })
        );
        assert_eq!(parse("/api").ok(), Some(Target::CoreVersions));
    }

    #[test]
    fn unknown_resources_and_malformed_paths_are_not_found() {
        assert!(parse("/apis/apps/v1/namespaces/x/widgets").is_err());
        assert!(
            parse("/api/v1/pods/p").is_err(),
            "a namespaced object needs its namespace"
        );
        assert!(
            parse("/api/v1/namespaces/x/nodes").is_err(),
            "nodes are cluster-scoped"
        );
        assert!(parse("/api/v1/namespaces/x/pods/p/nosuch").is_err());
        assert!(parse("/api/v1/namespaces/x/pods/p/log/extra").is_err());
    }
}
