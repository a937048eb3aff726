"""The official Kubernetes Python client against `bosun up`: CRUD, selectors, patches, and a
watch resumed after its resource version expired (410)."""

import os
import socket
import subprocess
import tempfile
import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def bosun_bin():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    path = os.environ.get("BOSUN_BIN", os.path.join(target, "debug", "bosun"))
    assert os.path.exists(path), f"{path} is missing: run `cargo build -p bosun` first (./scripts/test does)"
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api():
    data = tempfile.mkdtemp(prefix="bosun-py-")
    log = open(os.path.join(data, "up.log"), "w+")
    # Compact every second, so old resource versions expire within the test.
    proc = subprocess.Popen(
        [bosun_bin(), "up", "--data-dir", os.path.join(data, "d"), "--port", str(free_port()), "--compaction-interval-s", "1"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 30
    while True:
        log.seek(0)
        if "bosun is ready" in log.read():
            break
        assert time.time() < deadline and proc.poll() is None, "bosun up did not become ready"
        time.sleep(0.05)
    config.load_kube_config(config_file=os.path.join(data, "d", "kubeconfig"))
    yield client.ApiClient()
    proc.terminate()
    proc.wait(timeout=20)


def test_configmap_crud_with_selectors_and_patches(api):
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py")))
    for i, tier in enumerate(["front", "back", "front"]):
        core.create_namespaced_config_map(
            "py", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"cm{i}", labels={"tier": tier}), data={"i": str(i)})
        )
    names = [c.metadata.name for c in core.list_namespaced_config_map("py", label_selector="tier=front").items]
    assert names == ["cm0", "cm2"]
    names = [c.metadata.name for c in core.list_namespaced_config_map("py", label_selector="tier notin (front)").items]
    assert names == ["cm1"]
    names = [c.metadata.name for c in core.list_namespaced_config_map("py", field_selector="metadata.name=cm1").items]
    assert names == ["cm1"]

    got = core.read_namespaced_config_map("cm0", "py")
    assert got.data == {"i": "0"} and got.metadata.uid and got.metadata.resource_version
    # A dict body is a strategic merge patch; a list body a JSON patch.
    core.patch_namespaced_config_map("cm0", "py", {"data": {"extra": "yes"}})
    core.patch_namespaced_config_map("cm0", "py", [{"op": "replace", "path": "/data/i", "value": "zero"}])
    got = core.read_namespaced_config_map("cm0", "py")
    assert got.data == {"i": "zero", "extra": "yes"}
    got.data["i"] = "replaced"
    core.replace_namespaced_config_map("cm0", "py", got)
    assert core.read_namespaced_config_map("cm0", "py").data["i"] == "replaced"

    with pytest.raises(ApiException) as stale:
        got.data["i"] = "stale"
        core.replace_namespaced_config_map("cm0", "py", got)
    assert stale.value.status == 409

    core.delete_namespaced_config_map("cm1", "py")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("cm1", "py")
    assert missing.value.status == 404


def test_deployment_create_scale_and_invalid(api):
    apps = client.AppsV1Api(api)
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "busybox"}]}},
        },
    }
    apps.create_namespaced_deployment("default", body)
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 4
    assert apps.read_namespaced_deployment_scale("web", "default").status.selector == "app=web"
    body["metadata"]["name"] = "bad"
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as invalid:
        apps.create_namespaced_deployment("default", body)
    assert invalid.value.status == 422
    assert "spec.template.metadata.labels" in invalid.value.body


def test_watch_resumes_after_its_resource_version_expired(api):
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="w")))
    first = core.create_namespaced_config_map("w", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a")))
    old_rv = first.metadata.resource_version
    for i in range(3):
        core.patch_namespaced_config_map("a", "w", {"data": {"n": str(i)}})
    time.sleep(3)  # two compaction ticks: old_rv is now below the compaction point

    w = watch.Watch()
    with pytest.raises(ApiException) as expired:
        for _ in w.stream(core.list_namespaced_config_map, "w", resource_version=old_rv, timeout_seconds=5):
            pass
    assert expired.value.status == 410

    # Recover as the client documents: list for a fresh resource version, watch from it.
    listed = core.list_namespaced_config_map("w")
    rv = listed.metadata.resource_version
    core.create_namespaced_config_map("w", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="b")))
    seen = []
    for event in watch.Watch().stream(core.list_namespaced_config_map, "w", resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if ("ADDED", "b") in seen:
            break
    assert ("ADDED", "b") in seen
