//! The CA, the API server's serving certificate and client certificates.
//!
//! Layout of a PKI dir: `ca.crt`, `ca.key` (0600), `apiserver.crt`, `apiserver.key` (0600) and
//! client certificates `<stem>.crt`, `<stem>.key` (0600). The CA is created once and never
//! replaced by bosun: a CA that cannot be read is an error naming its file. Leaf certificates are
//! re-issued from the CA whenever they would not pass the check a peer makes (wrong CA, about
//! to expire, a requested name missing, another user), and kept otherwise.

use crate::files::{self, PRIVATE, PUBLIC, corrupt};
use crate::{PkiError, Result, User, subject};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

/// The group every authenticated user is in; implied, so never written into a certificate.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);
const SERVING_VALIDITY: Duration = Duration::from_secs(365 * 86_400);
const CLIENT_VALIDITY: Duration = Duration::from_secs(365 * 86_400);
/// A leaf certificate that expires sooner than this is re-issued when loaded.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);

/// The CA and the API server's serving certificate of one cluster.
pub struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    ca_key: KeyPair,
    serving_chain: Vec<CertificateDer<'static>>,
    serving_key_pem: String,
    /// Checks server certificates the way clients trusting only this CA do.
    server_verifier: Arc<WebPkiServerVerifier>,
    /// Checks client certificates the way the API server does; certificates are optional.
    client_verifier: Arc<dyn ClientCertVerifier>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

impl Pki {
    /// The CA and the API server's serving certificate, loaded from `dir` or created there on
    /// first start: `ca.crt`, `ca.key` (0600), `apiserver.crt`, `apiserver.key` (0600).
    ///
    /// The serving certificate covers 127.0.0.1, ::1, localhost, this machine's hostname and
    /// `extra_hosts` (IP addresses or DNS names). When the existing one lacks a requested name,
    /// does not chain to the CA, does not match its key or expires within 30 days, it is
    /// re-issued from the same CA,
    /// keeping the names it had. A file that cannot be read as what it should hold is an error
    /// naming it; so is a CA key that does not match the CA certificate, or an expired CA.
    pub fn load_or_create(dir: &Path, extra_hosts: &[String]) -> Result<Self> {
        let mut hosts = Hosts::default();
        for h in ["127.0.0.1", "::1", "localhost"] {
            hosts.add(h)?;
        }
        if let Some(name) = hostname() {
            // A hostname that is no valid DNS name cannot be a SAN; clients cannot use it.
            let _ = hosts.add(&name);
        }
        for h in extra_hosts {
            hosts.add(h)?;
        }

        files::create_private_dir(dir)?;
        let _lock = files::lock_dir(dir)?;
        let (ca_pem, ca_der, ca_key) = load_or_create_ca(dir)?;
        let mut pki = Pki::new(ca_pem, ca_der, ca_key)?;

        let (crt, key) = (dir.join("apiserver.crt"), dir.join("apiserver.key"));
        let existing = match (files::read_optional(&crt)?, files::read_optional(&key)?) {
            (Some(cert_pem), Some(key_pem)) => {
                let leaf = Leaf::parse(&crt, &cert_pem, &key, &key_pem)?;
                let keep = leaf.key_matches
                    && hosts
                        .names
                        .iter()
                        .all(|name| pki.serves(&leaf.der, name, RENEW_BEFORE));
                if keep {
                    pki.serving_chain = vec![leaf.der];
                    pki.serving_key_pem = key_pem;
                    return Ok(pki);
                }
                leaf.sans
            }
            _ => Vec::new(),
        };
        // Keep the names the old certificate had: replicas sharing this dir may ask for
        // different ones, and must not take turns dropping each other's.
        for name in existing {
            let _ = hosts.add(&name);
        }
        let (cert_pem, key_pem) = pki.issue_serving_cert(&hosts)?;
        files::write_atomic(&key, &key_pem, PRIVATE)?;
        files::write_atomic(&crt, &cert_pem, PUBLIC)?;
        pki.serving_chain = vec![parse_cert(&crt, &cert_pem)?];
        pki.serving_key_pem = key_pem;
        Ok(pki)
    }

    fn new(ca_pem: String, ca_der: CertificateDer<'static>, ca_key: KeyPair) -> Result<Self> {
        let tls = |e: &dyn std::fmt::Display| PkiError::Tls(e.to_string());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der.clone()).map_err(|e| tls(&e))?;
        let roots = Arc::new(roots);
        let server_verifier =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| tls(&e))?;
        let client_verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| tls(&e))?;
        Ok(Pki {
            ca_pem,
            ca_der,
            ca_key,
            serving_chain: Vec::new(),
            serving_key_pem: String::new(),
            server_verifier,
            client_verifier,
        })
    }

    /// The CA certificate (PEM), for kubeconfigs and clients.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A client certificate for `user`, signed by the CA and valid for one year: CN is the
    /// name, and each group is one O (`system:authenticated` is implied and left out).
    /// Returns the certificate and its private key, both PEM.
    pub fn issue_client_cert(&self, user: &User) -> Result<(String, String)> {
        let invalid = |reason: &str| PkiError::InvalidUser {
            name: user.name.clone(),
            reason: reason.to_string(),
        };
        if user.name.is_empty() {
            return Err(invalid("an empty name cannot be a certificate's CN"));
        }
        let groups = cert_groups(user);
        if groups.iter().any(|g| g.is_empty()) {
            return Err(invalid("an empty group cannot be a certificate's O"));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = subject::distinguished_name(&user.name, &groups)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let (der, key_pem) = self.sign_leaf(params, groups.len(), CLIENT_VALIDITY)?;
        // Check what was written the way the API server will read it.
        self.client_verifier
            .verify_client_cert(&der, &[], UnixTime::now())
            .map_err(|e| PkiError::Issue(format!("the CA does not accept it: {e}")))?;
        if !names_user(&der, user) {
            return Err(PkiError::Issue(format!(
                "it does not name {} in {groups:?}",
                user.name
            )));
        }
        Ok((pem("CERTIFICATE", &der), key_pem))
    }

    /// A client certificate for `user` kept at `dir/<file_stem>.crt` and `.key` (0600):
    /// issued once and loaded after that, re-issued only when it names another user or groups,
    /// does not chain to this CA or expires within 30 days.
    pub fn load_or_issue_client_cert(
        &self,
        dir: &Path,
        file_stem: &str,
        user: &User,
    ) -> Result<(String, String)> {
        files::create_private_dir(dir)?;
        let _lock = files::lock_dir(dir)?;
        let crt = dir.join(format!("{file_stem}.crt"));
        let key = dir.join(format!("{file_stem}.key"));
        if let (Some(cert_pem), Some(key_pem)) =
            (files::read_optional(&crt)?, files::read_optional(&key)?)
        {
            let leaf = Leaf::parse(&crt, &cert_pem, &key, &key_pem)?;
            let later = UnixTime::since_unix_epoch(since_epoch(SystemTime::now() + RENEW_BEFORE));
            let valid = self
                .client_verifier
                .verify_client_cert(&leaf.der, &[], later)
                .is_ok();
            if leaf.key_matches && valid && names_user(&leaf.der, user) {
                return Ok((cert_pem, key_pem));
            }
        }
        let (cert_pem, key_pem) = self.issue_client_cert(user)?;
        files::write_atomic(&key, &key_pem, PRIVATE)?;
        files::write_atomic(&crt, &cert_pem, PUBLIC)?;
        Ok((cert_pem, key_pem))
    }

    /// The API server's side of TLS: the serving certificate; client certificates signed by
    /// this CA are verified when presented but not required, so bearer-token clients connect
    /// too; ALPN h2 and http/1.1; TLS 1.3 and 1.2.
    pub fn server_config(&self) -> Result<rustls::ServerConfig> {
        let tls = |e: &dyn std::fmt::Display| PkiError::Tls(e.to_string());
        let key = PrivateKeyDer::from_pem_slice(self.serving_key_pem.as_bytes())
            .map_err(|e| corrupt(Path::new("apiserver.key"), e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| tls(&e))?
            .with_client_cert_verifier(self.client_verifier.clone())
            .with_single_cert(self.serving_chain.clone(), key)
            .map_err(|e| tls(&e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Whether a client trusting only this CA accepts `der` for `name`, `margin` from now.
    fn serves(
        &self,
        der: &CertificateDer<'_>,
        name: &ServerName<'static>,
        margin: Duration,
    ) -> bool {
        let at = UnixTime::since_unix_epoch(since_epoch(SystemTime::now() + margin));
        self.server_verifier
            .verify_server_cert(der, &[], name, &[], at)
            .is_ok()
    }

    fn issue_serving_cert(&self, hosts: &Hosts) -> Result<(String, String)> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "bosun-apiserver");
        params.distinguished_name = dn;
        params.subject_alt_names = hosts.sans.clone();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let (der, key_pem) = self.sign_leaf(params, 0, SERVING_VALIDITY)?;
        for name in &hosts.names {
            if !self.serves(&der, name, Duration::ZERO) {
                return Err(PkiError::Issue(format!(
                    "clients would not accept it for {}",
                    name.to_str()
                )));
            }
        }
        Ok((pem("CERTIFICATE", &der), key_pem))
    }

    /// Sign a leaf certificate for a new key; returns its DER and the key's PEM.
    fn sign_leaf(
        &self,
        mut params: CertificateParams,
        groups: usize,
        validity: Duration,
    ) -> Result<(CertificateDer<'static>, String)> {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, validity);
        let key = KeyPair::generate()?;
        let der = subject::sign(&params, groups, &key, &self.ca_der, &self.ca_key)?;
        Ok((CertificateDer::from(der), key.serialize_pem()))
    }
}

/// The user a verified client certificate names: CN is the name (and the uid), each O a group,
/// and `system:authenticated` is added as Kubernetes does. `None` when the DER is no
/// certificate or has no CN. Call it only for certificates the TLS layer verified.
pub fn user_from_cert(der: &[u8]) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    if name.is_empty() {
        return None;
    }
    let mut groups = subject
        .iter_organization()
        .map(|o| o.as_str().map(String::from))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        groups.push(AUTHENTICATED_GROUP.to_string());
    }
    Some(User {
        uid: name.clone(),
        name,
        groups,
    })
}

/// The groups a certificate for `user` carries.
fn cert_groups(user: &User) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    for g in &user.groups {
        if g != AUTHENTICATED_GROUP && !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    groups
}

/// Whether the certificate `der` names `user` with exactly its groups.
fn names_user(der: &[u8], user: &User) -> bool {
    user_from_cert(der)
        .is_some_and(|found| found.name == user.name && cert_groups(&found) == cert_groups(user))
}

/// The names a serving certificate is asked to cover, as SANs and as the names clients use.
#[derive(Default)]
struct Hosts {
    sans: Vec<SanType>,
    names: Vec<ServerName<'static>>,
}

impl Hosts {
    /// Add `host`, an IP address or a DNS name, unless it is already there.
    fn add(&mut self, host: &str) -> Result<()> {
        let invalid = || PkiError::InvalidHost(host.to_string());
        let (san, name) = match host.parse::<IpAddr>() {
            Ok(ip) => (SanType::IpAddress(ip), ServerName::IpAddress(ip.into())),
            Err(_) => {
                let dns = DnsName::try_from(host.to_ascii_lowercase()).map_err(|_| invalid())?;
                let ia5 = dns.as_ref().to_string().try_into().map_err(|_| invalid())?;
                (SanType::DnsName(ia5), ServerName::DnsName(dns))
            }
        };
        if !self.sans.contains(&san) {
            self.sans.push(san);
            self.names.push(name);
        }
        Ok(())
    }
}

/// A leaf certificate and key read from files.
struct Leaf {
    der: CertificateDer<'static>,
    key_matches: bool,
    /// Its subject alternative names, as text.
    sans: Vec<String>,
}

impl Leaf {
    fn parse(crt: &Path, cert_pem: &str, key: &Path, key_pem: &str) -> Result<Self> {
        let der = parse_cert(crt, cert_pem)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| corrupt(crt, e))?;
        let key_pair = KeyPair::from_pem(key_pem).map_err(|e| corrupt(key, e))?;
        let key_matches = key_matches(&cert, &key_pair);
        let sans = sans(&cert);
        Ok(Leaf {
            der,
            key_matches,
            sans,
        })
    }
}

fn load_or_create_ca(dir: &Path) -> Result<(String, CertificateDer<'static>, KeyPair)> {
    let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
    match (files::read_optional(&crt)?, files::read_optional(&key)?) {
        (Some(cert_pem), Some(key_pem)) => {
            let der = parse_cert(&crt, &cert_pem)?;
            let (_, cert) =
                x509_parser::parse_x509_certificate(&der).map_err(|e| corrupt(&crt, e))?;
            if !cert.is_ca() {
                return Err(corrupt(&crt, "not a CA certificate"));
            }
            if !cert.validity().is_valid() {
                return Err(corrupt(
                    &crt,
                    format!(
                        "the CA is valid from {} to {}; move ca.crt and ca.key away to create \
                         a new CA",
                        cert.validity().not_before,
                        cert.validity().not_after
                    ),
                ));
            }
            let key_pair = KeyPair::from_pem(&key_pem).map_err(|e| corrupt(&key, e))?;
            if !key_matches(&cert, &key_pair) {
                return Err(corrupt(&key, "not the key of ca.crt"));
            }
            Ok((cert_pem, der, key_pair))
        }
        (None, None) => {
            let key_pair = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            // Named with its birth time, as k3s names its CAs, so that two clusters' CAs
            // are told apart by people and by chain building alike.
            let born = since_epoch(SystemTime::now()).as_secs();
            dn.push(DnType::CommonName, format!("bosun-ca@{born}"));
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            set_validity(&mut params, CA_VALIDITY);
            let cert = params.self_signed(&key_pair)?;
            let cert_pem = cert.pem();
            files::write_atomic(&key, &key_pair.serialize_pem(), PRIVATE)?;
            files::write_atomic(&crt, &cert_pem, PUBLIC)?;
            Ok((cert_pem, cert.der().clone(), key_pair))
        }
        (Some(_), None) => Err(corrupt(&key, "missing, while ca.crt exists")),
        (None, Some(_)) => Err(corrupt(&crt, "missing, while ca.key exists")),
    }
}

/// The one certificate in a PEM file.
fn parse_cert(path: &Path, pem: &str) -> Result<CertificateDer<'static>> {
    let mut certs = CertificateDer::pem_slice_iter(pem.as_bytes());
    let first = certs
        .next()
        .ok_or_else(|| corrupt(path, "no PEM certificate"))?
        .map_err(|e| corrupt(path, e))?;
    x509_parser::parse_x509_certificate(&first).map_err(|e| corrupt(path, e))?;
    Ok(first)
}

fn key_matches(cert: &X509Certificate<'_>, key: &KeyPair) -> bool {
    cert.public_key().raw == key.subject_public_key_info().as_slice()
}

fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_string()),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => <[u8; 4]>::try_from(*ip)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*ip)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = SystemTime::now();
    // An hour back, so that a peer whose clock is a little behind accepts it.
    params.not_before = (now - Duration::from_secs(3600)).into();
    params.not_after = (now + validity).into();
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// PEM text of `der` with the given label.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> User {
        User::new(name, groups)
    }

    #[test]
    fn a_client_certificate_carries_every_group_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
        let groups = ["devs", "ops", "system:masters", "a,b \"quoted\"", "ünïcode"];
        let (cert, _) = pki
            .issue_client_cert(&user("jane", &groups))
            .expect("issue");
        let der = CertificateDer::from_pem_slice(cert.as_bytes()).expect("pem");
        let found = user_from_cert(&der).expect("a user");
        assert_eq!(found.name, "jane");
        let mut want: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        want.push(AUTHENTICATED_GROUP.into());
        assert_eq!(found.groups, want);
    }

    #[test]
    fn a_client_certificate_for_a_user_without_groups_has_no_organization() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
        let (cert, _) = pki
            .issue_client_cert(&crate::scheduler_user())
            .expect("issue");
        let der = CertificateDer::from_pem_slice(cert.as_bytes()).expect("pem");
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("x509");
        assert_eq!(parsed.subject().iter_organization().count(), 0);
        assert_eq!(
            user_from_cert(&der).map(|u| u.groups),
            Some(vec![AUTHENTICATED_GROUP.to_string()])
        );
    }

    #[test]
    fn users_that_cannot_be_written_into_a_certificate_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
        assert!(matches!(
            pki.issue_client_cert(&user("", &[])),
            Err(PkiError::InvalidUser { .. })
        ));
        assert!(matches!(
            pki.issue_client_cert(&user("u", &[""])),
            Err(PkiError::InvalidUser { .. })
        ));
    }

    #[test]
    fn a_serving_name_must_be_an_ip_or_a_dns_name() {
        let mut hosts = Hosts::default();
        for ok in [
            "10.0.0.1",
            "fe80::1",
            "node-1.example.com",
            "Node-1.Example.com",
        ] {
            hosts.add(ok).expect(ok);
        }
        assert_eq!(hosts.sans.len(), 3, "names differing in case are one name");
        for bad in ["", "has space", "https://x", "a..b"] {
            assert!(
                matches!(hosts.add(bad), Err(PkiError::InvalidHost(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let text = pem("CERTIFICATE", &[7u8; 100]);
        assert!(text.lines().all(|l| l.len() <= 64));
        let der = CertificateDer::from_pem_slice(text.as_bytes()).expect("round trip");
        assert_eq!(der.as_ref(), &[7u8; 100]);
    }
}
