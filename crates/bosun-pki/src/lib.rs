//! bosun's security material, secure by default: a generated CA, the API server's serving
//! certificate, client certificates for identities, static bearer tokens and kubeconfigs.
//!
//! Start reading at [`Pki`] (`certs.rs`): [`Pki::load_or_create`] loads the CA and the serving
//! certificate from a data dir or creates them on first start, [`Pki::server_config`] turns them
//! into the API server's TLS configuration, and [`user_from_cert`] names the user behind a
//! verified client certificate. Then:
//! - [`identity`]: [`User`] and the identities bosun creates on first start;
//! - [`tokens`]: [`TokenFile`], bearer tokens in Kubernetes' token-file format;
//! - [`kubeconfig`](mod@kubeconfig): the file kubectl and every other client reads;
//! - `subject.rs` (private): how a client certificate carries one O per group, which rcgen alone
//!   cannot write.
//!
//! Nothing here does network I/O; files are written atomically (temporary file, then rename),
//! keys and tokens with mode 0600, under an exclusive lock on their directory so that replicas
//! sharing a data dir do not race each other on first start.

pub mod certs;
mod files;
pub mod identity;
pub mod kubeconfig;
pub mod node_tls;
mod subject;
pub mod tokens;

pub use certs::{Pki, user_from_cert};
pub use identity::{
    User, admin_user, controller_manager_user, kubelet_client_user, node_user, scheduler_user,
};
pub use kubeconfig::{Credential, kubeconfig};
pub use tokens::TokenFile;

use std::path::PathBuf;

/// Everything that can go wrong with security material. Errors about a file name the file.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading, writing or locking a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file holds something other than what belongs there (not PEM, not a certificate, a key
    /// that does not match its certificate, an expired CA, a malformed token line).
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// A name asked for in the serving certificate is neither an IP address nor a DNS name.
    #[error("{0:?} is neither an IP address nor a DNS name")]
    InvalidHost(String),
    /// A user that cannot be written into a certificate or a token file.
    #[error("user {name:?}: {reason}")]
    InvalidUser { name: String, reason: String },
    /// rcgen failed to generate a key or a certificate.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A freshly issued certificate failed its own check; a bug, never expected.
    #[error("issued certificate: {0}")]
    Issue(String),
    /// rustls refused the certificates or the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// The result of this crate's operations.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;
