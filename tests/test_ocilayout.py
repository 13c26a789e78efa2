"""A registry read from an OCI image layout folder (``layout = "..."``): the layout is built
here with plain Python (blobs, image manifests, an index with two platforms, index.json
with ref names) and `setlist resolve` runs against it with no network."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import write
from setlist import lockfile
from setlist.ocilayout import REF_NAME, LayoutClient, split_ref_name
from setlist.project import load
from setlist.registry import OCI_INDEX, OCI_MANIFEST, RegistryError, tag_infos

SPEC = '''gitops { repo = "https://git.example.com/ops" }
registry vendored {
  host   = "ghcr.io"
  layout = "LAYOUT"
}
image api {
  repository = vendored / "example/api"
  strategy   = semver("^1.4")
}
image web {
  repository = vendored / "example/web"
  strategy   = newest_build
}
environment dev { clusters = all }
app shop {
  base      = "apps/shop/base"
  namespace = "shop"
  images    = [api, web]
  deploy    = [dev]
}
'''


class Layout:
    """An OCI image layout folder under construction."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.refs: list[dict] = []
        (root / "blobs" / "sha256").mkdir(parents=True)
        write(root / "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}))

    def blob(self, data: bytes, media_type: str) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, platform: str, created: str) -> dict:
        os_, arch = platform.split("/")
        config = self.blob(json.dumps({
            "created": created, "os": os_, "architecture": arch,
            "rootfs": {"type": "layers", "diff_ids": []}}).encode(),
            "application/vnd.oci.image.config.v1+json")
        layer = self.blob(f"layer {platform} {created}".encode(),
                          "application/vnd.oci.image.layer.v1.tar+gzip")
        return self.blob(json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                     "config": config, "layers": [layer]}).encode(),
                         OCI_MANIFEST)

    def index(self, children: dict[str, str]) -> dict:
        manifests = []
        for platform, created in children.items():
            os_, arch = platform.split("/")
            manifests.append({**self.image(platform, created),
                              "platform": {"os": os_, "architecture": arch}})
        return self.blob(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                     "manifests": manifests}).encode(), OCI_INDEX)

    def tag(self, name: str, descriptor: dict) -> dict:
        self.refs.append({**descriptor, "annotations": {REF_NAME: name}})
        self.save()
        return descriptor

    def save(self) -> None:
        write(self.root / "index.json", json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs}))


def blob_path(layout: Layout, digest: str) -> Path:
    return layout.root / "blobs" / "sha256" / digest.removeprefix("sha256:")


@pytest.fixture
def shop(tmp_path):
    """A project whose registry is the layout vendor/oci, holding two repositories under
    REPOSITORY:TAG ref names (one with the registry host in front)."""
    layout = Layout(tmp_path / "vendor" / "oci")
    tagged = {
        "api-1.4.2": layout.tag("example/api:1.4.2",
                                layout.image("linux/amd64", "2024-01-01T00:00:00Z")),
        "api-1.4.3": layout.tag("ghcr.io/example/api:1.4.3",
                                layout.image("linux/amd64", "2024-02-01T00:00:00Z")),
        "api-2.0.0": layout.tag("example/api:2.0.0",
                                layout.image("linux/amd64", "2024-03-01T00:00:00Z")),
        "web-main-aaa": layout.tag("example/web:main-aaa",
                                   layout.image("linux/amd64", "2024-05-01T10:00:00Z")),
        "web-main-bbb": layout.tag("example/web:main-bbb", layout.index(
            {"linux/amd64": "2024-06-01T00:00:00Z",
             "linux/arm64": "2024-06-02T12:30:00.25Z"})),
    }
    write(tmp_path / "main.setlist", SPEC.replace("LAYOUT", "vendor/oci"))
    return tmp_path, layout, {k: v["digest"] for k, v in tagged.items()}


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SETLIST_TEST_")}
    # Any attempt to reach a network registry would go to a dead proxy and fail.
    environ.update({"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"})
    return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


# ================================================================ end to end


def test_cli_resolves_from_the_layout_and_a_second_run_changes_nothing(shop):
    folder, _, digests = shop
    proc = run("resolve", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == \
        f"api dev: 1.4.3 ({digests['api-1.4.3'][:19]}…) from ghcr.io/example/api"
    assert proc.stdout.splitlines()[-1] == "setlist.lock: 2 entries changed"
    lock = lockfile.read(folder)
    api, web = lock.get("api", "dev"), lock.get("web", "dev")
    assert (api.repository, api.tag, api.digest) == \
        ("ghcr.io/example/api", "1.4.3", digests["api-1.4.3"])
    assert api.platforms == ("linux/amd64",)
    assert api.created == "2024-02-01T00:00:00Z"
    assert (web.repository, web.tag, web.digest) == \
        ("ghcr.io/example/web", "main-bbb", digests["web-main-bbb"])
    assert web.platforms == ("linux/amd64", "linux/arm64")
    assert web.created == "2024-06-02T12:30:00.25Z"  # the newest of the index's images
    assert api.source == web.source == "registry"

    before = (folder / "setlist.lock").read_bytes()
    proc = run("resolve", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "setlist.lock: up to date"
    assert (folder / "setlist.lock").read_bytes() == before


def test_cli_corrupted_blob_exits_3_and_keeps_the_lock(shop):
    folder, layout, digests = shop
    assert run("resolve", cwd=folder).returncode == 0
    before = (folder / "setlist.lock").read_bytes()
    path = blob_path(layout, digests["api-1.4.3"])
    path.write_bytes(path.read_bytes().replace(b"schemaVersion", b"schemaVersioN"))
    proc = run("resolve", cwd=folder)
    assert proc.returncode == 3
    errors = [line for line in proc.stderr.splitlines() if line.startswith("setlist: error:")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("setlist: error: ghcr.io example/api: 1.4.3: OCI layout ")
    assert "OCI layout vendor/oci: " in errors[0]  # the folder as the spec names it
    assert f"manifest digest mismatch: blob {digests['api-1.4.3']} has content sha256:" \
        in errors[0]
    assert "setlist.lock was not changed" in proc.stderr
    assert proc.stdout == ""
    assert (folder / "setlist.lock").read_bytes() == before


def test_cli_missing_blob_and_missing_tag_are_reported(shop):
    folder, layout, digests = shop
    blob_path(layout, digests["web-main-aaa"]).unlink()
    write(folder / "main.setlist", SPEC.replace("LAYOUT", "vendor/oci").replace(
        '"example/api"', '"example/absent"'))
    proc = run("resolve", cwd=folder)
    assert proc.returncode == 3
    assert "ghcr.io example/absent: OCI layout" in proc.stderr
    assert "repository example/absent not found" in proc.stderr
    assert "main-aaa: OCI layout vendor/oci: manifest blob " \
           f"{digests['web-main-aaa']} is missing" in proc.stderr
    assert not (folder / "setlist.lock").exists()


def test_cli_missing_layout_folder_is_a_clear_error(tmp_path):
    write(tmp_path / "main.setlist", SPEC.replace("LAYOUT", "vendor/nowhere"))
    proc = run("resolve", cwd=tmp_path)
    assert proc.returncode == 3
    assert "setlist: error: ghcr.io example/api: OCI layout folder vendor/nowhere does " \
           "not exist" in proc.stderr
    assert "setlist.lock was not changed" in proc.stderr
    assert not (tmp_path / "setlist.lock").exists()


@pytest.mark.parametrize("value", ["/srv/oci", "../oci", "vendor/../../oci",
                                   "https://ghcr.io/oci", ""])
def test_layout_must_be_a_relative_folder(tmp_path, value):
    write(tmp_path / "main.setlist", SPEC.replace("LAYOUT", value))
    loaded = load([str(tmp_path)])
    problems = [str(d) for d in loaded.diagnostics]
    assert not loaded.ok
    assert any("SL302" in p and "is not a relative folder path" in p for p in problems), \
        problems


def test_layout_is_part_of_the_spec(shop):
    folder, _, _ = shop
    loaded = load([str(folder)])
    assert loaded.ok, [str(d) for d in loaded.diagnostics]
    registry = loaded.spec.registries[0]
    assert (registry.host, registry.layout) == ("ghcr.io", "vendor/oci")


# ================================================================ the client


def test_plain_tag_layout_serves_any_repository_and_works_with_tag_infos(tmp_path):
    layout = Layout(tmp_path / "oci")
    old = layout.tag("1.0.0", layout.image("linux/amd64", "2023-01-01T00:00:00Z"))
    new = layout.tag("1.1.0", layout.index({"linux/amd64": "2023-02-01T00:00:00Z",
                                            "linux/arm64": "2023-03-01T00:00:00Z"}))
    layout.refs.append(dict(old))  # an untagged entry is no tag
    layout.save()
    client = LayoutClient(layout.root, host="registry.example.com")
    assert client.tags("team/app") == ["1.0.0", "1.1.0"]
    assert client.tags("other") == ["1.0.0", "1.1.0"]

    loaded_folder = tmp_path / "spec"
    write(loaded_folder / "main.setlist", SPEC.replace("LAYOUT", "oci").replace(
        "strategy   = semver(\"^1.4\")", "strategy   = newest_build"))
    spec = load([str(loaded_folder)]).spec
    api = next(i for i in spec.images if i.name == "api")
    infos = {i.name: i for i in tag_infos(client, api)}
    assert infos["1.0.0"].created == datetime(2023, 1, 1, tzinfo=UTC)
    assert infos["1.1.0"].created == datetime(2023, 3, 1, tzinfo=UTC)

    index = client.manifest("team/app", "1.1.0")
    assert index.is_index and index.digest == new["digest"]
    assert index.platforms == ("linux/amd64", "linux/arm64")
    assert client.created("team/app", index, ["linux/amd64"]) == \
        datetime(2023, 2, 1, tzinfo=UTC)
    child = client.manifest("team/app", index.children[1][0])  # by digest
    assert not child.is_index and client.image_platform("team/app", child) == "linux/arm64"
    assert client.config("team/app", child)["created"] == "2023-03-01T00:00:00Z"


def test_ref_names_map_to_repositories_and_tags():
    assert split_ref_name("1.4.3") == (None, "1.4.3")
    assert split_ref_name("example/api:1.4.3") == ("example/api", "1.4.3")
    assert split_ref_name("ghcr.io/example/api:1.4.3") == ("example/api", "1.4.3")
    assert split_ref_name("localhost:5000/api:v1") == ("api", "v1")
    assert split_ref_name("docker.io/library/nginx:latest") == ("library/nginx", "latest")
    assert split_ref_name("api:1") == ("api", "1")
    assert split_ref_name("example/api") is None
    assert split_ref_name("Example/API:1") is None
    assert split_ref_name("-bad") is None


def test_layout_problems_are_registry_errors_naming_the_folder(tmp_path):
    layout = Layout(tmp_path / "oci")
    one = layout.image("linux/amd64", "2023-01-01T00:00:00Z")
    two = layout.image("linux/arm64", "2023-01-01T00:00:00Z")
    layout.tag("a/b:1", one)
    layout.tag("1", two)  # plain: also a/b's
    client = LayoutClient(layout.root, host="h.example")
    with pytest.raises(RegistryError) as caught:
        client.tags("a/b")
    assert caught.value.registry == "h.example"
    assert caught.value.reason == f"OCI layout {layout.root}: tag 1 names both " \
                                  f"{one['digest']} and {two['digest']} in index.json"
    assert LayoutClient(layout.root).tags("c") == ["1"]

    with pytest.raises(RegistryError, match="'latest!' is not a valid tag"):
        client.manifest("c", "latest!")
    with pytest.raises(RegistryError, match="tag 2 not found in index.json"):
        client.manifest("c", "2")
    with pytest.raises(RegistryError, match="not a valid repository name"):
        client.tags("../etc")

    blob_path(layout, two["digest"]).write_bytes(b"{}")
    with pytest.raises(RegistryError, match="manifest digest mismatch"):
        client.manifest("c", "1")

    write(layout.root / "oci-layout", json.dumps({"imageLayoutVersion": "2.0.0"}))
    with pytest.raises(RegistryError, match="imageLayoutVersion '2.0.0', not 1.x"):
        LayoutClient(layout.root).tags("c")
    (layout.root / "oci-layout").unlink()
    with pytest.raises(RegistryError, match=re.escape(f"OCI layout {layout.root}: "
                                                      "oci-layout is missing")):
        LayoutClient(layout.root).tags("c")
    with pytest.raises(RegistryError, match="is not a folder"):
        LayoutClient(layout.root / "index.json").tags("c")
