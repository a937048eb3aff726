//! Which element of a merging list a patch element names, and the order of the merged list.
//!
//! The order follows upstream's rules (the "preserve order in strategic merge patch" design):
//! the elements the patch names come in the order of `$setElementOrder/<field>`, or of the
//! patch's own list when there is none; the elements only the server has keep their order
//! from the live list and are slotted in among the patched ones where the live list had them.
//! A new element the live list lacks goes before the server-only elements that are still
//! waiting for their slot, so a patch without `$setElementOrder` that adds an element puts it
//! ahead of the live elements that follow the last patched one, as upstream does.

use serde_json::Value;

/// How the elements of one merging list are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    /// Primitives, by value.
    Value,
    /// Objects, by the value of the merge key; and by the protocol (absent meaning TCP) when
    /// `protocol` is set, so that 53/UDP and 53/TCP are two ports.
    Key { key: &'static str, protocol: bool },
}

/// The protocol of a port, as given.
fn explicit_protocol(v: &Value) -> Option<&str> {
    v.get("protocol").and_then(Value::as_str)
}

/// The protocol of a port, TCP when absent (the API's default).
fn protocol(v: &Value) -> &str {
    explicit_protocol(v).unwrap_or("TCP")
}

impl Identity {
    fn same_key(key: &str, a: &Value, b: &Value) -> bool {
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => !x.is_null() && x == y,
            _ => false,
        }
    }

    /// Whether `entry` — a patch element, a deletion or a `$setElementOrder` entry — names
    /// `element`. An entry that does not give a protocol names a port of any protocol.
    pub(crate) fn names(self, entry: &Value, element: &Value) -> bool {
        match self {
            Identity::Value => entry == element,
            Identity::Key {
                key,
                protocol: by_protocol,
            } => {
                Self::same_key(key, entry, element)
                    && (!by_protocol
                        || explicit_protocol(entry).is_none_or(|p| p == protocol(element)))
            }
        }
    }

    /// Whether two live elements are the same element.
    fn same(self, a: &Value, b: &Value) -> bool {
        match self {
            Identity::Value => a == b,
            Identity::Key {
                key,
                protocol: by_protocol,
            } => Self::same_key(key, a, b) && (!by_protocol || protocol(a) == protocol(b)),
        }
    }

    /// The index of the element of `list` that the patch element `entry` merges into: the
    /// first with the same key (and protocol, TCP when the entry gives none); failing that, for
    /// an entry that gives no protocol, the first with the same key.
    pub(crate) fn find(self, list: &[Value], entry: &Value) -> Option<usize> {
        match self {
            Identity::Key {
                key,
                protocol: true,
            } => list
                .iter()
                .position(|e| Self::same_key(key, entry, e) && protocol(entry) == protocol(e))
                .or_else(|| {
                    explicit_protocol(entry)
                        .is_none()
                        .then(|| list.iter().position(|e| Self::same_key(key, entry, e)))
                        .flatten()
                }),
            _ => list.iter().position(|e| self.names(entry, e)),
        }
    }
}

/// Orders `merged` (the merged list) after upstream's rules: the elements that `order` names
/// come first-class in `order`'s order, the others keep their order in `live` (the list before
/// the patch) and are slotted in among them.
pub(crate) fn normalize(
    merged: Vec<Value>,
    order: &[&Value],
    live: &[Value],
    id: Identity,
) -> Vec<Value> {
    let rank_in_order = |v: &Value| order.iter().position(|entry| id.names(entry, v));
    let rank_in_live = |v: &Value| live.iter().position(|l| id.same(l, v));

    let (mut patched, mut server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|v| rank_in_order(v).is_some());
    patched.sort_by_key(|v| rank_in_order(v).unwrap_or(usize::MAX));
    server_only.sort_by_key(|v| rank_in_live(v).unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(patched.len() + server_only.len());
    let mut patched = patched.into_iter().peekable();
    let mut server_only = server_only.into_iter().peekable();
    loop {
        let take_server_only = match (server_only.peek(), patched.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            // A server-only element goes first only when the live list had both and had it
            // first.
            (Some(s), Some(p)) => match (rank_in_live(s), rank_in_live(p)) {
                (Some(i), Some(j)) => i < j,
                _ => false,
            },
        };
        let next = if take_server_only {
            server_only.next()
        } else {
            patched.next()
        };
        out.extend(next);
    }
    out
}

/// Whether the patch's elements appear in `order` (a `$setElementOrder` list) and in the same
/// relative order, as upstream requires.
pub(crate) fn agrees(patched: &[&Value], order: &[&Value], id: Identity) -> bool {
    let mut entries = order.iter();
    patched
        .iter()
        .all(|p| entries.any(|entry| id.names(entry, p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAME: Identity = Identity::Key {
        key: "name",
        protocol: false,
    };
    const PORT: Identity = Identity::Key {
        key: "containerPort",
        protocol: true,
    };

    fn names(list: &[Value]) -> Vec<Value> {
        list.iter().map(|v| v["name"].clone()).collect()
    }

    fn by_name(names: &[i64]) -> Vec<Value> {
        names.iter().map(|n| json!({"name": n})).collect()
    }

    #[test]
    fn server_only_elements_keep_their_live_slots() {
        // Upstream's "set elements order in a list with server-only items 3".
        let live = by_name(&[1, 2, 7, 9, 8, 3, 4]);
        let order = by_name(&[2, 1, 4, 3]);
        let order: Vec<&Value> = order.iter().collect();
        let out = normalize(live.clone(), &order, &live, NAME);
        let expected: Vec<Value> = [2, 1, 7, 9, 8, 4, 3].into_iter().map(Value::from).collect();
        assert_eq!(names(&out), expected);
    }

    #[test]
    fn patched_elements_follow_the_patch_and_new_ones_come_before_later_live_ones() {
        let live = by_name(&[1, 2, 3]);
        // Patch names 3 then 1: 2 (server-only) stays ahead of 3 as it was live.
        let patch = by_name(&[3, 1]);
        let patch: Vec<&Value> = patch.iter().collect();
        let out = normalize(live.clone(), &patch, &live, NAME);
        assert_eq!(names(&out), vec![json!(2), json!(3), json!(1)]);
        // A new element the live list lacks goes before the server-only ones.
        let mut merged = live.clone();
        merged.push(json!({"name": 4}));
        let patch = by_name(&[4]);
        let patch: Vec<&Value> = patch.iter().collect();
        let out = normalize(merged, &patch, &live, NAME);
        assert_eq!(names(&out), vec![json!(4), json!(1), json!(2), json!(3)]);
    }

    #[test]
    fn primitives_are_ordered_by_value() {
        let live = vec![json!("a"), json!("b")];
        let merged = vec![json!("a"), json!("b"), json!("c")];
        let patch = [json!("c"), json!("a")];
        let patch: Vec<&Value> = patch.iter().collect();
        let out = normalize(merged, &patch, &live, Identity::Value);
        // c is new so it leads; b was live after a, so it stays after a.
        assert_eq!(out, vec![json!("c"), json!("a"), json!("b")]);
    }

    #[test]
    fn ports_are_told_apart_by_protocol() {
        let live = vec![
            json!({"containerPort": 53, "protocol": "UDP"}),
            json!({"containerPort": 53}),
        ];
        // Without a protocol a patch element means TCP first...
        assert_eq!(PORT.find(&live, &json!({"containerPort": 53})), Some(1));
        assert_eq!(
            PORT.find(&live, &json!({"containerPort": 53, "protocol": "UDP"})),
            Some(0)
        );
        // ...then any protocol.
        assert_eq!(
            PORT.find(&live[..1], &json!({"containerPort": 53})),
            Some(0)
        );
        // A named protocol that is not there is a new port.
        assert_eq!(
            PORT.find(&live[..1], &json!({"containerPort": 53, "protocol": "TCP"})),
            None
        );
        assert_eq!(PORT.find(&live, &json!({"containerPort": 80})), None);
        assert!(PORT.names(&json!({"containerPort": 53}), &live[0]));
        assert!(!PORT.names(&json!({"containerPort": 53, "protocol": "TCP"}), &live[0]));
    }

    #[test]
    fn a_patch_agrees_with_an_order_that_names_its_elements_in_turn() {
        let order = by_name(&[1, 2, 3]);
        let order: Vec<&Value> = order.iter().collect();
        let ok = by_name(&[1, 3]);
        let bad = by_name(&[3, 1]);
        let missing = by_name(&[4]);
        fn refs(v: &[Value]) -> Vec<&Value> {
            v.iter().collect()
        }
        assert!(agrees(&refs(&ok), &order, NAME));
        assert!(!agrees(&refs(&bad), &order, NAME));
        assert!(!agrees(&refs(&missing), &order, NAME));
        assert!(agrees(&[], &order, NAME));
    }
}
