"""The OCI client core against a real registry (Debian's docker-registry, the `registry`
fixture), and against a tiny loopback HTTP server only for what the real registry cannot
produce on demand: wrong digests, unbounded bodies, paginated tag lists (distribution 2.8
ignores `n` and `last` on tags/list and always sends every tag), and error texts that echo
credentials back."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

import pytest
from loopback import Loopback, reply
from registry_util import OCI_INDEX, OCI_MANIFEST, canonical, digest_of

from setlist import spec, strategies
from setlist.diagnostics import Span
from setlist.registry import (
    DOCKER_MANIFEST,
    Credentials,
    RegistryClient,
    RegistryError,
    parse_created,
    tag_infos,
)

SPAN = Span(file="test.setlist", line=1, column=1, end_line=1, end_column=2)


def client_for(registry, **kwargs) -> RegistryClient:
    return RegistryClient(registry.host, scheme="http", **kwargs)


def image(repository: str, host: str, kind: str, *, constraint: str | None = None,
          tag: str | None = None, platforms: tuple[str, ...] = (),
          allow: str | None = None, ignore: tuple[str, ...] = ()) -> spec.Image:
    return spec.Image(
        name=repository.replace("/", "-"), registry=None, host=host, repository=repository,
        strategy=spec.Strategy(kind=kind, constraint=constraint, tag=tag),
        allow_tags=allow, ignore_tags=ignore, platforms=platforms, span=SPAN)


def pick(img: spec.Image, infos: list[strategies.TagInfo], platforms=None):
    return strategies.choose(img.strategy, infos, allow=img.allow_tags,
                             ignore=img.ignore_tags,
                             platforms=img.platforms if platforms is None else platforms)


# ================================================================ real registry


def test_tags_lists_every_tag_of_a_large_repository(registry):
    names = [f"build-{i:04d}" for i in range(230)] + ["1.0.0", "latest"]
    registry.tag_many("many/tags", names, created="2024-01-01T00:00:00Z")
    assert registry.tag_count("many/tags") == len(names)
    client = client_for(registry)
    for page_size in (None, 50, len(names)):
        listed = client.tags("many/tags", page_size=page_size)
        assert sorted(listed) == sorted(names)
        assert len(listed) == len(set(listed))


def test_image_manifest_digest_config_and_created(registry):
    pushed = registry.push_image("shop/api", "1.4.3", created="2024-05-06T07:08:09.123456789Z",
                                 platform="linux/arm64")
    client = client_for(registry)
    manifest = client.manifest("shop/api", "1.4.3")
    assert manifest.digest == pushed == digest_of(manifest.body)
    assert manifest.media_type == OCI_MANIFEST and not manifest.is_index
    assert manifest.platforms == ()
    config = client.config("shop/api", manifest)
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    assert client.created("shop/api", manifest) == datetime(2024, 5, 6, 7, 8, 9, 123456,
                                                            tzinfo=UTC)
    assert client.image_platform("shop/api", manifest) == "linux/arm64"
    by_digest = client.manifest("shop/api", pushed)
    assert by_digest.digest == pushed and by_digest.body == manifest.body


def test_index_platforms_children_and_created(registry):
    platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    pushed = registry.push_index("shop/multi", "2.0.0", platforms, "2024-03-01T10:00:00Z")
    client = client_for(registry)
    index = client.manifest("shop/multi", "2.0.0")
    assert index.digest == pushed
    assert index.media_type == OCI_INDEX and index.is_index
    assert index.platforms == tuple(platforms)
    for child_digest, platform in index.children:
        child = client.manifest("shop/multi", child_digest)
        assert child.digest == child_digest
        assert client.image_platform("shop/multi", child) == platform
    assert client.created("shop/multi", index) == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_index_created_is_the_newest_wanted_platform(registry):
    old, new = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"
    amd = registry.push_index("shop/mixed", "amd", ["linux/amd64"], old)
    arm = registry.push_index("shop/mixed", "arm", ["linux/arm64"], new)
    client = client_for(registry)
    children = [client.manifest("shop/mixed", d).data["manifests"][0] for d in (amd, arm)]
    body = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    registry.push_manifest("shop/mixed", "both", body, OCI_INDEX)
    index = client.manifest("shop/mixed", "both")
    assert client.created("shop/mixed", index) == parse_created(new)
    assert client.created("shop/mixed", index, ["linux/amd64"]) == parse_created(old)
    assert client.created("shop/mixed", index, ["windows/amd64"]) is None


def test_docker_v2_manifest_media_type(registry):
    config = canonical({"architecture": "amd64", "os": "linux",
                        "created": "2023-12-24T18:00:00Z"})
    layer = b"docker layer"
    manifest = canonical({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": registry.push_blob("shop/docker", config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": registry.push_blob("shop/docker", layer), "size": len(layer)}],
    })
    pushed = registry.push_manifest("shop/docker", "v1", manifest, DOCKER_MANIFEST)
    client = client_for(registry)
    got = client.manifest("shop/docker", "v1")
    assert (got.media_type, got.digest) == (DOCKER_MANIFEST, pushed)
    assert client.created("shop/docker", got) == datetime(2023, 12, 24, 18, tzinfo=UTC)


def test_missing_things_are_registry_errors(registry):
    registry.push_image("shop/there", "1.0.0", created="2024-01-01T00:00:00Z")
    client = client_for(registry)
    with pytest.raises(RegistryError) as info:
        client.manifest("shop/there", "9.9.9")
    assert info.value.registry == registry.host
    assert info.value.image == "shop/there:9.9.9"
    assert "not found" in str(info.value)
    with pytest.raises(RegistryError, match="not found"):
        client.tags("shop/never-pushed")
    with pytest.raises(RegistryError, match="not a valid repository"):
        client.tags("../etc")
    with pytest.raises(RegistryError, match="not a valid tag"):
        client.manifest("shop/there", "a/../b")


def test_size_caps_refuse_large_manifests_and_configs(registry):
    registry.push_image("shop/caps", "1.0.0", created="2024-01-01T00:00:00Z")
    manifest = client_for(registry).manifest("shop/caps", "1.0.0")
    with pytest.raises(RegistryError, match="manifest is larger than 64 bytes"):
        client_for(registry, max_manifest_bytes=64).manifest("shop/caps", "1.0.0")
    with pytest.raises(RegistryError, match="config is larger than 16 bytes"):
        client_for(registry, max_config_bytes=16).config("shop/caps", manifest)


def test_connection_refused_is_a_registry_error(registry):
    client = RegistryClient("127.0.0.1:1", scheme="http")
    with pytest.raises(RegistryError, match="cannot connect"):
        client.tags("shop/api")


# ================================================================ end to end with choose


def test_semver_picks_the_highest_allowed_version(registry):
    tags = ["1.2.0", "1.4.0", "1.4.3", "1.5.0-rc.1", "2.0.0", "latest", "v1.4.9-debug"]
    registry.tag_many("e2e/semver", tags, created="2024-01-01T00:00:00Z")
    client = client_for(registry)
    img = image("e2e/semver", registry.host, "semver", constraint="^1.4",
                ignore=("*-debug",))
    needs = strategies.needs_metadata(img.strategy, img.platforms)
    assert needs == set()
    infos = tag_infos(client, img, needs)
    assert sorted(i.name for i in infos) == sorted(tags)
    assert all(i.digest is None and i.created is None for i in infos)  # nothing fetched
    choice = pick(img, infos)
    assert choice.tag == "1.4.3", choice


def test_newest_build_picks_the_most_recent_config(registry):
    dates = {"a1": "2024-01-01T00:00:00Z", "b2": "2024-04-01T12:00:00Z",
             "c3": "2024-02-01T00:00:00Z", "zz-skip": "2025-01-01T00:00:00Z"}
    for tag, created in dates.items():
        registry.push_image("e2e/newest", tag, created=created)
    client = client_for(registry)
    img = image("e2e/newest", registry.host, "newest_build", ignore=("zz-*",))
    infos = {i.name: i for i in tag_infos(client, img)}
    assert infos["b2"].created == parse_created(dates["b2"])
    assert infos["zz-skip"].created is None  # ignored: its config is never fetched
    choice = pick(img, list(infos.values()))
    assert choice.tag == "b2", choice


def test_newest_build_with_platforms_drops_tags_without_one(registry):
    registry.push_index("e2e/platforms", "old", ["linux/amd64", "linux/arm64"],
                        "2024-01-01T00:00:00Z")
    registry.push_image("e2e/platforms", "new-amd-only", created="2024-09-01T00:00:00Z")
    registry.push_index("e2e/platforms", "mid", ["linux/arm64"], "2024-05-01T00:00:00Z")
    client = client_for(registry)
    img = image("e2e/platforms", registry.host, "newest_build", platforms=("linux/arm64",))
    needs = strategies.needs_metadata(img.strategy, img.platforms)
    assert needs == {"created", "platforms"}
    infos = {i.name: i for i in tag_infos(client, img, needs)}
    assert infos["new-amd-only"].platforms == ("linux/amd64",)
    assert infos["old"].platforms == ("linux/amd64", "linux/arm64")
    assert pick(img, list(infos.values())).tag == "mid"


def test_digest_strategy_fetches_only_the_followed_tag(registry):
    pushed = registry.push_image("e2e/digest", "stable", created="2024-01-01T00:00:00Z")
    registry.push_image("e2e/digest", "other", created="2024-02-01T00:00:00Z")
    img = image("e2e/digest", registry.host, "digest", tag="stable")
    infos = {i.name: i for i in tag_infos(client_for(registry), img)}
    assert infos["stable"].digest == pushed
    assert infos["other"].digest is None
    choice = pick(img, list(infos.values()))
    assert choice.tag == "stable" and pushed in choice.reason


# ================================================================ faults: loopback server

Route = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


class FaultServer(Loopback):
    """A loopback HTTP server answering GETs from ``routes`` (path → handler)."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = urllib.parse.urlsplit(handler.path).path
        self.requests.append((handler.path, dict(handler.headers)))
        route = self.routes.get(path)
        status, headers, body = route(handler) if route else (404, {}, b"{}")
        reply(handler, status, headers, body, length=not headers.get("X-No-Length"))

    def client(self, **kwargs) -> RegistryClient:
        # faults answer at once; retries must not wait in real time
        kwargs.setdefault("sleep", lambda seconds: None)
        return RegistryClient(self.host, scheme="http", **kwargs)


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.close()


def _manifest_body(config: bytes = b"{}") -> bytes:
    return canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": digest_of(config), "size": len(config)},
                      "layers": []})


def test_manifest_digest_mismatch_with_the_registry_header(faults):
    body = _manifest_body()
    faults.routes["/v2/x/y/manifests/1.0"] = lambda h: (
        200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest_of(b"other")},
        body)
    with pytest.raises(RegistryError, match="manifest digest mismatch: the registry says"):
        faults.client().manifest("x/y", "1.0")


def test_manifest_digest_mismatch_with_the_reference(faults):
    wanted = digest_of(b"what was asked for")
    faults.routes[f"/v2/x/y/manifests/{wanted}"] = lambda h: (
        200, {"Content-Type": OCI_MANIFEST}, _manifest_body())
    with pytest.raises(RegistryError, match="manifest digest mismatch: the reference says"):
        faults.client().manifest("x/y", wanted)


def test_config_digest_mismatch(faults):
    config = canonical({"created": "2024-01-01T00:00:00Z"})
    body = _manifest_body(config)
    faults.routes["/v2/x/y/manifests/1.0"] = lambda h: (200, {"Content-Type": OCI_MANIFEST},
                                                        body)
    faults.routes[f"/v2/x/y/blobs/{digest_of(config)}"] = lambda h: (200, {}, b'{"x": 1}')
    client = faults.client()
    manifest = client.manifest("x/y", "1.0")
    with pytest.raises(RegistryError, match="config digest mismatch"):
        client.config("x/y", manifest)


def test_oversized_manifest_without_content_length(faults):
    huge = b'{"schemaVersion": 2, "pad": "' + b"x" * 5000 + b'"}'
    faults.routes["/v2/x/y/manifests/big"] = lambda h: (
        200, {"Content-Type": OCI_MANIFEST, "X-No-Length": "1"}, huge)
    with pytest.raises(RegistryError, match="manifest is larger than 1024 bytes"):
        faults.client(max_manifest_bytes=1024).manifest("x/y", "big")


def _paged_tags(all_tags: list[str], *, link: bool) -> Route:
    """Tags in pages of ``n`` after ``last``, with a Link header (or, link=False, none)."""
    def route(handler: BaseHTTPRequestHandler):
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        n = int(query.get("n", len(all_tags)))
        start = all_tags.index(query["last"]) + 1 if "last" in query else 0
        page = all_tags[start:start + n]
        headers = {"Content-Type": "application/json"}
        if link and start + n < len(all_tags):
            next_query = urllib.parse.urlencode({"n": n, "last": page[-1]})
            headers["Link"] = f'</v2/x/y/tags/list?{next_query}>; rel="next"'
        return 200, headers, json.dumps({"name": "x/y", "tags": page}).encode()
    return route


@pytest.mark.parametrize(("link", "count", "requests"), [
    (True, 250, 3), (True, 300, 3),
    (False, 250, 3),   # without Link: a short page is the last one
    (False, 300, 4),   # ... and after a full one, one more request finds nothing
], ids=["link-250", "link-300", "last-250", "last-300"])
def test_tag_pagination(faults, link, count, requests):
    all_tags = [f"t{i:03d}" for i in range(count)]
    faults.routes["/v2/x/y/tags/list"] = _paged_tags(all_tags, link=link)
    assert faults.client().tags("x/y", page_size=100) == all_tags
    pages = [path for path, _ in faults.requests]
    assert pages[0] == "/v2/x/y/tags/list?n=100"
    assert "last=t099" in pages[1] and "last=t199" in pages[2]
    assert len(pages) == requests


def test_pagination_loop_is_an_error(faults):
    faults.routes["/v2/x/y/tags/list"] = lambda h: (
        200, {"Link": '</v2/x/y/tags/list?n=1&last=a>; rel="next"'},
        json.dumps({"tags": [f"a{len(faults.requests)}"]}).encode())
    with pytest.raises(RegistryError, match="pagination loops"):
        faults.client().tags("x/y", page_size=1)


def test_pagination_to_another_host_is_refused(faults):
    faults.routes["/v2/x/y/tags/list"] = lambda h: (
        200, {"Link": '<http://elsewhere.invalid/v2/x/y/tags/list?last=a>; rel="next"'},
        b'{"tags": ["a"]}')
    with pytest.raises(RegistryError, match="another host"):
        faults.client().tags("x/y", page_size=1)


SECRET = "s3cr3t-Pa55word"


def _echo_authorization(handler: BaseHTTPRequestHandler):
    """401 with a Basic challenge; with credentials, a 403 whose message echoes them."""
    auth = handler.headers.get("Authorization")
    if not auth:
        return 401, {"WWW-Authenticate": 'Basic realm="test"'}, b""
    decoded = base64.b64decode(auth.split(" ", 1)[1]).decode()
    message = f"denied for {auth} ({decoded})"
    return 403, {}, json.dumps({"errors": [{"code": "DENIED", "message": message}]}).encode()


def test_errors_never_contain_credentials_basic(faults):
    faults.routes["/v2/x/y/tags/list"] = _echo_authorization
    credentials = Credentials("robot", SECRET)
    assert SECRET not in repr(credentials)
    with pytest.raises(RegistryError) as info:
        faults.client(credentials=credentials).tags("x/y")
    text = str(info.value)
    assert "access denied (HTTP 403)" in text
    assert SECRET not in text and credentials.basic().split()[1] not in text
    sent = faults.requests[-1][1].get("Authorization")
    assert sent == credentials.basic()  # the credentials were offered, only on challenge
    assert "Authorization" not in faults.requests[0][1]


def test_errors_never_contain_credentials_bearer(faults):
    token = "tok-" + hashlib.sha256(SECRET.encode()).hexdigest()

    def token_route(handler):
        assert handler.headers.get("Authorization") == Credentials("robot", SECRET).basic()
        return 200, {}, json.dumps({"token": token}).encode()

    def tags_route(handler):
        if handler.headers.get("Authorization") != f"Bearer {token}":
            realm = f"http://{faults.host}/token"
            return 401, {"WWW-Authenticate":
                         f'Bearer realm="{realm}",service="reg",scope="repository:x/y:pull"'
                         }, b""
        return 500, {}, json.dumps({"errors": [{"code": "UNKNOWN",
                                                "message": f"boom {token}"}]}).encode()

    faults.routes["/token"] = token_route
    faults.routes["/v2/x/y/tags/list"] = tags_route
    with pytest.raises(RegistryError) as info:
        faults.client(credentials=Credentials("robot", SECRET)).tags("x/y")
    text = str(info.value)
    assert "HTTP 500" in text and token not in text and SECRET not in text
    token_request = next(path for path, _ in faults.requests if path.startswith("/token"))
    assert "scope=repository%3Ax%2Fy%3Apull" in token_request


def test_parse_created_handles_go_timestamps():
    assert parse_created("2024-01-02T03:04:05.123456789Z") == datetime(
        2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert parse_created("2024-01-02T05:04:05+02:00") == datetime(2024, 1, 2, 3, 4, 5,
                                                                  tzinfo=UTC)
    assert parse_created("0001-01-01T00:00:00Z") is None
    assert parse_created("yesterday") is None and parse_created(None) is None
