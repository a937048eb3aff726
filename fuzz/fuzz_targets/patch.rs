//! The three patch formats on arbitrary documents. The input is a selector byte, then a target
//! document and a patch (JSON) separated by a NUL byte. A patch either applies or fails with
//! the target left as it was (bosun-patch's promise); nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Kinds whose strategic-merge schema differs (merge keys, retainKeys, primitive lists).
const KINDS: &[(&str, &str)] = &[
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("example.com/v1", "Unknown"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some(split) = rest.iter().position(|b| *b == 0) else {
        return;
    };
    let (Ok(target), Ok(patch)) = (
        serde_json::from_slice::<Value>(&rest[..split]),
        serde_json::from_slice::<Value>(&rest[split + 1..]),
    ) else {
        return;
    };
    let mut patched = target.clone();
    let result = match mode % 3 {
        0 => bosun_patch::merge_patch(&mut patched, &patch),
        1 => bosun_patch::json_patch(&mut patched, &patch),
        _ => {
            let (api_version, kind) = KINDS[usize::from(mode / 3) % KINDS.len()];
            bosun_patch::strategic_merge_patch(&mut patched, &patch, api_version, kind)
        }
    };
    if result.is_err() {
        assert_eq!(patched, target, "a failed patch changed the target");
    }
});
