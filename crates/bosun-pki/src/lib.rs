//! bosun's security material, secure by default.
//!
//! Start with [`Pki`] (`certs.rs`): the CA and the API server's serving certificate, created in a
//! data dir on first start, and client certificates for identities. [`TokenFile`] (`tokens.rs`)
//! holds static bearer tokens in Kubernetes' token-file format. [`kubeconfig`] writes what
//! kubectl needs to reach a server. The identities bosun creates live in [`identity`].

pub mod certs;
pub mod identity;
pub mod kubeconfig;
pub mod tokens;

pub use certs::{Pki, user_from_cert};
pub use identity::{User, admin_user, controller_manager_user, node_user, scheduler_user};
pub use kubeconfig::{Credential, kubeconfig};
pub use tokens::TokenFile;

use std::path::PathBuf;

/// Everything that can go wrong with security material; file errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// Write `contents` to `path` readable by the owner only (keys, tokens).
pub(crate) fn write_private(path: &std::path::Path, contents: &str) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
