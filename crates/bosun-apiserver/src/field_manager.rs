//! Who manages which fields: the API server's side of `metadata.managedFields`. The rules
//! are `bosun_patch::apply`'s; this module names the writer of a request and the part of the
//! object it may own, and turns apply conflicts into a 409 `Status`.

use bosun_api::{ApiError, ResourceInfo};
use bosun_patch::apply::{self, ApplyError, Scope, Writer};
use bosun_patch::field_set::Kind;
use serde_json::Value;
use std::collections::HashMap;

/// The manager of a write: `fieldManager`, else the User-Agent's product (`kubectl` of
/// `kubectl/v1.32.0 (linux/amd64) kubernetes/...`), as upstream derives it.
pub fn manager_name(query: &HashMap<String, String>, user_agent: Option<&str>) -> String {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    let agent = user_agent.unwrap_or_default();
    let product = agent.split('/').next().unwrap_or_default().trim();
    if product.is_empty() {
        "unknown".into()
    } else {
        product.chars().take(128).collect()
    }
}

/// Check a `fieldManager` the client named: upstream allows at most 128 characters, all
/// printable.
pub fn validate_manager(query: &HashMap<String, String>) -> Result<(), ApiError> {
    let Some(m) = query.get("fieldManager") else {
        return Ok(());
    };
    if m.chars().count() > 128 {
        return Err(ApiError::bad_request(&format!(
            "fieldManager: Too long: may not be more than 128 bytes (got {})",
            m.len()
        )));
    }
    if m.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "fieldManager: Invalid value: must only contain printable characters",
        ));
    }
    Ok(())
}

/// What a write through `subresource` of `res` may own.
pub fn scope(res: &ResourceInfo, subresource: Option<&str>) -> Scope {
    match subresource {
        Some("status") => Scope::OnlyStatus,
        _ if res.has_status => Scope::NotStatus,
        _ => Scope::All,
    }
}

fn kind<'a>(res: &'a ResourceInfo, api_version: &'a str) -> Kind<'a> {
    Kind {
        api_version,
        kind: res.kind,
    }
}

/// A request's writer and scope, for [`record`] and [`apply`].
#[derive(Debug)]
pub struct Write<'a> {
    pub res: &'a ResourceInfo,
    pub manager: String,
    pub subresource: Option<&'a str>,
    pub time: String,
}

impl Write<'_> {
    fn with<T>(&self, f: impl FnOnce(Kind<'_>, &Writer<'_>, Scope) -> T) -> T {
        let api_version = self.res.api_version();
        let writer = Writer {
            manager: &self.manager,
            api_version: &api_version,
            subresource: self.subresource,
            time: &self.time,
        };
        f(
            kind(self.res, &api_version),
            &writer,
            scope(self.res, self.subresource),
        )
    }

    /// Record an ordinary write (a create when `old` is `None`).
    pub fn record(&self, old: Option<&Value>, new: &mut Value) {
        self.with(|kind, writer, scope| apply::record_update(kind, old, new, writer, scope))
    }

    /// Server-side apply of `applied` onto `live` (`None`: create).
    pub fn apply(
        &self,
        live: Option<&Value>,
        applied: &Value,
        force: bool,
    ) -> Result<Value, ApiError> {
        self.with(|kind, writer, scope| apply::apply(kind, live, applied, writer, scope, force))
            .map_err(|e| match e {
                ApplyError::Conflicts(conflicts) => {
                    let message = apply::conflict_message(&conflicts);
                    let pairs: Vec<(String, String)> = conflicts
                        .into_iter()
                        .map(|c| (c.manager, c.field))
                        .collect();
                    ApiError::apply_conflict(&message, &pairs)
                }
                ApplyError::Invalid(m) => ApiError::bad_request(&m),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_is_the_field_manager_or_the_user_agents_product() {
        let mut query = HashMap::new();
        assert_eq!(
            manager_name(&query, Some("kubectl/v1.32.0 (linux/amd64) kubernetes/abc")),
            "kubectl"
        );
        assert_eq!(manager_name(&query, None), "unknown");
        query.insert("fieldManager".to_string(), "kubectl-edit".to_string());
        assert_eq!(manager_name(&query, Some("x/1")), "kubectl-edit");
        query.insert("fieldManager".to_string(), "x".repeat(129));
        assert_eq!(validate_manager(&query).expect_err("long").code(), 400);
    }

    #[test]
    fn status_writes_own_status_and_main_writes_the_rest() {
        let deployments = bosun_api::resources::find("apps", "v1", "deployments").expect("d");
        let configmaps = bosun_api::resources::find("", "v1", "configmaps").expect("cm");
        assert_eq!(scope(deployments, Some("status")), Scope::OnlyStatus);
        assert_eq!(scope(deployments, None), Scope::NotStatus);
        assert_eq!(scope(deployments, Some("scale")), Scope::NotStatus);
        assert_eq!(scope(configmaps, None), Scope::All);
    }

    #[test]
    fn conflicts_become_a_409_with_a_cause_per_field() {
        let deployments = bosun_api::resources::find("apps", "v1", "deployments").expect("d");
        let w = |manager: &str| Write {
            res: deployments,
            manager: manager.into(),
            subresource: None,
            time: "2026-01-01T00:00:00Z".into(),
        };
        let applied = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x"}, "spec": {"replicas": 1}});
        let live = w("a").apply(None, &applied, false).expect("create");
        let mut changed = live.clone();
        changed["spec"]["replicas"] = serde_json::json!(2);
        w("b").record(Some(&live), &mut changed);
        let err = w("a")
            .apply(Some(&changed), &applied, false)
            .expect_err("conflict");
        assert_eq!(err.code(), 409);
        let status = err.to_status();
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "FieldManagerConflict"
        );
        assert_eq!(status["details"]["causes"][0]["field"], ".spec.replicas");
    }
}
