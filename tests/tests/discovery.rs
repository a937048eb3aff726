//! Discovery as kubectl v1.32 does it: aggregated discovery (apidiscovery.k8s.io/v2) first, so a
//! fresh kubectl learns every resource from `/api` and `/apis` alone.

use bosun_e2e::{Kubectl, Up};

#[test]
fn kubectl_discovers_every_resource_from_two_aggregated_documents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "0"]);
    let k = Kubectl::new(up.kubeconfig());
    let out = k.run(&["api-resources", "-v=6"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let gets: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"Response\" verb=\"GET\""))
        .collect();
    assert_eq!(gets.len(), 2, "only /api and /apis: {gets:#?}");
    assert!(gets.iter().any(|l| l.contains("/api?")) && gets.iter().any(|l| l.contains("/apis?")));
    let listed = String::from_utf8_lossy(&out.stdout);
    for row in [
        "pods ",
        "deployments ",
        "horizontalpodautoscalers ",
        "endpointslices ",
        "leases ",
        "priorityclasses ",
    ] {
        assert!(listed.contains(row), "{row} in:\n{listed}");
    }
    // Short names come from the same documents.
    let out = k.run(&["get", "deploy,po,svc", "-A"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
