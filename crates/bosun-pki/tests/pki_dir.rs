//! The PKI dir across restarts: what is kept, what is re-issued, what is refused, and kubectl
//! reading the kubeconfigs made from it.

mod common;

use bosun_pki::{Credential, Pki, PkiError, TokenFile, User, kubeconfig};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn not_after(pem: &str) -> SystemTime {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("pem");
    let cert = pem.parse_x509().expect("x509");
    SystemTime::UNIX_EPOCH
        + Duration::from_secs(
            cert.validity()
                .not_after
                .timestamp()
                .try_into()
                .expect("after 1970"),
        )
}

#[test]
fn the_pki_is_created_once_with_private_keys() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("data").join("pki");
    let dir = dir.as_path();
    let hosts = ["10.1.2.3".to_string()];
    let first = Pki::load_or_create(dir, &hosts).expect("create");
    let serving = read(&dir.join("apiserver.crt"));
    let again = Pki::load_or_create(dir, &hosts).expect("load");
    assert_eq!(first.ca_pem(), again.ca_pem());
    assert_eq!(first.ca_pem(), read(&dir.join("ca.crt")));
    assert_eq!(serving, read(&dir.join("apiserver.crt")), "kept");
    for key in ["ca.key", "apiserver.key"] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }
    assert_eq!(mode(dir), 0o700, "a new PKI dir is private");
}

#[test]
fn replicas_starting_together_share_one_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cas: Vec<String> = std::thread::scope(|s| {
        let started: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    Pki::load_or_create(dir.path(), &[])
                        .expect("pki")
                        .ca_pem()
                        .to_string()
                })
            })
            .collect();
        started
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect()
    });
    assert!(cas.iter().all(|ca| *ca == cas[0]));
    assert_eq!(cas[0], read(&dir.path().join("ca.crt")));
    Pki::load_or_create(dir.path(), &[]).expect("the files agree with each other");
}

#[test]
fn a_corrupt_or_mismatched_file_is_an_error_naming_it() {
    let other = tempfile::tempdir().expect("tempdir");
    Pki::load_or_create(other.path(), &[]).expect("another pki");
    let cases: [(&str, Option<Vec<u8>>); 7] = [
        ("ca.crt", Some(b"garbage".to_vec())),
        (
            "ca.crt",
            Some(read(&other.path().join("apiserver.crt")).into_bytes()),
        ),
        (
            "ca.key",
            Some(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec()),
        ),
        (
            "ca.key",
            Some(read(&other.path().join("ca.key")).into_bytes()),
        ),
        ("ca.key", None),
        ("apiserver.crt", Some(b"garbage".to_vec())),
        ("apiserver.key", Some(vec![0xff, 0x00])),
    ];
    for (file, contents) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        Pki::load_or_create(dir.path(), &[]).expect("create");
        let path = dir.path().join(file);
        match &contents {
            Some(c) => std::fs::write(&path, c).expect("write"),
            None => std::fs::remove_file(&path).expect("remove"),
        }
        let err = Pki::load_or_create(dir.path(), &[]).expect_err(file);
        assert!(
            matches!(&err, PkiError::Corrupt { path: p, .. } if *p == path),
            "{file}: {err}"
        );
        assert!(err.to_string().contains(file), "{err}");
    }
}

#[test]
fn a_serving_certificate_of_another_ca_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    Pki::load_or_create(dir.path(), &[]).expect("create");
    Pki::load_or_create(other.path(), &[]).expect("another pki");
    for f in ["apiserver.crt", "apiserver.key"] {
        std::fs::copy(other.path().join(f), dir.path().join(f)).expect("copy");
    }
    let foreign = read(&dir.path().join("apiserver.crt"));
    Pki::load_or_create(dir.path(), &[]).expect("re-issued");
    assert_ne!(read(&dir.path().join("apiserver.crt")), foreign);
}

#[test]
fn a_serving_certificate_about_to_expire_is_renewed() {
    let dir = tempfile::tempdir().expect("tempdir");
    Pki::load_or_create(dir.path(), &[]).expect("create");
    // Replace the serving certificate with one from the same CA that expires in ten days.
    let ca_key = rcgen::KeyPair::from_pem(&read(&dir.path().join("ca.key"))).expect("ca key");
    let issuer =
        rcgen::Issuer::from_ca_cert_pem(&read(&dir.path().join("ca.crt")), ca_key).expect("ca");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.not_after = (SystemTime::now() + Duration::from_secs(10 * 86_400)).into();
    let key = rcgen::KeyPair::generate().expect("key");
    let short = params.signed_by(&key, &issuer).expect("sign");
    std::fs::write(dir.path().join("apiserver.crt"), short.pem()).expect("write");
    std::fs::write(dir.path().join("apiserver.key"), key.serialize_pem()).expect("write");

    Pki::load_or_create(dir.path(), &[]).expect("renewed");
    let renewed = read(&dir.path().join("apiserver.crt"));
    assert!(not_after(&renewed) > SystemTime::now() + Duration::from_secs(300 * 86_400));
}

#[test]
fn an_extra_host_that_is_no_name_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Pki::load_or_create(dir.path(), &["not a host".into()]).expect_err("invalid");
    assert!(
        matches!(err, PkiError::InvalidHost(ref h) if h == "not a host"),
        "{err}"
    );
}

#[test]
fn a_stored_client_certificate_is_reissued_only_when_its_user_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    let user = User::new("ci", &["deployers"]);
    let first = pki
        .load_or_issue_client_cert(dir.path(), "ci", &user)
        .expect("issue");
    assert_eq!(mode(&dir.path().join("ci.key")), 0o600);
    let second = pki
        .load_or_issue_client_cert(dir.path(), "ci", &user)
        .expect("load");
    assert_eq!(first, second);
    let promoted = User::new("ci", &["deployers", "system:masters"]);
    let third = pki
        .load_or_issue_client_cert(dir.path(), "ci", &promoted)
        .expect("re-issue");
    assert_ne!(first, third);
    let der = x509_parser::pem::parse_x509_pem(third.0.as_bytes())
        .expect("pem")
        .1
        .contents;
    let found = bosun_pki::user_from_cert(&der).expect("user");
    assert_eq!(
        found.groups,
        ["deployers", "system:masters", "system:authenticated"]
    );

    std::fs::write(dir.path().join("ci.crt"), "garbage").expect("write");
    let err = pki
        .load_or_issue_client_cert(dir.path(), "ci", &promoted)
        .expect_err("corrupt");
    assert!(err.to_string().contains("ci.crt"), "{err}");
}

#[test]
fn tokens_are_created_once_beside_the_pki() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tokens.csv");
    let users = [
        bosun_pki::admin_user(),
        bosun_pki::scheduler_user(),
        bosun_pki::controller_manager_user(),
    ];
    let first = TokenFile::load_or_create(&path, &users).expect("create");
    let again = TokenFile::load_or_create(&path, &users).expect("load");
    for u in &users {
        let token = first.token_for(&u.name).expect("a token");
        assert_eq!(again.token_for(&u.name), Some(token));
        assert_eq!(
            again.authenticate(token).map(|a| a.name),
            Some(u.name.clone())
        );
    }
    assert!(again.authenticate("not-a-token").is_none());
    assert_eq!(mode(&path), 0o600);
}

/// `kubectl config view` over a kubeconfig, with a fresh HOME; `None` without kubectl.
fn kubectl_view(dir: &Path, text: &str) -> Option<serde_json::Value> {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let out = match std::process::Command::new("kubectl")
        .args(["config", "view", "--raw", "-o", "json", "--kubeconfig"])
        .arg(&path)
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: no kubectl on PATH");
            return None;
        }
        Err(e) => panic!("kubectl: {e}"),
    };
    assert!(
        out.status.success(),
        "kubectl refused the kubeconfig: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
}

#[test]
fn kubectl_reads_a_token_kubeconfig() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(&dir.path().join("pki"), &[]).expect("pki");
    let tokens =
        TokenFile::load_or_create(&dir.path().join("tokens.csv"), &[bosun_pki::admin_user()])
            .expect("tokens");
    let token = tokens.token_for("admin").expect("token").to_string();
    let text = kubeconfig(
        "bosun",
        "https://127.0.0.1:6443",
        pki.ca_pem(),
        "admin",
        Credential::Token(token.clone()),
    );
    let Some(v) = kubectl_view(dir.path(), &text) else {
        return;
    };
    assert_eq!(v["current-context"], "bosun");
    assert_eq!(v["contexts"][0]["context"]["user"], "admin");
    assert_eq!(
        v["clusters"][0]["cluster"]["server"],
        "https://127.0.0.1:6443"
    );
    assert_eq!(v["users"][0]["user"]["token"], token.as_str());
    let ca = v["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .expect("CA data");
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD
        .decode(ca)
        .expect("base64");
    assert_eq!(ca, pki.ca_pem().as_bytes());
}

#[test]
fn kubectl_reads_a_client_certificate_kubeconfig() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(&dir.path().join("pki"), &[]).expect("pki");
    let (cert_pem, key_pem) = pki
        .issue_client_cert(&bosun_pki::node_user("n1"))
        .expect("cert");
    let text = kubeconfig(
        "bosun-n1",
        "https://127.0.0.1:6443",
        pki.ca_pem(),
        "system:node:n1",
        Credential::ClientCert { cert_pem, key_pem },
    );
    let Some(v) = kubectl_view(dir.path(), &text) else {
        return;
    };
    assert_eq!(v["current-context"], "bosun-n1");
    let user = &v["users"][0]["user"];
    assert!(
        user["client-certificate-data"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(
        user["client-key-data"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

/// Another X.509 implementation than the one bosun serves with reads a certificate with many
/// groups the same way (skipped without `openssl`).
#[test]
fn openssl_verifies_a_client_certificate_with_many_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    let user = User::new("jane", &["devs", "ops", "system:masters"]);
    pki.load_or_issue_client_cert(dir.path(), "jane", &user)
        .expect("cert");
    let openssl = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
    };
    let verified = match openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        "ca.crt",
        "jane.crt",
    ]) {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: no openssl on PATH");
            return;
        }
        Err(e) => panic!("openssl: {e}"),
    };
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    let subject = openssl(&[
        "x509", "-in", "jane.crt", "-noout", "-subject", "-nameopt", "RFC2253",
    ])
    .expect("openssl x509");
    assert_eq!(
        String::from_utf8_lossy(&subject.stdout).trim(),
        "subject=O=system:masters,O=ops,O=devs,CN=jane"
    );
}
