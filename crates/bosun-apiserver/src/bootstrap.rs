//! What exists from the first start: the namespaces default, kube-system, kube-public and
//! kube-node-lease.

use crate::object;
use crate::registry;
use bosun_api::{ApiError, resources};
use bosun_store::Store;
use serde_json::json;

pub const BUILTIN_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

pub async fn ensure_namespaces(store: &dyn Store) -> Result<(), ApiError> {
    let res = resources::find("", "v1", "namespaces")
        .ok_or_else(|| ApiError::internal("no namespaces resource"))?;
    for name in BUILTIN_NAMESPACES {
        match registry::get(store, res, None, name).await {
            Ok(_) => continue,
            Err(e) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}});
        object::prepare_create(&mut ns)?;
        crate::defaults::apply(res, &mut ns);
        match registry::create(store, res, None, name, &ns).await {
            Ok(_) => {}
            Err(e) if e.code() == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
