//! Real TLS handshakes over loopback against the generated certificates.

mod common;

use bosun_pki::{Pki, User};
use common::{client_config, handshake};

fn groups(user: &User) -> Vec<&str> {
    user.groups.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn clients_trusting_the_ca_connect_by_loopback_address_and_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    for host in ["127.0.0.1", "localhost", "::1"] {
        let seen = handshake(&pki, host, client_config(pki.ca_pem(), None))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert!(seen.user.is_none(), "no client certificate, no user");
    }
}

#[tokio::test]
async fn clients_connect_by_this_machines_hostname() {
    let Some(host) = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| rustls::pki_types::DnsName::try_from(h.as_str()).is_ok())
    else {
        eprintln!("skipped: this machine's hostname is no DNS name");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    handshake(&pki, &host, client_config(pki.ca_pem(), None))
        .await
        .unwrap_or_else(|e| panic!("{host}: {e}"));
}

#[tokio::test]
async fn a_name_the_serving_certificate_lacks_is_refused_by_the_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    let err = handshake(&pki, "example.com", client_config(pki.ca_pem(), None))
        .await
        .expect_err("not a name of the serving certificate");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn extra_hosts_are_served_after_a_restart_asks_for_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Pki::load_or_create(dir.path(), &[]).expect("pki");
    let hosts = ["10.1.2.3".to_string(), "api.bosun.example".to_string()];
    let second = Pki::load_or_create(dir.path(), &hosts).expect("re-issued");
    assert_eq!(first.ca_pem(), second.ca_pem(), "the same CA");
    // A client holding the CA from the first start trusts the re-issued certificate.
    for host in ["10.1.2.3", "api.bosun.example", "localhost"] {
        handshake(&second, host, client_config(first.ca_pem(), None))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    // A later start asking for another name keeps the names asked for before.
    let third = Pki::load_or_create(dir.path(), &["other.bosun.example".into()]).expect("third");
    for host in ["api.bosun.example", "other.bosun.example", "10.1.2.3"] {
        handshake(&third, host, client_config(first.ca_pem(), None))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
    }
}

#[tokio::test]
async fn h2_is_offered_to_clients_that_speak_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    for (offered, chosen) in [
        (
            vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Some(b"h2".to_vec()),
        ),
        (vec![b"http/1.1".to_vec()], Some(b"http/1.1".to_vec())),
        (vec![], None),
    ] {
        let mut config = client_config(pki.ca_pem(), None);
        config.alpn_protocols = offered;
        let seen = handshake(&pki, "localhost", config)
            .await
            .expect("handshake");
        assert_eq!(seen.alpn, chosen);
    }
}

#[tokio::test]
async fn a_client_certificate_names_its_user_and_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    let cases = [
        (
            bosun_pki::admin_user(),
            vec!["system:masters", "system:authenticated"],
        ),
        (
            bosun_pki::node_user("n1"),
            vec!["system:nodes", "system:authenticated"],
        ),
        (bosun_pki::scheduler_user(), vec!["system:authenticated"]),
        (
            User::new("jane", &["devs", "ops", "system:masters"]),
            vec!["devs", "ops", "system:masters", "system:authenticated"],
        ),
    ];
    for (user, want) in cases {
        let cert = pki.issue_client_cert(&user).expect("client cert");
        let seen = handshake(&pki, "localhost", client_config(pki.ca_pem(), Some(cert)))
            .await
            .expect("handshake");
        let found = seen.user.expect("the server sees a user");
        assert_eq!(found.name, user.name);
        assert_eq!(groups(&found), want);
    }
}

#[tokio::test]
async fn a_stored_client_certificate_authenticates_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    let node = bosun_pki::node_user("n2");
    let issued = pki
        .load_or_issue_client_cert(dir.path(), "node-n2", &node)
        .expect("issue");
    let restarted = Pki::load_or_create(dir.path(), &[]).expect("restart");
    let loaded = restarted
        .load_or_issue_client_cert(dir.path(), "node-n2", &node)
        .expect("load");
    assert_eq!(issued, loaded, "kept, not re-issued");
    let seen = handshake(
        &restarted,
        "localhost",
        client_config(restarted.ca_pem(), Some(loaded)),
    )
    .await
    .expect("handshake");
    assert_eq!(seen.user.map(|u| u.name).as_deref(), Some("system:node:n2"));
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_rejected() {
    let ours = tempfile::tempdir().expect("tempdir");
    let theirs = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(ours.path(), &[]).expect("pki");
    let other = Pki::load_or_create(theirs.path(), &[]).expect("other pki");
    let foreign = other
        .issue_client_cert(&bosun_pki::admin_user())
        .expect("cert");
    let err = handshake(
        &pki,
        "localhost",
        client_config(pki.ca_pem(), Some(foreign)),
    )
    .await
    .expect_err("a foreign client certificate must not be accepted");
    eprintln!("refused as expected: {err}");
}

#[tokio::test]
async fn a_server_of_another_ca_is_not_trusted() {
    let ours = tempfile::tempdir().expect("tempdir");
    let theirs = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(ours.path(), &[]).expect("pki");
    let other = Pki::load_or_create(theirs.path(), &[]).expect("other pki");
    handshake(&other, "localhost", client_config(pki.ca_pem(), None))
        .await
        .expect_err("the client trusts only its CA");
}
