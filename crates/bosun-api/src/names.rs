//! Name rules, with upstream's messages: RFC 1123 labels and subdomains, label keys and values.

use crate::resources::ResourceInfo;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QUALIFIED_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn too_long(max: usize) -> String {
    format!("must be no more than {max} characters")
}

pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > 63 {
        out.push(too_long(63));
    }
    if !is_label(value) {
        out.push(LABEL_MSG.to_string());
    }
    out
}

pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > 253 {
        out.push(too_long(253));
    }
    if value.is_empty() || !value.split('.').all(is_label) {
        out.push(SUBDOMAIN_MSG.to_string());
    }
    out
}

fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A label or annotation key: `[prefix/]name`.
pub fn label_key(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        out.extend(
            dns1123_subdomain(p)
                .into_iter()
                .map(|m| format!("prefix part {m}")),
        );
    }
    if name.len() > 63 {
        out.push(format!("name part {}", too_long(63)));
    }
    if !is_qualified_part(name) {
        out.push(QUALIFIED_MSG.to_string());
    }
    out
}

pub fn label_value(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > 63 {
        out.push(too_long(63));
    }
    if !value.is_empty() && !is_qualified_part(value) {
        out.push(VALUE_MSG.to_string());
    }
    out
}

/// The name rule of a resource: labels for namespaces and services, subdomains otherwise.
pub fn name_rule(res: &ResourceInfo) -> fn(&str) -> Vec<String> {
    match (res.group, res.plural) {
        ("", "namespaces" | "services") => dns1123_label,
        _ => dns1123_subdomain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(dns1123_label("web-1").is_empty());
        assert!(!dns1123_label("Web").is_empty());
        assert!(!dns1123_label("-a").is_empty());
        assert!(!dns1123_label(&"a".repeat(64)).is_empty());
        assert!(dns1123_subdomain("a.b-c.d").is_empty());
        assert!(!dns1123_subdomain("a..b").is_empty());
        assert!(!dns1123_subdomain("").is_empty());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(label_key("app.kubernetes.io/name").is_empty());
        assert!(label_key("tier").is_empty());
        assert!(!label_key("bad key").is_empty());
        assert!(!label_key("Bad_Prefix/x").is_empty());
        assert!(label_value("").is_empty());
        assert!(label_value("v1.2_x").is_empty());
        assert!(!label_value("-x").is_empty());
    }
}
