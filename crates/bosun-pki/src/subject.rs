//! A certificate subject with one organization (O) per group, the way Kubernetes reads groups
//! from a client certificate.
//!
//! rcgen's `DistinguishedName` keeps one value per attribute type (rustls/rcgen#81), so a
//! second `O` would replace the first. The first group is written as a real `O`; each later
//! group `n` is written under a stand-in attribute type, OID 2.5.127.n, whose DER encoding
//! (`06 03 55 7f n`) has exactly the length of organizationName's (2.5.4.10, `06 03 55 04 0a`).
//! The CA's signer turns every stand-in into organizationName in the to-be-signed bytes before
//! signing them, and those bytes replace rcgen's in the certificate. No length changes, so the
//! DER stays well formed, and the signature covers what the certificate says. Each stand-in
//! must occur exactly once; anything else fails the issue instead of writing a wrong
//! certificate, and the caller checks the result with the verifier the server uses.

use crate::{PkiError, Result};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, Issuer, KeyPair, PublicKeyData,
    SignatureAlgorithm, SigningKey,
};
use std::cell::Cell;

/// organizationName, 2.5.4.10, as DER.
const ORGANIZATION: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x0a];

/// The most groups a certificate can carry: one real O and stand-ins 2.5.127.1..=127.
pub(crate) const MAX_GROUPS: usize = 128;

fn stand_in_der(n: u8) -> [u8; 5] {
    [0x06, 0x03, 0x55, 0x7f, n]
}

/// CN = `name`, then one O per group, in order.
pub(crate) fn distinguished_name(name: &str, groups: &[String]) -> Result<DistinguishedName> {
    if groups.len() > MAX_GROUPS {
        return Err(PkiError::InvalidUser {
            name: name.to_string(),
            reason: format!(
                "{} groups; a certificate carries at most {MAX_GROUPS}",
                groups.len()
            ),
        });
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    for (n, group) in (0u64..).zip(groups) {
        let ty = match n {
            0 => DnType::OrganizationName,
            n => DnType::CustomDnType(vec![2, 5, 127, n]),
        };
        dn.push(ty, group.as_str());
    }
    Ok(dn)
}

/// Sign `params` (whose subject came from [`distinguished_name`] with `groups` groups) for
/// `key` with the CA; returns the certificate's DER.
pub(crate) fn sign(
    params: &CertificateParams,
    groups: usize,
    key: &KeyPair,
    ca_der: &rustls::pki_types::CertificateDer<'_>,
    ca_key: &KeyPair,
) -> Result<Vec<u8>> {
    let stand_ins = u8::try_from(groups.saturating_sub(1))
        .ok()
        .filter(|n| usize::from(*n) < MAX_GROUPS)
        .ok_or_else(|| PkiError::Issue(format!("{groups} groups")))?;
    let signer = StandInSigner {
        key: ca_key,
        stand_ins,
        signed: Cell::new(None),
    };
    let issuer = Issuer::from_ca_cert_der(ca_der, &signer)?;
    let cert = params.signed_by(key, &issuer)?;
    let Some(Signed {
        original,
        rewritten,
    }) = signer.signed.take()
    else {
        return Err(PkiError::Issue("rcgen signed nothing".into()));
    };
    let rewritten = rewritten.ok_or_else(|| {
        PkiError::Issue("a group's stand-in attribute does not occur exactly once".into())
    })?;
    let mut der = cert.der().to_vec();
    let at = find_once(&der, &original)
        .ok_or_else(|| PkiError::Issue("the signed bytes are not in the certificate".into()))?;
    der[at..at + rewritten.len()].copy_from_slice(&rewritten);
    Ok(der)
}

struct Signed {
    original: Vec<u8>,
    /// `None` when a stand-in did not occur exactly once.
    rewritten: Option<Vec<u8>>,
}

/// The CA key, signing to-be-signed bytes with their stand-ins turned into organizationName.
struct StandInSigner<'a> {
    key: &'a KeyPair,
    stand_ins: u8,
    signed: Cell<Option<Signed>>,
}

impl PublicKeyData for StandInSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.key.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.key.algorithm()
    }
}

impl SigningKey for StandInSigner<'_> {
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let mut rewritten = Some(tbs.to_vec());
        for n in 1..=self.stand_ins {
            rewritten = rewritten.and_then(|mut bytes| {
                let at = find_once(&bytes, &stand_in_der(n))?;
                bytes[at..at + ORGANIZATION.len()].copy_from_slice(&ORGANIZATION);
                Some(bytes)
            });
        }
        // When the rewrite failed, sign the original; the caller sees `None` and fails.
        let signature = self.key.sign(rewritten.as_deref().unwrap_or(tbs))?;
        self.signed.set(Some(Signed {
            original: tbs.to_vec(),
            rewritten,
        }));
        Ok(signature)
    }
}

/// Where `needle` starts in `haystack`, if it occurs exactly once.
fn find_once(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let mut at = haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i);
    match (at.next(), at.next()) {
        (Some(i), None) => Some(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_once_refuses_zero_or_two_occurrences() {
        assert_eq!(find_once(b"abcabc", b"ca"), Some(2));
        assert_eq!(find_once(b"abcabc", b"abc"), None);
        assert_eq!(find_once(b"abc", b"x"), None);
    }

    #[test]
    fn more_groups_than_a_certificate_carries_are_refused() {
        let groups: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
        let err = distinguished_name("u", &groups).expect_err("too many");
        assert!(err.to_string().contains("at most 128"), "{err}");
        assert!(distinguished_name("u", &groups[..MAX_GROUPS]).is_ok());
    }
}
