//! `bosun up` with the real kubectl: apply, get (tables, JSON, names), label, patch with each
//! type, scale, watch, delete, discovery, errors, authentication, and a restart that keeps every
//! object.

use bosun_e2e::{Proc, free_port};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Cluster {
    proc: Option<Proc>,
    dir: PathBuf,
    port: u16,
    cache: tempfile::TempDir,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Cluster {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let mut c = Cluster {
            proc: None,
            dir: dir.to_path_buf(),
            port,
            cache: tempfile::tempdir().expect("cache dir"),
        };
        c.boot();
        c
    }

    fn boot(&mut self) {
        let log = self.dir.join("up.log");
        let _ = std::fs::remove_file(&log);
        let args: Vec<String> = vec![
            "up".into(),
            "--data-dir".into(),
            self.dir.join("data").display().to_string(),
            "--port".into(),
            self.port.to_string(),
        ];
        let proc = Proc::start(&args, log);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !proc.log_text().contains("bosun is ready") {
            assert!(
                Instant::now() < deadline,
                "bosun up not ready:\n{}",
                proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.proc = Some(proc);
    }

    /// SIGTERM, wait for a clean exit.
    fn stop(&mut self) {
        let mut proc = self.proc.take().expect("running");
        let pid = proc.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = proc.child.try_wait() {
                assert!(
                    st.success(),
                    "bosun up exited with {st}:\n{}",
                    proc.log_text()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "bosun up did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(proc.log_text().contains("bosun stopped"));
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.join("data/kubeconfig")
    }

    fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args);
        cmd.env("HOME", self.cache.path()).current_dir(repo());
        cmd
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd(args)
            .output()
            .expect("run kubectl (v1.32 must be on PATH)")
    }

    /// Run kubectl, require success, return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run kubectl, require failure, return stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = args.to_vec();
        full.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&full)).expect("kubectl -o json prints JSON")
    }
}

#[test]
fn kubectl_manages_a_deployment_through_bosun_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Cluster::start(dir.path());

    let version = c.ok(&["version", "-o", "json"]);
    assert!(version.contains("serverVersion"), "{version}");
    let ns = c.ok(&["get", "namespaces"]);
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(name), "{ns}");
    }
    assert!(
        ns.contains("Active"),
        "namespaces print their status column: {ns}"
    );

    // Client-side apply, then apply of a change (a strategic merge patch).
    let out = c.ok(&["apply", "-f", "manifests/web-deployment.yaml"]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let d = c.json(&["get", "deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["metadata"]["generation"], 1);
    assert!(d["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert_eq!(
        d["spec"]["strategy"]["type"], "RollingUpdate",
        "defaulted like Kubernetes"
    );
    let table = c.ok(&["get", "deploy"]);
    assert!(
        table.contains("READY") && table.contains("UP-TO-DATE") && table.contains("web"),
        "{table}"
    );

    let changed = std::fs::read_to_string(repo().join("manifests/web-deployment.yaml"))
        .expect("manifest")
        .replace("busybox:1.36", "busybox:1.37");
    let changed_path = dir.path().join("web-changed.yaml");
    std::fs::write(&changed_path, changed).expect("write");
    let out = c.ok(&["apply", "-f", &changed_path.display().to_string()]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let d = c.json(&["get", "deployment", "web"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.37"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"], "GREETING",
        "merged by name"
    );
    assert_eq!(d["metadata"]["generation"], 2);

    // Labels, selectors, every patch type, scale.
    assert!(
        c.ok(&["label", "deployment", "web", "tier=front"])
            .contains("labeled")
    );
    assert_eq!(
        c.ok(&["get", "deploy", "-l", "tier=front", "-o", "name"])
            .trim(),
        "deployment.apps/web"
    );
    assert_eq!(
        c.ok(&["get", "deploy", "-l", "tier in (back)", "-o", "name"])
            .trim(),
        ""
    );
    assert!(
        c.ok(&["annotate", "deployment", "web", "note=hi"])
            .contains("annotated")
    );
    c.ok(&[
        "patch",
        "deployment",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"minReadySeconds":3}}"#,
    ]);
    c.ok(&[
        "patch",
        "deployment",
        "web",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":4}]"#,
    ]);
    c.ok(&["patch", "deployment", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"EXTRA","value":"1"}]}]}}}}"#]);
    c.ok(&["scale", "deployment", "web", "--replicas", "5"]);
    let d = c.json(&["get", "deployment", "web"]);
    assert_eq!(d["spec"]["minReadySeconds"], 3);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 4);
    assert_eq!(d["spec"]["replicas"], 5);
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        env.len(),
        3,
        "strategic merge kept GREETING and POD_IP and added EXTRA: {env:?}"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.labels.tier}"
        ]),
        "front"
    );

    // Bad input gets a clear answer and changes nothing.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      labels: {app: b}\n    spec:\n      containers: [{name: c, image: busybox}]\n",
    )
    .expect("write");
    let err = c.fails(&["apply", "-f", &bad.display().to_string()]);
    assert!(
        err.contains("is invalid") && err.contains("spec.template.metadata.labels"),
        "{err}"
    );
    assert!(c.fails(&["get", "deployment", "bad"]).contains("NotFound"));
    let err = c.fails(&["get", "pods", "-l", "a in (b"]);
    assert!(
        err.contains("BadRequest") || err.contains("unable to parse"),
        "{err}"
    );

    // Discovery.
    let resources = c.ok(&["api-resources"]);
    for line in [
        "deployments",
        "deploy",
        "apps/v1",
        "configmaps",
        "cronjobs",
        "leases",
        "priorityclasses",
    ] {
        assert!(
            resources.contains(line),
            "api-resources lacks {line}:\n{resources}"
        );
    }
    assert!(c.ok(&["get", "--raw", "/version"]).contains("gitVersion"));

    // ConfigMaps and Secrets from YAML with two documents.
    assert!(
        c.ok(&["apply", "-f", "manifests/config.yaml"])
            .contains("configmap/web-config created")
    );
    assert_eq!(
        c.ok(&["get", "cm", "web-config", "-o", "jsonpath={.data.greeting}"]),
        "hello"
    );

    // Delete.
    assert!(c.ok(&["delete", "deployment", "web"]).contains("deleted"));
    let err = c.fails(&["get", "deployment", "web"]);
    assert!(
        err.contains("NotFound") && err.contains("deployments.apps \"web\" not found"),
        "{err}"
    );
}

#[test]
fn typed_kubectl_create_server_side_apply_and_describe_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Cluster::start(dir.path());
    // These send protobuf bodies.
    assert!(
        c.ok(&["create", "namespace", "team-b"])
            .contains("namespace/team-b created")
    );
    assert!(
        c.ok(&[
            "create",
            "configmap",
            "c1",
            "--from-literal=a=b",
            "-n",
            "team-b"
        ])
        .contains("configmap/c1 created")
    );
    assert!(
        c.ok(&[
            "create",
            "secret",
            "generic",
            "s1",
            "--from-literal=p=q",
            "-n",
            "team-b"
        ])
        .contains("secret/s1 created")
    );
    assert!(
        c.ok(&[
            "create",
            "deployment",
            "d1",
            "--image=busybox",
            "--replicas=2",
            "-n",
            "team-b"
        ])
        .contains("deployment.apps/d1 created")
    );
    assert!(
        c.ok(&[
            "create",
            "job",
            "j1",
            "--image=busybox",
            "-n",
            "team-b",
            "--",
            "echo",
            "hi"
        ])
        .contains("job.batch/j1 created")
    );
    assert_eq!(
        c.ok(&[
            "get",
            "secret",
            "s1",
            "-n",
            "team-b",
            "-o",
            "jsonpath={.data.p}"
        ]),
        "cQ=="
    );
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "d1",
            "-n",
            "team-b",
            "-o",
            "jsonpath={.spec.strategy.type}"
        ]),
        "RollingUpdate"
    );
    let all = c.ok(&["get", "all", "-n", "team-b"]);
    assert!(
        all.contains("deployment.apps/d1") && all.contains("job.batch/j1"),
        "{all}"
    );
    let wide = c.ok(&["get", "deploy", "d1", "-n", "team-b", "-o", "wide"]);
    assert!(
        wide.contains("SELECTOR") && wide.contains("app=d1"),
        "{wide}"
    );
    let ssa = c.ok(&[
        "apply",
        "--server-side",
        "-n",
        "team-b",
        "-f",
        "manifests/config.yaml",
    ]);
    assert!(
        ssa.contains("configmap/web-config serverside-applied"),
        "{ssa}"
    );
    let described = c.ok(&["describe", "deployment", "d1", "-n", "team-b"]);
    assert!(
        described.contains("Replicas:") && described.contains("2 desired"),
        "{described}"
    );
}

#[test]
fn requests_without_credentials_reach_only_health_and_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Cluster::start(dir.path());
    let ca = dir.path().join("data/pki/ca.crt");
    let server = format!("https://127.0.0.1:{}", c.port);
    // kubectl prompts for a password when it has no credentials, so curl speaks for an
    // anonymous client here.
    let curl = |path: &str, token: Option<&str>| {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--cacert",
            &ca.display().to_string(),
        ]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd.arg(format!("{server}{path}")).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text
            .rsplit_once('\n')
            .map(|(b, c)| (b.to_string(), c.trim().to_string()))
            .unwrap_or_default();
        (code, body)
    };
    assert_eq!(curl("/version", None).0, "200");
    assert_eq!(curl("/livez", None).0, "200");
    let (code, body) = curl("/api/v1/namespaces", None);
    assert_eq!(code, "401");
    assert!(body.contains("\"reason\":\"Unauthorized\""), "{body}");
    assert_eq!(curl("/api/v1/namespaces", Some("not-a-token")).0, "401");
    assert_eq!(
        curl("/version", Some("not-a-token")).0,
        "401",
        "a wrong token is refused everywhere"
    );
    // The admin token from the kubeconfig works.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.kubeconfig()).expect("kubeconfig"))
            .expect("json");
    let token = config["users"][0]["user"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(curl("/api/v1/namespaces", Some(&token)).0, "200");
}

#[test]
fn kubectl_get_watch_sees_changes_as_they_happen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Cluster::start(dir.path());
    c.ok(&["create", "-f", "manifests/config.yaml"]);
    let mut watch = c
        .kubectl_cmd(&["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl get -w");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(want) => return,
                Ok(_) => continue,
                Err(_) => panic!("kubectl get -w never printed a line with {want:?}"),
            }
        }
    };
    wait_for("web-config");
    let patched = c.ok(&[
        "patch",
        "cm",
        "web-config",
        "-p",
        r#"{"data":{"greeting":"hi"}}"#,
    ]);
    assert!(patched.contains("patched"));
    wait_for("MODIFIED");
    c.ok(&["delete", "cm", "web-config"]);
    wait_for("DELETED");
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn bosun_up_comes_back_with_every_object_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Cluster::start(dir.path());
    let ns = dir.path().join("ns.yaml");
    std::fs::write(
        &ns,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
    )
    .expect("write");
    c.ok(&["apply", "-f", &ns.display().to_string()]);
    c.ok(&["apply", "-n", "team-a", "-f", "manifests/config.yaml"]);
    c.stop();
    c.boot();
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "web-config",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.log-level}"
        ]),
        "info"
    );
    assert!(c.ok(&["get", "ns"]).contains("team-a"));
}

#[test]
fn bosun_up_on_a_busy_port_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port().to_string();
    let out = Command::new(bosun_e2e::bosun_bin())
        .args([
            "up",
            "--data-dir",
            &dir.path().display().to_string(),
            "--port",
            &port,
        ])
        .output()
        .expect("run bosun up");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(&format!("127.0.0.1:{port}")) && lines[0].contains("in use"),
        "{stderr}"
    );
}

/// A Deployment manifest of `replicas` with one container of `image`, and optionally an
/// extra line under `spec`.
fn deployment_yaml(name: &str, replicas: u32, image: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\nspec:\n  replicas: {replicas}\n{extra_spec}  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    )
}

#[test]
fn kubectl_explains_kinds_and_the_server_validates_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Cluster::start(dir.path());

    // kubectl explain reads the OpenAPI v3 documents: fields with their descriptions.
    let explained = c.ok(&["explain", "deployment.spec.strategy"]);
    assert!(
        explained.contains("rollingUpdate")
            && explained.contains("<RollingUpdateDeployment>")
            && explained.contains("Type of deployment"),
        "{explained}"
    );
    let recursive = c.ok(&["explain", "pods", "--recursive"]);
    assert!(
        recursive.contains("containers") && recursive.contains("livenessProbe"),
        "{recursive}"
    );

    // Default apply (validate=strict) sends fieldValidation=Strict: an unknown field is the
    // server's 400, and nothing is created.
    let bad = dir.path().join("unknown-field.yaml");
    std::fs::write(&bad, deployment_yaml("strict", 1, "busybox", "  foo: 1\n")).expect("write");
    let err = c.fails(&["apply", "-f", &bad.display().to_string()]);
    assert!(
        err.contains("strict decoding error") && err.contains("unknown field \"spec.foo\""),
        "{err}"
    );
    assert!(c.fails(&["get", "deploy", "strict"]).contains("NotFound"));
    let err = c.fails(&["apply", "--validate=true", "-f", &bad.display().to_string()]);
    assert!(err.contains("unknown field \"spec.foo\""), "{err}");
    // Warn: created without the field, and kubectl prints the server's warning.
    let out = c.kubectl(&["apply", "--validate=warn", "-f", &bad.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Warning: unknown field \"spec.foo\""),
        "{stderr}"
    );
    let d = c.json(&["get", "deploy", "strict"]);
    assert!(d["spec"].get("foo").is_none(), "{d}");
    // A good manifest still applies under the default.
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, deployment_yaml("good", 1, "busybox", "")).expect("write");
    assert!(
        c.ok(&["apply", "-f", &good.display().to_string()])
            .contains("deployment.apps/good created")
    );
}

#[test]
fn server_side_apply_tracks_field_managers_and_conflicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Cluster::start(dir.path());
    let path = dir.path().join("ssa.yaml");
    let path_s = path.display().to_string();

    std::fs::write(&path, deployment_yaml("ssa", 1, "busybox:1.36", "")).expect("write");
    assert!(
        c.ok(&["apply", "--server-side", "-f", &path_s])
            .contains("deployment.apps/ssa serverside-applied")
    );
    // A second apply with a changed field.
    std::fs::write(&path, deployment_yaml("ssa", 1, "busybox:1.37", "")).expect("write");
    c.ok(&["apply", "--server-side", "-f", &path_s]);
    let d = c.json(&["get", "deploy", "ssa", "--show-managed-fields"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.37"
    );
    let managed = d["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let apply = managed
        .iter()
        .find(|m| m["manager"] == "kubectl" && m["operation"] == "Apply")
        .unwrap_or_else(|| panic!("no kubectl Apply entry: {managed:?}"));
    assert!(
        apply["fieldsV1"]["f:spec"]["f:replicas"].is_object(),
        "{apply}"
    );
    assert!(
        !c.ok(&["get", "deploy", "ssa", "-o", "yaml"])
            .contains("managedFields"),
        "kubectl hides managed fields unless asked"
    );
    let shown = c.ok(&[
        "get",
        "deploy",
        "ssa",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    assert!(
        shown.contains("managedFields") && shown.contains("manager: kubectl"),
        "{shown}"
    );

    // kubectl scale takes .spec.replicas; re-applying replicas: 1 now conflicts.
    c.ok(&["scale", "deployment", "ssa", "--replicas", "3"]);
    let err = c.fails(&["apply", "--server-side", "-f", &path_s]);
    assert!(
        err.contains("Apply failed with 1 conflict") && err.contains(".spec.replicas"),
        "{err}"
    );
    assert_eq!(
        c.ok(&["get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    c.ok(&["apply", "--server-side", "--force-conflicts", "-f", &path_s]);
    assert_eq!(
        c.ok(&["get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}"]),
        "1"
    );

    // A field the manager stops applying is removed.
    let without_label = deployment_yaml("ssa", 1, "busybox:1.37", "")
        .replace("  labels:\n    app: ssa\nspec", "spec");
    std::fs::write(&path, without_label).expect("write");
    c.ok(&["apply", "--server-side", "-f", &path_s]);
    let d = c.json(&["get", "deploy", "ssa"]);
    assert!(
        d["metadata"]
            .get("labels")
            .is_none_or(|l| l.get("app").is_none()),
        "{d}"
    );
}
