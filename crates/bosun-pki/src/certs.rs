//! The CA, the serving certificate and client certificates.

use crate::{PkiError, User, write_private};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The group of every authenticated user.
const AUTHENTICATED: &str = "system:authenticated";

/// The CA and the serving certificate of one cluster.
pub struct Pki {
    ca_pem: String,
    ca_key_pem: String,
    server_pem: String,
    server_key_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn corrupt(path: &Path, reason: impl ToString) -> PkiError {
    PkiError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(3600)).into();
    params.not_after = (now + std::time::Duration::from_secs(days as u64 * 86_400)).into();
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The subject alternative names a certificate carries.
fn sans_of(pem: &str) -> Vec<String> {
    let Ok((_, parsed)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else {
        return Vec::new();
    };
    let Ok(cert) = parsed.parse_x509() else {
        return Vec::new();
    };
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
            x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                4 => Some(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                16 => <[u8; 16]>::try_from(*ip)
                    .ok()
                    .map(|b| std::net::Ipv6Addr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

impl Pki {
    /// Load the CA and serving certificate from `dir`, creating what is missing. The serving
    /// certificate covers 127.0.0.1, ::1, localhost, this machine's hostname and `extra_hosts`;
    /// it is re-issued from the same CA when a name is missing.
    pub fn load_or_create(dir: &Path, extra_hosts: &[String]) -> Result<Self, PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let (ca_crt, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
        let (ca_pem, ca_key_pem) = match (read(&ca_crt)?, read(&ca_key)?) {
            (Some(c), Some(k)) => {
                KeyPair::from_pem(&k).map_err(|e| corrupt(&ca_key, e))?;
                let (_, pem) = x509_parser::pem::parse_x509_pem(c.as_bytes())
                    .map_err(|e| corrupt(&ca_crt, e))?;
                pem.parse_x509().map_err(|e| corrupt(&ca_crt, e))?;
                (c, k)
            }
            (None, None) => {
                let key = KeyPair::generate()?;
                let mut params = CertificateParams::default();
                let mut dn = DistinguishedName::new();
                dn.push(DnType::CommonName, "bosun-ca");
                params.distinguished_name = dn;
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                validity(&mut params, 3650);
                let cert = params.self_signed(&key)?;
                let (c, k) = (cert.pem(), key.serialize_pem());
                write_private(&ca_key, &k)?;
                write_private(&ca_crt, &c)?;
                (c, k)
            }
            (Some(_), None) => return Err(corrupt(&ca_key, "missing while ca.crt exists")),
            (None, Some(_)) => return Err(corrupt(&ca_crt, "missing while ca.key exists")),
        };
        let mut pki = Pki {
            ca_pem,
            ca_key_pem,
            server_pem: String::new(),
            server_key_pem: String::new(),
        };

        let mut hosts: Vec<String> = vec!["127.0.0.1".into(), "::1".into(), "localhost".into()];
        hosts.extend(hostname());
        hosts.extend(extra_hosts.iter().cloned());
        hosts.dedup();
        let (srv_crt, srv_key) = (dir.join("apiserver.crt"), dir.join("apiserver.key"));
        match (read(&srv_crt)?, read(&srv_key)?) {
            (Some(c), Some(k)) if hosts.iter().all(|h| sans_of(&c).contains(h)) => {
                KeyPair::from_pem(&k).map_err(|e| corrupt(&srv_key, e))?;
                pki.server_pem = c;
                pki.server_key_pem = k;
            }
            _ => {
                let (c, k) = pki.issue(&hosts, "bosun-apiserver", &[], true)?;
                write_private(&srv_key, &k)?;
                write_private(&srv_crt, &c)?;
                pki.server_pem = c;
                pki.server_key_pem = k;
            }
        }
        Ok(pki)
    }

    fn issue(
        &self,
        sans: &[String],
        cn: &str,
        orgs: &[String],
        server: bool,
    ) -> Result<(String, String), PkiError> {
        let ca_key = KeyPair::from_pem(&self.ca_key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_pem, ca_key)?;
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans
            .iter()
            .map(|h| match h.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => h.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        for o in orgs {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        validity(&mut params, if server { 3650 } else { 365 });
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// The CA certificate (PEM), for kubeconfigs and clients.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A client certificate for `user`: CN = name, O = its group. `system:authenticated` is
    /// implied for every authenticated user and not written; rcgen holds one value per
    /// attribute type, so a user may have at most one other group.
    pub fn issue_client_cert(&self, user: &User) -> Result<(String, String), PkiError> {
        let groups: Vec<String> = user
            .groups
            .iter()
            .filter(|g| *g != AUTHENTICATED)
            .cloned()
            .collect();
        if groups.len() > 1 {
            return Err(PkiError::Tls(format!(
                "a client certificate carries one group; {} has {groups:?}",
                user.name
            )));
        }
        self.issue(&[], &user.name, &groups, false)
    }

    /// A client certificate kept at `dir/<stem>.crt` and `.key`, created once.
    pub fn load_or_issue_client_cert(
        &self,
        dir: &Path,
        stem: &str,
        user: &User,
    ) -> Result<(String, String), PkiError> {
        let (crt, key) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        if let (Some(c), Some(k)) = (read(&crt)?, read(&key)?) {
            return Ok((c, k));
        }
        let (c, k) = self.issue_client_cert(user)?;
        write_private(&key, &k)?;
        write_private(&crt, &c)?;
        Ok((c, k))
    }

    /// The server side of TLS: the serving certificate; client certificates signed by this CA
    /// are verified when presented but not required (token clients connect too); h2 and
    /// http/1.1.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, PkiError> {
        let tls = |e: &dyn std::fmt::Display| PkiError::Tls(e.to_string());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs(&self.ca_pem, Path::new("ca.crt"))? {
            roots.add(cert).map_err(|e| tls(&e))?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|e| tls(&e))?;
        let chain = certs(&self.server_pem, Path::new("apiserver.crt"))?;
        let key = rustls_pemfile::private_key(&mut self.server_key_pem.as_bytes())
            .map_err(|e| corrupt(Path::new("apiserver.key"), e))?
            .ok_or_else(|| corrupt(Path::new("apiserver.key"), "no private key"))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| tls(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| tls(&e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn certs(
    pem: &str,
    name: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, PkiError> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt(name, e))
}

/// The user a verified client certificate names: CN is the name, each O a group.
pub fn user_from_cert(der: &[u8]) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    groups.push(AUTHENTICATED.to_string());
    Some(User {
        uid: name.clone(),
        name,
        groups,
    })
}

/// Where the PEM files of a PKI dir are (for messages and tests).
pub fn paths(dir: &Path) -> [PathBuf; 4] {
    [
        dir.join("ca.crt"),
        dir.join("ca.key"),
        dir.join("apiserver.crt"),
        dir.join("apiserver.key"),
    ]
}
