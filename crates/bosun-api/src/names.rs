//! Name rules with upstream's messages (k8s.io/apimachinery/pkg/util/validation at v0.33):
//! RFC 1123 labels and subdomains, RFC 1035 labels, label keys and values, and which rule each
//! resource's `metadata.name` follows.
//!
//! Every function returns the problems found, empty when the value is valid, worded exactly as
//! upstream so they can be put into a [`crate::Cause`] as they are.

use crate::resources::ResourceInfo;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// The longest RFC 1123 / RFC 1035 label.
pub const DNS_LABEL_MAX_LENGTH: usize = 63;
/// The longest RFC 1123 subdomain.
pub const DNS_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// The longest label value, and the longest name part of a label key.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// The longest CronJob name: its Jobs append an 11-character suffix and must stay labels.
pub const CRONJOB_NAME_MAX_LENGTH: usize = 52;

/// Upstream's `MaxLenError`.
fn max_len_error(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// Upstream's `RegexError`: the message, examples and the regex.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            edge(first) && edge(last) && b.iter().all(|&c| edge(c) || c == b'-')
        }
        _ => false,
    }
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`
fn is_dns1035(s: &str) -> bool {
    is_label(s) && s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

fn is_subdomain(s: &str) -> bool {
    s.split('.').all(is_label)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// An RFC 1123 label (namespace names): at most 63 characters of `[a-z0-9-]`, alphanumeric at
/// both ends.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > DNS_LABEL_MAX_LENGTH {
        out.push(max_len_error(DNS_LABEL_MAX_LENGTH));
    }
    if !is_label(value) {
        if is_subdomain(value) {
            out.push("must not contain dots".to_string());
        } else {
            out.push(regex_error(
                DNS1123_LABEL_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    out
}

/// An RFC 1123 subdomain (most object names): at most 253 characters, dot-separated labels.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > DNS_SUBDOMAIN_MAX_LENGTH {
        out.push(max_len_error(DNS_SUBDOMAIN_MAX_LENGTH));
    }
    if !is_subdomain(value) {
        out.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    out
}

/// An RFC 1035 label (service names): like an RFC 1123 label but starting with a letter.
pub fn dns1035_label(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > DNS_LABEL_MAX_LENGTH {
        out.push(max_len_error(DNS_LABEL_MAX_LENGTH));
    }
    if !is_dns1035(value) {
        out.push(regex_error(
            DNS1035_LABEL_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    out
}

/// A label or annotation key: `[prefix/]name`, the prefix a subdomain, the name at most 63
/// characters (upstream's `IsQualifiedName`).
pub fn label_key(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                out.push("prefix part must be non-empty".to_string());
            } else {
                out.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            out.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return out;
        }
    };
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else if name.len() > LABEL_VALUE_MAX_LENGTH {
        out.push(format!(
            "name part {}",
            max_len_error(LABEL_VALUE_MAX_LENGTH)
        ));
    }
    if !is_qualified_part(name) {
        out.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    out
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9-_.]`, alphanumeric at both
/// ends.
pub fn label_value(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        out.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !is_qualified_part(value) {
        out.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    out
}

/// A CronJob name: a subdomain of at most 52 characters, so its Jobs' names stay valid.
fn cronjob_name(value: &str) -> Vec<String> {
    let mut out = dns1123_subdomain(value);
    if value.len() > CRONJOB_NAME_MAX_LENGTH {
        out.push(max_len_error(CRONJOB_NAME_MAX_LENGTH));
    }
    out
}

/// The rule `metadata.name` of `res` follows, as upstream's validation picks it: RFC 1123 labels
/// for namespaces, RFC 1035 labels for services, subdomains of at most 52 characters for
/// cronjobs, RFC 1123 subdomains for everything else.
pub fn name_rule(res: &ResourceInfo) -> fn(&str) -> Vec<String> {
    match (res.group, res.plural) {
        ("", "namespaces") => dns1123_label,
        ("", "services") => dns1035_label,
        ("batch", "cronjobs") => cronjob_name,
        _ => dns1123_subdomain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{all, find};

    const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    #[test]
    fn labels_accept_lowercase_alphanumerics_and_inner_dashes() {
        for ok in ["a", "0", "web-1", "123-abc", "a--b", &"a".repeat(63)] {
            assert!(dns1123_label(ok).is_empty(), "{ok}");
        }
    }

    #[test]
    fn labels_refuse_with_upstream_messages() {
        for bad in ["", "Web", "-a", "a-", "a_b", "a b", "ü"] {
            assert_eq!(dns1123_label(bad), [LABEL_MSG], "{bad:?}");
        }
        assert_eq!(dns1123_label("a.b"), ["must not contain dots"]);
        assert_eq!(
            dns1123_label(&"a".repeat(64)),
            ["must be no more than 63 characters"]
        );
        assert_eq!(
            dns1123_label(&format!("-{}", "a".repeat(63))),
            ["must be no more than 63 characters", LABEL_MSG]
        );
    }

    #[test]
    fn subdomains_accept_dotted_labels() {
        for ok in ["a", "a.b-c.d", "example.com", "0.1", &"a".repeat(253)] {
            assert!(dns1123_subdomain(ok).is_empty(), "{ok}");
        }
    }

    #[test]
    fn subdomains_refuse_with_upstream_messages() {
        for bad in ["", "a..b", ".a", "a.", "A.b", "a_b", "a.-b"] {
            assert_eq!(dns1123_subdomain(bad), [SUBDOMAIN_MSG], "{bad:?}");
        }
        assert_eq!(
            dns1123_subdomain(&"a".repeat(254)),
            ["must be no more than 253 characters"]
        );
    }

    #[test]
    fn dns1035_labels_start_with_a_letter() {
        assert!(dns1035_label("web-1").is_empty());
        assert_eq!(dns1035_label("1web"), [DNS1035_MSG]);
        assert_eq!(dns1035_label("a.b"), [DNS1035_MSG]);
        assert_eq!(
            dns1035_label(&"a".repeat(64)),
            ["must be no more than 63 characters"]
        );
    }

    #[test]
    fn label_keys_with_and_without_prefix() {
        for ok in [
            "app",
            "app.kubernetes.io/name",
            "Tier_1.x",
            "kubernetes.io/role",
            &"a".repeat(63),
        ] {
            assert!(label_key(ok).is_empty(), "{ok}");
        }
        assert_eq!(label_key("bad key"), [NAME_PART_MSG]);
        assert_eq!(label_key("-x"), [NAME_PART_MSG]);
        assert_eq!(
            label_key(""),
            ["name part must be non-empty", NAME_PART_MSG]
        );
        assert_eq!(
            label_key("example.com/"),
            ["name part must be non-empty", NAME_PART_MSG]
        );
        assert_eq!(label_key("/x"), ["prefix part must be non-empty"]);
        assert_eq!(
            label_key("Bad_Prefix/x"),
            [format!("prefix part {SUBDOMAIN_MSG}")]
        );
        assert_eq!(
            label_key(&"a".repeat(64)),
            ["name part must be no more than 63 characters"]
        );
        assert_eq!(
            label_key("a/b/c"),
            [
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        );
    }

    #[test]
    fn label_values_may_be_empty() {
        for ok in ["", "v1.2_x", "MyValue", "12345", &"a".repeat(63)] {
            assert!(label_value(ok).is_empty(), "{ok}");
        }
        for bad in ["-x", "x-", "a b", "a/b", "_"] {
            assert_eq!(label_value(bad), [VALUE_MSG], "{bad:?}");
        }
        assert_eq!(
            label_value(&"a".repeat(64)),
            ["must be no more than 63 characters"]
        );
    }

    #[test]
    fn each_resource_uses_upstreams_name_rule() {
        let rule = |group: &str, version: &str, plural: &str| {
            name_rule(find(group, version, plural).expect("resource"))
        };
        assert_eq!(
            rule("", "v1", "namespaces")("a.b"),
            ["must not contain dots"]
        );
        assert_eq!(rule("", "v1", "services")("1web"), [DNS1035_MSG]);
        assert!(rule("", "v1", "services")("web").is_empty());
        assert!(rule("", "v1", "pods")("web.1").is_empty());
        assert!(rule("apps", "v1", "deployments")("web.v2").is_empty());
        assert!(rule("batch", "v1", "cronjobs")(&"a".repeat(52)).is_empty());
        assert_eq!(
            rule("batch", "v1", "cronjobs")(&"a".repeat(53)),
            ["must be no more than 52 characters"]
        );
        for r in all() {
            assert!(name_rule(r)("web").is_empty(), "{}", r.plural);
            assert!(!name_rule(r)("Web").is_empty(), "{}", r.plural);
            assert!(!name_rule(r)("").is_empty(), "{}", r.plural);
        }
    }
}
