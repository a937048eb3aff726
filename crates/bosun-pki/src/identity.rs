//! Who is who: an authenticated user, and the identities bosun creates on first start.

/// An authenticated user: name, uid and groups, as Kubernetes' `user.Info`.
///
/// The authenticators ([`TokenFile::authenticate`](crate::TokenFile::authenticate),
/// [`user_from_cert`](crate::user_from_cert)) add `system:authenticated` to the groups, as
/// Kubernetes does; the identities below do not list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl User {
    /// A user whose uid is its name.
    pub fn new(name: &str, groups: &[&str]) -> Self {
        Self {
            name: name.into(),
            uid: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// The cluster administrator, `admin` in `system:masters` (which Kubernetes' RBAC lets do
/// anything).
pub fn admin_user() -> User {
    User::new("admin", &["system:masters"])
}

/// The scheduler's identity, as Kubernetes' kube-scheduler.
pub fn scheduler_user() -> User {
    User::new("system:kube-scheduler", &[])
}

/// The controller manager's identity, as Kubernetes' kube-controller-manager.
pub fn controller_manager_user() -> User {
    User::new("system:kube-controller-manager", &[])
}

/// The API server's identity toward node agents (logs, exec), as kube-apiserver's
/// `kube-apiserver-kubelet-client`.
pub fn kubelet_client_user() -> User {
    User::new("kube-apiserver-kubelet-client", &["system:masters"])
}

/// A node agent's identity, as a kubelet's: `system:node:<name>` in `system:nodes`.
pub fn node_user(node: &str) -> User {
    User::new(&format!("system:node:{node}"), &["system:nodes"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identities_are_named_as_kubernetes_names_them() {
        assert_eq!(admin_user().groups, vec!["system:masters"]);
        assert_eq!(scheduler_user().name, "system:kube-scheduler");
        assert_eq!(
            controller_manager_user().name,
            "system:kube-controller-manager"
        );
        let node = node_user("worker-1");
        assert_eq!(node.name, "system:node:worker-1");
        assert_eq!(node.uid, node.name);
        assert_eq!(node.groups, vec!["system:nodes"]);
    }
}
