//! Who is who: the identities bosun creates on first start.

/// An authenticated user: name, uid, groups (Kubernetes' user.Info).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl User {
    pub fn new(name: &str, groups: &[&str]) -> Self {
        Self {
            name: name.into(),
            uid: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// The cluster administrator.
pub fn admin_user() -> User {
    User::new("admin", &["system:masters", "system:authenticated"])
}

pub fn scheduler_user() -> User {
    User::new("system:kube-scheduler", &["system:authenticated"])
}

pub fn controller_manager_user() -> User {
    User::new("system:kube-controller-manager", &["system:authenticated"])
}

/// A node agent's identity, as the kubelet's: `system:node:<name>` in `system:nodes`.
pub fn node_user(node: &str) -> User {
    User::new(
        &format!("system:node:{node}"),
        &["system:nodes", "system:authenticated"],
    )
}
