//! Manifest bytes through the API server's body decoder (`bosun_api::manifest`, JSON when the
//! first byte is even, YAML when odd), then what the server does with a decoded object without
//! I/O: find its resource, check its name and labels, print it as a Table, take its selectable
//! fields, and convert it between the two Event APIs. Nothing may panic.
#![no_main]

use bosun_api::{IncludeObject, LabelSelector, event_versions, manifest, names, resources};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let decoded = if mode % 2 == 0 {
        manifest::decode_json(body)
    } else {
        manifest::decode_yaml(body)
    };
    let Ok((obj, _duplicates)) = decoded else {
        return;
    };
    let text = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let api_version = text(&obj, "/apiVersion");
    let kind = text(&obj, "/kind");
    // The object as each resource would print it, its own resource first.
    let res = resources::find_kind(&api_version, &kind)
        .unwrap_or(&resources::all()[usize::from(mode / 2) % resources::all().len()]);
    let _ = names::name_rule(res)(&text(&obj, "/metadata/name"));
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            let _ = names::label_key(k);
            let _ = names::label_value(v.as_str().unwrap_or(""));
        }
    }
    let _ = bosun_api::table(
        res,
        std::slice::from_ref(&obj),
        std::time::SystemTime::now(),
        json!({}),
        IncludeObject::Object,
    );
    let _ = bosun_api::selector::field_set(res, &obj);
    if let Some(sel) = obj.pointer("/spec/selector") {
        let _ = LabelSelector::from_label_selector(sel);
    }
    let core = event_versions::events_v1_to_core(obj.clone());
    let _ = event_versions::core_to_events_v1(core);
    let _ = event_versions::core_to_events_v1(obj);
});
