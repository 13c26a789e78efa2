"""The generated overlays build with the real Kustomize (`kubectl kustomize`, Kustomize v5)
and set every container's image to the version the spec pins.

The bases in examples/quickstart/gitops use placeholder tags (or none); after compiling into
a copy of that folder, as `make demo` does, each built container must run exactly
`repository:tag`, `repository@digest` or `repository:tag@digest` from the spec (the
quickstart with its images pinned), or the `tag@digest` of examples/quickstart/setlist.lock
(the quickstart as shipped, in dev).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from schema_util import LAYOUT, compile_folder, pinned_quickstart, run_cli, write_spec

from conftest import EXAMPLES, ROOT, unavailable
from setlist import lockfile


@pytest.fixture(scope="session")
def kubectl() -> str:
    exe = shutil.which("kubectl")
    if exe is None:
        unavailable("kubectl is not installed (the tests build overlays with "
                    "`kubectl kustomize`)")
    return exe


def kustomize(kubectl: str, folder: Path) -> list[dict]:
    proc = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, f"kubectl kustomize {folder} failed:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def containers(resources: list[dict]) -> dict[str, str]:
    """`Kind/name/container` → image of every container and init container."""
    out = {}
    for res in resources:
        spec = res.get("spec", {})
        if res["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        pod = spec.get("template", {}).get("spec", {})
        for field in ("initContainers", "containers"):
            for c in pod.get(field, []):
                out[f"{res['kind']}/{res['metadata']['name']}/{c['name']}"] = c["image"]
    return out


def image_name(image: str) -> str:
    """The name part of an image reference (what Kustomize's `images: name` matches)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def pinned(image) -> str:
    ref = image.reference
    if image.tag:
        ref += f":{image.tag}"
    if image.digest:
        ref += f"@{image.digest}"
    return ref


def expected_images(kubectl: str, project, overlay_root: Path, app) -> dict[str, str]:
    """Container → the image the spec pins for it, matching the containers of the app's
    base (built on its own) to the app's images by the name Kustomize matches."""
    images = {i.name: i for i in project.spec.images}
    by_name = {(entry.alias or images[entry.image].reference): images[entry.image]
               for entry in app.images}
    base = kustomize(kubectl, overlay_root / app.base.path)
    out = {}
    for key, image in containers(base).items():
        assert image_name(image) in by_name, f"{key}: the spec does not name {image}"
        out[key] = pinned(by_name[image_name(image)])
    assert sorted({image_name(i) for i in containers(base).values()}) == sorted(by_name), \
        "every image of the app appears in its base"
    return out


def test_image_name():
    assert image_name("registry.example.com:5000/a/b:1.0@sha256:x") == \
        "registry.example.com:5000/a/b"
    assert image_name("shop-web") == "shop-web"
    assert image_name("ghcr.io/x/y:1") == "ghcr.io/x/y"


def test_quickstart_overlays_build_with_the_pinned_images(kubectl, tmp_path):
    spec = write_spec(tmp_path / "spec", pinned_quickstart(), "setlist.setlist")
    out = tmp_path / "demo-gitops"
    shutil.copytree(EXAMPLES / "quickstart" / "gitops", out)
    proc = run_cli("compile", str(spec), "-o", str(out), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    project, result = compile_folder(spec)
    apps = {a.name: a for a in project.spec.apps}
    built = {}
    for app in project.spec.apps:
        for env in app.deploy:
            folder = out / "apps" / app.name / "overlays" / env
            assert (folder / "kustomization.yaml").is_file()
            got = containers(kustomize(kubectl, folder))
            assert got == expected_images(kubectl, project, out, app), f"{app.name}/{env}"
            built[f"{app.name}/{env}"] = got
    overlays = {d.path for d in result.documents if d.owner == "user"}
    assert len(built) == len(overlays) == 5
    # Spelled out once, so a mistake shared by the test and the compiler shows here too.
    assert built["shop/prod"] == {
        "Deployment/shop/api": "ghcr.io/example/shop-api:1.4.2",
        "Deployment/shop/web": "ghcr.io/example/shop-web:main-3f9c2ab"}
    assert built["analytics/prod"] == {
        "CronJob/nightly-report/report": "registry.example.com:5000/analytics/reports:2.3.7"
        "@sha256:9c1c1b4c0d6b6a7f3e1f1d5f2a2b8e7c4d3a1f0e9b8c7d6e5f4a3b2c1d0e9f8a"}
    # ... and the bases alone run other images, so the overlays did the pinning.
    for app in apps.values():
        base = containers(kustomize(kubectl, out / app.base.path))
        for env in app.deploy:
            for key, image in base.items():
                assert built[f"{app.name}/{env}"][key] != image


def test_quickstart_dev_overlay_builds_with_the_locked_images(kubectl, tmp_path):
    out = tmp_path / "demo-gitops"
    shutil.copytree(EXAMPLES / "quickstart" / "gitops", out)
    proc = run_cli("compile", "examples/quickstart", "-o", str(out), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lock = lockfile.read(EXAMPLES / "quickstart")
    api, web = lock.get("api", "dev"), lock.get("web", "dev")
    assert containers(kustomize(kubectl, out / "apps/shop/overlays/dev")) == {
        "Deployment/shop/api": f"ghcr.io/example/shop-api:1.5.0@{api.digest}",
        "Deployment/shop/web": f"ghcr.io/example/shop-web:main-0b7e1d4@{web.digest}"}


# A base elsewhere in the repository (not below the gitops path), a custom overlays pattern,
# a digest-only image and a remote base that is not built (no network in tests).
LOCAL_DIGEST = LAYOUT + """
image cache {
  repository = "ghcr.io/acme/cache"
  digest     = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}

app cache {
  base      = "shared/bases/cache"
  namespace = "cache"
  images    = [cache]
  deploy    = [qa]
}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      initContainers:
        - name: migrate
          image: {image}
      containers:
        - name: main
          image: {image}
"""


def test_custom_layout_overlays_build_and_remote_bases_are_left_alone(kubectl, tmp_path):
    spec_dir = write_spec(tmp_path / "spec", LOCAL_DIGEST)
    repo = tmp_path / "repo"
    for name, image in (("web", "registry.example.com:5000/acme/web:0.0.0-placeholder"),
                        ("cache", "ghcr.io/acme/cache:latest")):
        write_spec(repo / "shared" / "bases" / name, DEPLOYMENT.format(name=name, image=image),
                   "deployment.yaml")
        write_spec(repo / "shared" / "bases" / name,
                   "resources:\n  - deployment.yaml\n", "kustomization.yaml")
    proc = run_cli("compile", str(spec_dir), "-o", str(repo))
    assert proc.returncode == 0, proc.stderr
    project, result = compile_folder(spec_dir)
    apps = {a.name: a for a in project.spec.apps}
    remote, local = [], []
    for doc in result.documents:
        if doc.owner != "user":
            continue
        resources = doc.documents[0]["resources"]
        (remote if any("://" in r for r in resources) else local).append(doc.path)
    assert remote == ["clusters/fleet/envs/dev/vendor-shop/kustomization.yaml"]
    assert sorted(local) == ["clusters/fleet/envs/dev/web/kustomization.yaml",
                             "clusters/fleet/envs/qa/cache/kustomization.yaml",
                             "clusters/fleet/envs/qa/web/kustomization.yaml"]
    for path in local:
        app = apps[path.split("/")[-2]]
        got = containers(kustomize(kubectl, repo / Path(path).parent))
        assert got == expected_images(kubectl, project, repo, app), path
    assert containers(kustomize(kubectl, repo / "clusters/fleet/envs/qa/cache")) == {
        f"Deployment/cache/{c}": "ghcr.io/acme/cache@sha256:" + "1" * 64
        for c in ("main", "migrate")}
    assert containers(kustomize(kubectl, repo / "clusters/fleet/envs/qa/web")) == {
        f"Deployment/web/{c}": "registry.example.com:5000/acme/web:1.10"
        for c in ("main", "migrate")}
