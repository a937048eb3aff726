//! Label and field selector strings, as `?labelSelector=` and `?fieldSelector=` bring them. A
//! selector that parses prints as a selector that parses to the same thing, and matches
//! objects without panicking.
#![no_main]

use bosun_api::{FieldSelector, LabelSelector, resources};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(sel) = LabelSelector::parse(text) {
        let printed = sel.to_string();
        let again = LabelSelector::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(
            again.to_string(),
            printed,
            "printing is not stable for {text:?}"
        );
        let labels = BTreeMap::from([
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), String::new()),
        ]);
        let _ = sel.matches(&labels);
        let _ = sel.is_empty();
    }
    let obj = json!({"metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": "n1"}, "status": {"phase": "Running"},
        "involvedObject": {"kind": "Pod", "name": "web"}, "type": "Normal"});
    for (group, plural) in [
        ("", "pods"),
        ("", "events"),
        ("events.k8s.io", "events"),
        ("apps", "deployments"),
    ] {
        let Some(res) = resources::find(group, "v1", plural) else {
            continue;
        };
        if let Ok(sel) = FieldSelector::parse(text, res) {
            let _ = sel.matches(&obj);
            let _ = sel.matches_set(&bosun_api::selector::field_set(res, &obj));
            let _ = sel.single_name();
        }
    }
});
