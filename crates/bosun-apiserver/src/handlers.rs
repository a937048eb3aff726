//! The resource handlers: create, get, update, patch, delete and their subresources, over the
//! store. Decisions about objects live in [`crate::object`]; this layer reads, decides, writes.

use crate::field_manager;
use crate::field_validation::{self, Directive};
use crate::list;
use crate::object::{self, meta_mut, meta_str};
use crate::path::ObjectPath;
use crate::registry::{self, Stored};
use crate::response::{Failure, Result, json, object as object_response, with_warnings};
use crate::state::AppState;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use bosun_api::{ApiError, ResourceInfo, resources};
use bosun_patch::PatchKind;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Everything a resource handler needs from the request.
#[derive(Debug)]
pub struct Call {
    pub method: Method,
    pub target: ObjectPath,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    fn ns(&self) -> Option<&str> {
        self.target.namespace.as_deref()
    }
    fn res(&self) -> &'static ResourceInfo {
        self.target.resource
    }
    fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }
    fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
    }
    /// The writer of this request, for managed fields.
    fn writer(&self) -> field_manager::Write<'_> {
        field_manager::Write {
            res: self.res(),
            manager: field_manager::manager_name(
                &self.query,
                self.headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
            ),
            subresource: self.target.subresource.as_deref(),
            time: object::now_rfc3339(),
        }
    }
    /// Whether this request is a server-side apply (whose writer the apply records).
    fn is_apply(&self) -> bool {
        self.method == Method::PATCH
            && self.content_type().and_then(bosun_patch::content_type_kind)
                == Some(PatchKind::Apply)
    }
    fn force(&self) -> bool {
        self.query
            .get("force")
            .is_some_and(|v| matches!(v.as_str(), "true" | "True" | "TRUE" | "1" | "t" | "T"))
    }
    fn field_validation(&self) -> Result<Directive> {
        Ok(Directive::from_query(
            self.query.get("fieldValidation").map(String::as_str),
        )?)
    }
}

/// How many times a read-modify-write retries on a conflict it caused itself.
const RETRIES: usize = 5;

pub async fn dispatch(state: &AppState, call: Call) -> Result<Response> {
    let sub = call.target.subresource.clone();
    if call.res().is_computed() {
        if call.method != Method::GET
            || sub.is_some()
            || call
                .query
                .get("watch")
                .is_some_and(|w| w == "true" || w == "1")
        {
            return Err(ApiError::method_not_allowed(&format!(
                "the server does not allow this method on the requested resource ({} {})",
                call.method,
                call.res().group_resource()
            ))
            .into());
        }
        return crate::resource_metrics::serve(
            state,
            call.res(),
            call.ns(),
            call.target.name.as_deref(),
            &call.query,
        )
        .await;
    }
    match (&call.method, call.target.name.is_some(), sub.as_deref()) {
        (&Method::GET, false, None) => {
            list::list_or_watch(state, &call.target, &call.query, &call.headers).await
        }
        (&Method::POST, false, None) => create(state, &call).await,
        (&Method::DELETE, false, None) => {
            list::delete_collection(state, &call.target, &call.query).await
        }
        (&Method::GET, true, None) => get(state, &call).await,
        (&Method::PUT, true, None) => update(state, &call, false).await,
        (&Method::PATCH, true, None) => patch(state, &call, false).await,
        (&Method::DELETE, true, None) => delete(state, &call).await,
        (&Method::GET, true, Some("status")) => get(state, &call).await,
        (&Method::PUT, true, Some("status")) => update(state, &call, true).await,
        (&Method::PATCH, true, Some("status")) => patch(state, &call, true).await,
        (&Method::GET, true, Some("scale")) => get_scale(state, &call).await,
        (&Method::PUT | &Method::PATCH, true, Some("scale")) => update_scale(state, &call).await,
        (&Method::POST, true, Some("binding")) => bind(state, &call).await,
        (&Method::GET, true, Some("log")) => {
            let name = call.target.name.as_deref().unwrap_or_default();
            crate::node_proxy::pod_log(state, call.ns(), name, &call.query).await
        }
        (&Method::POST, true, Some("eviction")) => evict(state, &call).await,
        (&Method::PUT, true, Some("finalize")) => update(state, &call, false).await,
        (m, _, s) => Err(ApiError::method_not_allowed(&format!(
            "the server does not allow this method on the requested resource ({m} {}{})",
            call.res().plural,
            s.map(|s| format!("/{s}")).unwrap_or_default()
        ))
        .into()),
    }
}

/// Refuse writes into a namespace that does not exist or is being deleted. As
/// kube-apiserver's NamespaceLifecycle admission reads its namespace informer first, the
/// namespace comes from this server's watch cache; only one the cache does not hold (not loaded
/// yet, or created an instant ago through another replica) is read from the store, with a
/// quorum read. A create thus costs no leader round trip before its write.
async fn check_namespace(state: &AppState, res: &ResourceInfo, ns: Option<&str>) -> Result<()> {
    let (true, Some(ns)) = (res.namespaced, ns) else {
        return Ok(());
    };
    let namespaces = resources::find("", "v1", "namespaces")
        .ok_or_else(|| ApiError::internal("no namespaces resource"))?;
    let key = registry::key(namespaces, None, ns);
    let cached = state.watch_caches().get(namespaces).get(key.as_bytes());
    let namespace = match cached {
        Ok(Some(cached)) => cached.value(),
        Ok(None) | Err(_) => {
            registry::get(state.store(), namespaces, None, ns)
                .await?
                .object
        }
    };
    if namespace.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") {
        return Err(ApiError::forbidden(&format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        ))
        .into());
    }
    Ok(())
}

/// How many more names a create with `generateName` tries when the generated one is taken
/// (Kubernetes tries 8 in all).
const GENERATE_NAME_RETRIES: usize = 7;

async fn create(state: &AppState, call: &Call) -> Result<Response> {
    let res = call.res();
    let directive = call.field_validation()?;
    field_manager::validate_manager(&call.query)?;
    let (mut obj, duplicates) = object::decode_body_tracking(call.content_type(), &call.body)?;
    object::check_identity(&mut obj, res, call.ns())?;
    let warnings = field_validation::check(directive, res, &mut obj, duplicates, None)?;
    let generated = object::generates_name(&obj);
    let mut name = object::resolve_name(&mut obj, res)?;
    object::validate_name(res, &name)?;
    crate::validation::validate(res, &obj, None)?;
    check_namespace(state, res, call.ns()).await?;
    object::prepare_create(&mut obj)?;
    crate::defaults::apply(res, &mut obj);
    crate::priority::admit(state, res, &mut obj).await?;
    call.writer().record(None, &mut obj);
    if call.dry_run() {
        return Ok(with_warnings(
            object_response(StatusCode::CREATED, res, &obj, &call.headers, &call.query),
            &warnings,
        ));
    }
    // A generated name that is taken is generated again, as Kubernetes does (RetryGenerateName):
    // five random characters collide a few times in 10,000 objects with one prefix.
    let mut retries = GENERATE_NAME_RETRIES;
    let created = loop {
        match registry::create(state.store(), res, call.ns(), &name, &obj).await {
            Err(ApiError::AlreadyExists { .. }) if generated && retries > 0 => {
                retries -= 1;
                name = object::regenerate_name(&mut obj, res)?;
                object::validate_name(res, &name)?;
            }
            other => break other?,
        }
    };
    Ok(with_warnings(
        object_response(
            StatusCode::CREATED,
            res,
            &created,
            &call.headers,
            &call.query,
        ),
        &warnings,
    ))
}

async fn get(state: &AppState, call: &Call) -> Result<Response> {
    let name = call.target.name.as_deref().unwrap_or_default();
    let found = registry::get(state.store(), call.res(), call.ns(), name).await?;
    Ok(object_response(
        StatusCode::OK,
        call.res(),
        &found.object,
        &call.headers,
        &call.query,
    ))
}

/// Write `new` over `old` (already read at `old.mod_revision`), keeping server-owned fields.
async fn write_over(
    state: &AppState,
    call: &Call,
    mut new: Value,
    old: &Stored,
    status_only: bool,
) -> Result<Value> {
    let res = call.res();
    let name = call.target.name.as_deref().unwrap_or_default();
    object::check_identity(&mut new, res, call.ns())?;
    if meta_str(&new, "name").is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(&format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta_str(&new, "name").unwrap_or_default()
        ))
        .into());
    }
    meta_mut(&mut new)?.insert("name".into(), json!(name));
    object::prepare_update(&mut new, &old.object, res, status_only)?;
    crate::validation::validate(res, &new, Some(&old.object))?;
    if !call.is_apply() {
        call.writer().record(Some(&old.object), &mut new);
    }
    // The last finalizer removed from an object being deleted completes the deletion.
    // (A pod in its grace period stays until its node agent deletes it.)
    if old.object.pointer("/metadata/deletionTimestamp").is_some()
        && finalizers(&new).is_empty()
        && old
            .object
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .is_none_or(|g| g == 0)
        && !status_only
    {
        if call.dry_run() {
            return Ok(new);
        }
        let (deleted, _) =
            registry::delete(state.store(), res, call.ns(), name, old.mod_revision).await?;
        return Ok(deleted);
    }
    if call.dry_run() {
        return Ok(object::with_resource_version(new, old.mod_revision));
    }
    Ok(registry::update(state.store(), res, call.ns(), name, new, old.mod_revision).await?)
}

async fn update(state: &AppState, call: &Call, status_only: bool) -> Result<Response> {
    let res = call.res();
    let name = call.target.name.as_deref().unwrap_or_default();
    let directive = call.field_validation()?;
    field_manager::validate_manager(&call.query)?;
    let (mut new, duplicates) = object::decode_body_tracking(call.content_type(), &call.body)?;
    let old = registry::get(state.store(), res, call.ns(), name).await?;
    let warnings =
        field_validation::check(directive, res, &mut new, duplicates, Some(&old.object))?;
    // An update carrying a resourceVersion must match the stored one.
    if let Some(rv) = meta_str(&new, "resourceVersion").filter(|rv| !rv.is_empty())
        && rv != old.mod_revision.to_string()
    {
        return Err(ApiError::conflict(res, name).into());
    }
    let written = write_over(state, call, new, &old, status_only).await?;
    Ok(with_warnings(
        object_response(StatusCode::OK, res, &written, &call.headers, &call.query),
        &warnings,
    ))
}

async fn patch(state: &AppState, call: &Call, status_only: bool) -> Result<Response> {
    let res = call.res();
    let name = call.target.name.as_deref().unwrap_or_default();
    let kind = call
        .content_type()
        .and_then(bosun_patch::content_type_kind)
        .ok_or_else(|| ApiError::unsupported_media_type(call.content_type().unwrap_or("")))?;
    let directive = call.field_validation()?;
    field_manager::validate_manager(&call.query)?;
    let (patch_doc, duplicates) = object::decode_body_tracking(call.content_type(), &call.body)?;
    if kind == PatchKind::Apply {
        return server_side_apply(state, call, patch_doc, duplicates, directive, status_only).await;
    }
    for _ in 0..RETRIES {
        let old = match registry::get(state.store(), res, call.ns(), name).await {
            Ok(old) => old,
            Err(e) => return Err(e.into()),
        };
        let mut new = old.object.clone();
        apply_patch(&mut new, &patch_doc, kind, res)?;
        let warnings = field_validation::check(
            directive,
            res,
            &mut new,
            duplicates.clone(),
            Some(&old.object),
        )?;
        crate::defaults::apply(res, &mut new);
        // A patch naming a resourceVersion is conditional on it.
        if let Some(rv) = meta_str(&new, "resourceVersion").filter(|rv| !rv.is_empty())
            && rv != old.mod_revision.to_string()
        {
            return Err(ApiError::conflict(res, name).into());
        }
        match write_over(state, call, new, &old, status_only).await {
            Ok(written) => {
                return Ok(with_warnings(
                    object_response(StatusCode::OK, res, &written, &call.headers, &call.query),
                    &warnings,
                ));
            }
            Err(Failure(e))
                if e.code() == 409 && meta_str(&patch_doc, "resourceVersion").is_none() =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(res, name).into())
}

/// Server-side apply: merge the applied configuration by field ownership, creating the
/// object when it does not exist.
async fn server_side_apply(
    state: &AppState,
    call: &Call,
    mut applied: Value,
    duplicates: Vec<String>,
    directive: Directive,
    status_only: bool,
) -> Result<Response> {
    let res = call.res();
    let name = call.target.name.as_deref().unwrap_or_default();
    if call.query.get("fieldManager").is_none_or(String::is_empty) {
        return Err(ApiError::bad_request("fieldManager is required for apply requests").into());
    }
    object::check_identity(&mut applied, res, call.ns())?;
    if meta_str(&applied, "name").is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(&format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta_str(&applied, "name").unwrap_or_default()
        ))
        .into());
    }
    let warnings = field_validation::check(directive, res, &mut applied, duplicates, None)?;
    let precondition = meta_str(&applied, "resourceVersion")
        .filter(|rv| !rv.is_empty())
        .map(String::from);
    let writer = call.writer();
    for _ in 0..RETRIES {
        let old = match registry::get(state.store(), res, call.ns(), name).await {
            Ok(old) => old,
            Err(e) if e.code() == 404 && !status_only => {
                let mut obj = writer.apply(None, &applied, call.force())?;
                object::check_identity(&mut obj, res, call.ns())?;
                meta_mut(&mut obj)?.insert("name".into(), json!(name));
                object::validate_name(res, name)?;
                crate::validation::validate(res, &obj, None)?;
                check_namespace(state, res, call.ns()).await?;
                object::prepare_create(&mut obj)?;
                crate::defaults::apply(res, &mut obj);
                crate::priority::admit(state, res, &mut obj).await?;
                let created = if call.dry_run() {
                    obj
                } else {
                    registry::create(state.store(), res, call.ns(), name, &obj).await?
                };
                return Ok(with_warnings(
                    object_response(
                        StatusCode::CREATED,
                        res,
                        &created,
                        &call.headers,
                        &call.query,
                    ),
                    &warnings,
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if precondition
            .as_deref()
            .is_some_and(|rv| rv != old.mod_revision.to_string())
        {
            return Err(ApiError::conflict(res, name).into());
        }
        let mut new = writer.apply(Some(&old.object), &applied, call.force())?;
        crate::defaults::apply(res, &mut new);
        match write_over(state, call, new, &old, status_only).await {
            Ok(written) => {
                return Ok(with_warnings(
                    object_response(StatusCode::OK, res, &written, &call.headers, &call.query),
                    &warnings,
                ));
            }
            Err(Failure(e)) if e.code() == 409 && precondition.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(res, name).into())
}

pub fn apply_patch(
    target: &mut Value,
    patch_doc: &Value,
    kind: PatchKind,
    res: &ResourceInfo,
) -> Result<(), ApiError> {
    let result = match kind {
        PatchKind::Json => bosun_patch::json_patch(target, patch_doc),
        PatchKind::Merge => bosun_patch::merge_patch(target, patch_doc),
        PatchKind::Strategic => {
            bosun_patch::strategic_merge_patch(target, patch_doc, &res.api_version(), res.kind)
        }
        // Server-side apply goes through field ownership ([`server_side_apply`]); as a plain
        // patch (the scale subresource) it merges like a strategic merge patch.
        PatchKind::Apply => {
            bosun_patch::strategic_merge_patch(target, patch_doc, &res.api_version(), res.kind)
        }
    };
    result.map_err(|e| match e {
        bosun_patch::PatchError::Invalid(m) => ApiError::bad_request(&m),
        bosun_patch::PatchError::Failed(m) => ApiError::invalid_message(res, &m),
    })
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The DeleteOptions of a DELETE: the body's fields (kubectl), else the query parameters of the
/// same name (Python client). A body that is no JSON object is ignored, as before.
fn delete_options(call: &Call) -> Value {
    let mut options = if call.body.is_empty() {
        None
    } else {
        serde_json::from_slice::<Value>(&call.body)
            .ok()
            .filter(Value::is_object)
    }
    .unwrap_or_else(|| json!({}));
    for field in ["gracePeriodSeconds", "propagationPolicy"] {
        if options.get(field).is_none()
            && let Some(v) = call.query.get(field)
        {
            options[field] = json!(v);
        }
    }
    options
}

fn propagation(options: &Value) -> Option<String> {
    options
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(String::from)
}

/// The grace period of a pod's deletion, as the pod strategy decides it: the request's, else
/// the pod's terminationGracePeriodSeconds (30); zero for pods never scheduled or finished,
/// which no node agent has to stop.
fn pod_grace_period(options: &Value, pod: &Value) -> i64 {
    let unscheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if unscheduled || finished {
        return 0;
    }
    options
        .get("gracePeriodSeconds")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30)
        .max(0)
}

/// DeleteOptions.preconditions against the stored object.
fn check_preconditions(options: &Value, res: &ResourceInfo, name: &str, obj: &Value) -> Result<()> {
    let Some(pre) = options.get("preconditions") else {
        return Ok(());
    };
    let meta = |f: &str| {
        obj.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if let Some(uid) = pre.get("uid").and_then(Value::as_str)
        && uid != meta("uid")
    {
        return Err(ApiError::conflict_message(
            res,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta("uid")
            ),
        )
        .into());
    }
    if let Some(rv) = pre.get("resourceVersion").and_then(Value::as_str)
        && rv != meta("resourceVersion")
    {
        return Err(ApiError::conflict_message(
            res,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta("resourceVersion")
            ),
        )
        .into());
    }
    Ok(())
}

async fn delete(state: &AppState, call: &Call) -> Result<Response> {
    let deleted = delete_with(state, call, &delete_options(call)).await?;
    Ok(json(StatusCode::OK, &deleted))
}

/// POST pods/{name}/eviction: delete the pod gracefully with the Eviction's delete options;
/// 201 with a Status Success, as the upstream API server answers.
async fn evict(state: &AppState, call: &Call) -> Result<Response> {
    let name = call.target.name.as_deref().unwrap_or_default();
    let options =
        crate::eviction::delete_options(call.content_type(), &call.body, name, call.ns())?;
    delete_with(state, call, &options).await?;
    Ok(json(StatusCode::CREATED, &crate::eviction::success()))
}

/// Delete one object with `options` (DeleteOptions): gracefully for scheduled pods, in two
/// phases for namespaces and objects with finalizers. The object as deleted or marked.
async fn delete_with(state: &AppState, call: &Call, options: &Value) -> Result<Value> {
    let res = call.res();
    let name = call.target.name.as_deref().unwrap_or_default();
    let policy = propagation(options);
    let dry_run = call.dry_run()
        || options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    for _ in 0..RETRIES {
        let old = registry::get(state.store(), res, call.ns(), name).await?;
        check_preconditions(options, res, name, &old.object)?;
        let is_pod = res.plural == "pods" && res.group.is_empty();
        let grace = if is_pod {
            pod_grace_period(options, &old.object)
        } else {
            0
        };
        if grace > 0 {
            // Graceful: mark the pod; its node agent stops the containers and then deletes it
            // with a zero grace period.
            let mut marked = old.object.clone();
            let meta = meta_mut(&mut marked)?;
            let current = meta
                .get("deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            if current.is_some_and(|c| c <= grace) {
                return Ok(old.object);
            }
            let at = object::now_plus_seconds_rfc3339(grace);
            meta.insert("deletionTimestamp".into(), json!(at));
            meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            if dry_run {
                return Ok(marked);
            }
            match registry::update(
                state.store(),
                res,
                call.ns(),
                name,
                marked,
                old.mod_revision,
            )
            .await
            {
                Ok(written) => return Ok(written),
                Err(e) if e.code() == 409 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let mut finals = finalizers(&old.object);
        match policy.as_deref() {
            Some("Foreground") if !finals.iter().any(|f| f == "foregroundDeletion") => {
                finals.push("foregroundDeletion".into())
            }
            Some("Orphan") if !finals.iter().any(|f| f == "orphan") => finals.push("orphan".into()),
            _ => {}
        }
        let is_namespace = res.plural == "namespaces" && res.group.is_empty();
        if is_namespace || !finals.is_empty() {
            // Deletion is two-phase: mark it, and whoever owns the finalizers (the namespace
            // controller for namespaces) completes it.
            let mut marked = old.object.clone();
            let meta = meta_mut(&mut marked)?;
            if !meta.contains_key("deletionTimestamp") {
                meta.insert("deletionTimestamp".into(), json!(object::now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
            meta.insert("finalizers".into(), json!(finals));
            if meta
                .get("finalizers")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                meta.remove("finalizers");
            }
            if is_namespace && let Some(map) = marked.as_object_mut() {
                map.insert("status".into(), json!({"phase": "Terminating"}));
            }
            if dry_run {
                return Ok(marked);
            }
            let encoded = registry::update(
                state.store(),
                res,
                call.ns(),
                name,
                marked,
                old.mod_revision,
            )
            .await;
            match encoded {
                Ok(written) => return Ok(written),
                Err(e) if e.code() == 409 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if dry_run {
            return Ok(old.object);
        }
        match registry::delete(state.store(), res, call.ns(), name, old.mod_revision).await {
            Ok((deleted, _)) => return Ok(deleted),
            Err(e) if e.code() == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(res, name).into())
}

/// The autoscaling/v1 Scale view of a workload.
fn scale_of(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| bosun_api::LabelSelector::from_label_selector(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

async fn get_scale(state: &AppState, call: &Call) -> Result<Response> {
    let name = call.target.name.as_deref().unwrap_or_default();
    let found = registry::get(state.store(), call.res(), call.ns(), name).await?;
    Ok(json(StatusCode::OK, &scale_of(&found.object)))
}

async fn update_scale(state: &AppState, call: &Call) -> Result<Response> {
    let res = call.res();
    let name = call.target.name.as_deref().unwrap_or_default();
    let doc = object::decode_body(call.content_type(), &call.body)?;
    for _ in 0..RETRIES {
        let old = registry::get(state.store(), res, call.ns(), name).await?;
        let mut scale = scale_of(&old.object);
        if call.method == Method::PUT {
            scale = doc.clone();
        } else {
            let kind = call
                .content_type()
                .and_then(bosun_patch::content_type_kind)
                .ok_or_else(|| {
                    ApiError::unsupported_media_type(call.content_type().unwrap_or(""))
                })?;
            let scale_res =
                resources::find("autoscaling", "v2", "horizontalpodautoscalers").unwrap_or(res);
            apply_patch(
                &mut scale,
                &doc,
                if kind == PatchKind::Strategic {
                    PatchKind::Merge
                } else {
                    kind
                },
                scale_res,
            )?;
        }
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::invalid(
                res,
                name,
                vec![bosun_api::Cause::invalid(
                    "spec.replicas",
                    &json!(replicas),
                    "must be greater than or equal to 0",
                )],
            )
            .into());
        }
        let mut new = old.object.clone();
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(replicas));
        }
        match write_over(state, call, new, &old, false).await {
            Ok(written) => return Ok(json(StatusCode::OK, &scale_of(&written))),
            Err(Failure(e)) if e.code() == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(res, name).into())
}

/// POST pods/<name>/binding: set spec.nodeName once (see [`crate::binding`]). As
/// kube-apiserver's binding starts from its watch cache's copy, the first attempt reads this
/// replica's copy of the pod (no round trip to the raft leader) and writes with a
/// compare-and-swap on its revision; when that copy turns out stale (the write conflicts, or
/// the copy is missing or another pod's), the pod is read again linearizably and the binding
/// decided on that.
async fn bind(state: &AppState, call: &Call) -> Result<Response> {
    let res = call.res();
    let name = call.target.name.as_deref().unwrap_or_default();
    let binding = object::decode_body(call.content_type(), &call.body)?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(res, name, vec![bosun_api::Cause::required("target.name")])
        })?;
    let now = object::now_rfc3339();
    let local = registry::get_raw_at(
        state.store(),
        res,
        call.ns(),
        name,
        bosun_store::Consistency::Serializable,
    )
    .await;
    if let Ok((old, revision)) = local
        && let Ok(new) = crate::binding::bound_pod(res, name, &binding, node, &old, &now)
    {
        match registry::update_raw(state.store(), res, call.ns(), name, new, revision).await {
            Ok(_) => return Ok(binding_created()),
            Err(e) if e.code() == 409 => {} // the copy was stale: decide again on a fresh read
            Err(e) => return Err(e.into()),
        }
    }
    let (old, revision) = registry::get_raw_at(
        state.store(),
        res,
        call.ns(),
        name,
        bosun_store::Consistency::Linearizable,
    )
    .await?;
    let new = crate::binding::bound_pod(res, name, &binding, node, &old, &now)?;
    registry::update_raw(state.store(), res, call.ns(), name, new, revision).await?;
    Ok(binding_created())
}

fn binding_created() -> Response {
    json(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}
