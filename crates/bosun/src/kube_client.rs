//! A `kube` client from a kubeconfig file, for the components that talk to the API server.

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

pub async fn from_kubeconfig(path: &Path) -> Result<kube::Client> {
    let kubeconfig = read(path)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("kubeconfig {}", path.display()))?;
    kube::Client::try_from(config).context("API client")
}

/// Read a kubeconfig. bosun writes its kubeconfigs as JSON with the certificates inline
/// (`bosun_pki::kubeconfig`): those are read with the JSON parser every component has loaded
/// anyway, which keeps a YAML parser's code out of a small component's resident memory. Any
/// other kubeconfig (YAML, or naming certificate files, which `kube` resolves against the
/// kubeconfig's directory) is read by `kube`.
pub fn read(path: &Path) -> Result<Kubeconfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read kubeconfig {}", path.display()))?;
    match serde_json::from_str::<Kubeconfig>(&text) {
        Ok(kc) if !names_files(&kc) => Ok(kc),
        _ => Kubeconfig::read_from(path)
            .with_context(|| format!("read kubeconfig {}", path.display())),
    }
}

/// Whether a kubeconfig refers to files (whose relative paths `kube` makes absolute).
fn names_files(kc: &Kubeconfig) -> bool {
    let clusters = kc
        .clusters
        .iter()
        .filter_map(|c| c.cluster.as_ref())
        .any(|c| c.certificate_authority.is_some());
    let users = kc
        .auth_infos
        .iter()
        .filter_map(|u| u.auth_info.as_ref())
        .any(|u| {
            u.client_certificate.is_some() || u.client_key.is_some() || u.token_file.is_some()
        });
    clusters || users
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_pki::kubeconfig::{Credential, kubeconfig};

    #[test]
    fn bosuns_json_kubeconfigs_and_yaml_ones_read_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json_path = dir.path().join("kc.json");
        let text = kubeconfig(
            "bosun",
            "https://127.0.0.1:6443",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "admin",
            Credential::Token("secret".into()),
        );
        std::fs::write(&json_path, &text).expect("write");
        let from_json = read(&json_path).expect("json");
        assert!(!names_files(&from_json));
        assert_eq!(from_json.current_context.as_deref(), Some("bosun"));
        // The same kubeconfig as YAML goes through kube's reader and reads the same.
        let yaml_path = dir.path().join("kc.yaml");
        let user = &from_json.auth_infos[0];
        let cluster = from_json.clusters[0].cluster.as_ref().expect("cluster");
        let yaml = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: bosun\nclusters:\n- name: bosun\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: {}\n  user:\n    token: secret\ncontexts:\n- name: bosun\n  context:\n    cluster: bosun\n    user: {}\npreferences: {{}}\n",
            cluster.server.as_deref().expect("server"),
            cluster
                .certificate_authority_data
                .as_deref()
                .expect("ca data"),
            user.name,
            user.name,
        );
        std::fs::write(&yaml_path, yaml).expect("write");
        let as_json = |kc: &Kubeconfig| serde_json::to_value(kc).expect("serialize");
        assert_eq!(
            as_json(&read(&yaml_path).expect("yaml")),
            as_json(&from_json)
        );
    }

    #[test]
    fn a_kubeconfig_naming_files_has_them_resolved_against_its_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kc");
        std::fs::write(
            &path,
            r#"{"apiVersion":"v1","kind":"Config","current-context":"c",
                "clusters":[{"name":"c","cluster":{"server":"https://h:6443","certificate-authority":"ca.crt"}}],
                "users":[{"name":"u","user":{"token":"t"}}],
                "contexts":[{"name":"c","context":{"cluster":"c","user":"u"}}]}"#,
        )
        .expect("write");
        let kc = read(&path).expect("read");
        let ca = kc.clusters[0]
            .cluster
            .as_ref()
            .and_then(|c| c.certificate_authority.clone())
            .expect("ca");
        assert_eq!(Path::new(&ca), dir.path().join("ca.crt"));
    }
}
