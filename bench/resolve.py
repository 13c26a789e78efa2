"""Resolve figures: `setlist resolve` against a local registry of R repositories × T tags.

    python bench/resolve.py [--repos 200] [--tags 100] [--runs 3] [--dir DIR] [--quick]
                            [--strict] [--keep]

Starts Debian's ``docker-registry`` on a loopback port (tests/registry_util.py; storage
below ``--dir``, default /dev/shm when writable) and pushes R repositories of T tags each,
8 repositories at a time: mostly version tags (1.0.0, 1.0.1, …), a few pre-releases
(2.0.k-rc.1) and a tenth non-version tags (latest, main, …). Repositories with
i % 10 in (1, 4, 7) are followed with ``newest_build`` and each of their tags is a separate
build (its own config and ``created`` date, dates shuffled against tag order); the others
use ``semver`` with one of four constraints and carry one image under every tag. Every
fourth repository is a two-platform OCI index (linux/amd64 built per tag, linux/arm64 built
once). One spec declares an image and an app per repository.

Then, in one run:

- **setlist, cold**: ``python -m setlist resolve PROJECT`` as a new process, with a fresh
  ``XDG_CACHE_HOME`` (no cached manifests or configs) and no ``setlist.lock``. The parser
  table cache is filled first by an untimed ``setlist check`` in that folder: the figure is
  the resolve, not the grammar build. Start-up and imports are included.
- **baseline**: the same images resolved one at a time in this process with plain oras-py
  calls (``Registry.get_tags``, ``get_manifest``, ``get_blob``, ``do_request``): the tags
  listed, for ``newest_build`` every candidate tag's manifest and config fetched for its
  build date (for an index, each child manifest and its config), the tag chosen with
  :func:`setlist.strategies.choose` (so only the I/O differs), and the chosen manifest
  fetched for its digest (``get_manifest`` returns only the parsed JSON, so that one is a
  ``do_request`` GET) and, for a single-platform image, its config (setlist reads the
  platform from it). Setlist and the baseline must choose the same tag and digest for every
  image. The baseline pays for no process start and no imports.

Baseline and setlist runs alternate, ``--runs`` times each; medians, the CPU seconds spent
by the client and by the registry process, and the ratio baseline / setlist are printed
against the target (≥ 5×), with the floor the registry's own CPU time puts under any client
on this machine's cores.

- **requests**: a small counting HTTP proxy on loopback is put in front of the registry and
  a copy of the spec points at it. A cold resolve (fresh cache) and a second resolve with
  nothing changed (same cache, the lock in place) run through it; the requests of each are
  printed by kind (tag list, manifest GET by tag or by digest, manifest HEAD, blob GET),
  with the manifest bodies and blobs the second run downloaded again (bodies whose digest
  the cold run had already received). Target: none.

``--quick`` is 20 repositories × 20 tags and one run, for a smoke test. The exit status is
0 when everything ran and setlist and the baseline agree (1 otherwise); with ``--strict``
a missed target is a failure too.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import registry_util  # noqa: E402  (tests/ is put on the path above)
from registry_util import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST  # noqa: E402

TARGET_RATIO = 5.0
PUSH_WORKERS = 8
PLATFORMS = ["linux/amd64", "linux/arm64"]
NON_VERSIONS = ["latest", "main", "stable", "edge", "nightly", "dev", "canary", "beta",
                "release", "lts"]
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST,
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.docker.distribution.manifest.v2+json"])


# ---------------------------------------------------------------- the estate


@dataclass(frozen=True)
class Repo:
    index: int
    newest_build: bool
    multi_platform: bool
    constraint: str

    @property
    def name(self) -> str:
        return f"bench/repo{self.index:03d}"

    @property
    def image(self) -> str:
        return f"img{self.index:03d}"

    @property
    def strategy(self) -> str:
        return "newest_build" if self.newest_build else f'semver("{self.constraint}")'


def constraints(tags: list[str]) -> list[str]:
    """Four semver constraints that each allow some of the version tags: the tags run
    1.0.0 … 1.<top>.9."""
    top = max(int(t.split(".")[1]) for t in tags if t.startswith("1."))
    return [f"^1.{top // 2}", f"~1.{top // 3}", f">=1.{top // 4} <1.{max(1, top)}", "^1.0"]


def repos_of(count: int, tags: list[str]) -> list[Repo]:
    rules = constraints(tags)
    return [Repo(i, newest_build=i % 10 in (1, 4, 7), multi_platform=i % 4 == 0,
                 constraint=rules[i % len(rules)]) for i in range(count)]


def tag_names(count: int) -> list[str]:
    """``count`` distinct tags: versions 1.0.0, 1.0.1, … 1.9.9, then 1.10.0 …, a few
    pre-releases and a tenth non-version names."""
    others = max(2, count // 10)
    pre = count // 20
    versions = count - others - pre
    names = [f"1.{i // 10}.{i % 10}" for i in range(versions)]
    names += [f"2.0.{k}-rc.1" for k in range(pre)]
    names += [NON_VERSIONS[k] if k < len(NON_VERSIONS) else f"build-{k}"
              for k in range(others)]
    return names


def write_spec(folder: Path, host: str, repos: list[Repo]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = ['gitops {\n  repo = "https://example.com/gitops"\n}\n',
           f'registry local {{\n  host = "{host}"\n}}\n',
           'environment dev {\n  clusters = cluster.env == "dev"\n}\n']
    for repo in repos:
        out.append(f"image {repo.image} {{\n"
                   f'  repository = local / "{repo.name}"\n'
                   f"  strategy   = {repo.strategy}\n"
                   "}\n")
        out.append(f"app app{repo.index:03d} {{\n"
                   f'  base      = "apps/app{repo.index:03d}/base"\n'
                   '  namespace = "bench"\n'
                   f"  images    = [{repo.image}]\n"
                   "  deploy    = [dev]\n"
                   "}\n")
    (folder / "bench.setlist").write_text("\n".join(out), "utf-8")
    return folder


# ---------------------------------------------------------------- pushing


def _config(created: datetime, platform: str, layer_digest: str) -> bytes:
    os_, arch = platform.split("/")[:2]
    return registry_util.canonical({
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "architecture": arch, "os": os_,
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]}, "config": {}})


def _image(server: registry_util.Registry, repo: str, created: datetime, platform: str,
           layer: tuple[str, int]) -> bytes:
    """Push a config; the image manifest over it and ``layer`` (not pushed)."""
    config = _config(created, platform, layer[0])
    config_digest = server.push_blob(repo, config)
    return registry_util.canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer[0], "size": layer[1]}]})


def _child(server: registry_util.Registry, repo: str, created: datetime, platform: str,
           layer: tuple[str, int]) -> dict:
    """Push an image manifest (by digest) and its config; its entry in an index."""
    body = _image(server, repo, created, platform, layer)
    digest = server.push_manifest(repo, registry_util.digest_of(body), body, OCI_MANIFEST)
    os_, arch = platform.split("/")
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body),
            "platform": {"os": os_, "architecture": arch}}


def push_repo(server: registry_util.Registry, repo: Repo, tags: list[str]) -> int:
    """Push one repository; the number of manifests PUT. An index's arm64 image is built
    once (a day before the first amd64 one), its amd64 image once per build."""
    layers = {}
    for platform in PLATFORMS if repo.multi_platform else PLATFORMS[:1]:
        data = f"layer of {repo.name} for {platform}".encode()
        layers[platform] = (server.push_blob(repo.name, data), len(data))
    puts = 0
    arm = None
    if repo.multi_platform:
        arm = _child(server, repo.name, EPOCH - timedelta(days=1), PLATFORMS[1],
                     layers[PLATFORMS[1]])
        puts += 1

    def build(created: datetime) -> tuple[bytes, str]:
        nonlocal puts
        if arm is None:
            return _image(server, repo.name, created, PLATFORMS[0], layers[PLATFORMS[0]]), \
                OCI_MANIFEST
        amd = _child(server, repo.name, created, PLATFORMS[0], layers[PLATFORMS[0]])
        puts += 1
        return registry_util.canonical({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                        "manifests": [amd, arm]}), OCI_INDEX

    if repo.newest_build:  # a build per tag, built in an order unrelated to the tags'
        order = list(range(len(tags)))
        random.Random(repo.index).shuffle(order)
        builds = [build(EPOCH + timedelta(hours=rank)) for rank in order]
    else:  # one image under every tag
        builds = [build(EPOCH)] * len(tags)
    for tag, (body, media_type) in zip(tags, builds, strict=True):
        server.push_manifest(repo.name, tag, body, media_type)
        puts += 1
    return puts


def push_estate(server: registry_util.Registry, repos: list[Repo], tags: list[str]) -> int:
    with ThreadPoolExecutor(PUSH_WORKERS) as pool:
        return sum(pool.map(lambda r: push_repo(server, r, tags), repos))


# ---------------------------------------------------------------- setlist as a process


def fresh_cache(work: Path, project: Path) -> Path:
    """A new, empty XDG_CACHE_HOME with only the parser tables (an untimed check)."""
    cache = Path(tempfile.mkdtemp(prefix="xdg-", dir=work))
    run_setlist(["check", str(project)], cache)
    return cache


@dataclass(frozen=True)
class Sample:
    """One timed run: wall seconds, CPU seconds of the client and of the registry."""

    wall: float
    client_cpu: float
    registry_cpu: float | None


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a running process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_setlist(args: list[str], cache: Path, registry_pid: int | None = None) -> Sample:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    before = children_cpu(), process_cpu(registry_pid) if registry_pid else None
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "setlist", *args, "--color", "never"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = children_cpu(), process_cpu(registry_pid) if registry_pid else None
    if proc.returncode != 0:
        sys.exit(f"setlist {args[0]} failed ({proc.returncode}):\n"
                 f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    registry = after[1] - before[1] if after[1] is not None and before[1] is not None \
        else None
    return Sample(wall, after[0] - before[0], registry)


def cold_resolve(work: Path, project: Path, registry_pid: int) -> Sample:
    (project / "setlist.lock").unlink(missing_ok=True)
    cache = fresh_cache(work, project)
    try:
        return run_setlist(["resolve", str(project)], cache, registry_pid)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def locked(project: Path) -> dict[str, tuple[str, str]]:
    from setlist import lockfile

    lock = lockfile.read(project)
    assert lock is not None, "setlist resolve wrote no lock"
    return {image: (entry.tag or "", entry.digest or "")
            for (image, _), entry in lock.entries.items()}


# ---------------------------------------------------------------- the oras baseline


def spec_images(project: Path) -> list:
    """The spec's images that setlist resolves (unpinned, deployed)."""
    from setlist.project import load
    from setlist.resolve import registry_fed

    loaded = load([str(project)])
    assert loaded.ok and loaded.spec is not None
    fed = registry_fed(loaded.spec)
    return [i for i in loaded.spec.images if i.name in fed]


def oras_resolve(host: str, images: list) -> tuple[dict[str, tuple[str, str]], int]:
    """Resolve ``images`` one at a time with oras-py; (image → (tag, digest), requests
    sent)."""
    import oras.provider

    from setlist.registry import parse_created
    from setlist.strategies import TagInfo, choose, filter_tags, needs_metadata

    client = oras.provider.Registry(hostname=host, insecure=True)
    sent = Counter()
    client.session.hooks["response"].append(lambda response, *a, **k: sent.update(["sent"]))

    def config(ref: str, manifest: dict) -> dict:
        response = client.get_blob(ref, manifest["config"]["digest"])
        response.raise_for_status()
        return response.json()

    def created_of(ref: str, manifest: dict) -> datetime | None:
        if "manifests" not in manifest:
            return parse_created(config(ref, manifest).get("created"))
        latest = None
        for child in manifest["manifests"]:
            body = client.get_manifest(f"{ref}@{child['digest']}")
            moment = parse_created(config(ref, body).get("created"))
            if moment is not None and (latest is None or moment > latest):
                latest = moment
        return latest

    results: dict[str, tuple[str, str]] = {}
    for image in images:
        ref = f"{host}/{image.repository}"
        names = client.get_tags(ref)
        needs = needs_metadata(image.strategy, image.platforms)
        if "created" in needs:
            relevant = set(filter_tags(names, image.allow_tags, image.ignore_tags))
            infos = [TagInfo(n, created=created_of(ref, client.get_manifest(f"{ref}:{n}")))
                     if n in relevant else TagInfo(n) for n in names]
        else:
            infos = [TagInfo(n) for n in names]
        choice = choose(image.strategy, infos, allow=image.allow_tags,
                        ignore=image.ignore_tags, platforms=image.platforms,
                        every_platform=True)
        assert choice.tag is not None, f"{image.name}: {choice.reason}"
        # get_manifest returns only the parsed JSON: the digest needs the response itself
        url = f"{client.prefix}://{client.get_container(f'{ref}:{choice.tag}').manifest_url()}"
        response = client.do_request(url, "GET", headers={"Accept": ACCEPT})
        response.raise_for_status()
        digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        manifest = response.json()
        if "manifests" not in manifest:
            config(ref, manifest)  # the platform, as setlist reads it
        results[image.name] = (choice.tag, digest)
    return results, sent["sent"]


def timed_oras(host: str, project: Path,
               registry_pid: int) -> tuple[Sample, dict[str, tuple[str, str]], int]:
    images = spec_images(project)
    before = time.process_time(), process_cpu(registry_pid)
    start = time.perf_counter()
    results, sent = oras_resolve(host, images)
    wall = time.perf_counter() - start
    after = time.process_time(), process_cpu(registry_pid)
    registry = after[1] - before[1] if after[1] is not None and before[1] is not None \
        else None
    return Sample(wall, after[0] - before[0], registry), results, sent


# ---------------------------------------------------------------- counting proxy

_TAGS = re.compile(r"^/v2/(.+)/tags/list$")
_MANIFEST = re.compile(r"^/v2/(.+)/manifests/([^/]+)$")
_BLOB = re.compile(r"^/v2/(.+)/blobs/([^/]+)$")
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


class CountingProxy:
    """Forwards every request to the registry (one upstream connection per request) and
    counts them by kind; remembers the digests of manifest and blob bodies it passed on."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.counts: Counter[str] = Counter()
        self.manifests: Counter[str] = Counter()  # digest → bodies sent
        self.blobs: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                proxy.forward(self, "GET")

            def do_HEAD(self) -> None:  # noqa: N802
                proxy.forward(self, "HEAD")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> CountingProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def take(self) -> tuple[Counter[str], Counter[str], Counter[str]]:
        """The counts so far, and start again from zero."""
        with self._lock:
            taken = self.counts, self.manifests, self.blobs
            self.counts, self.manifests, self.blobs = Counter(), Counter(), Counter()
        return taken

    def forward(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path.split("?", 1)[0]
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            upstream.request(method, handler.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            status, reply = response.status, response.getheaders()
        finally:
            upstream.close()
        kind, store = self.kind(method, path)
        with self._lock:
            self.counts[kind] += 1
            if store is not None and status == 200 and method == "GET":
                store["sha256:" + hashlib.sha256(data).hexdigest()] += 1
        handler.send_response(status)
        for name, value in reply:
            if name.lower() not in _HOP and name.lower() != "content-length":
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)) if method == "GET" else
                            response.getheader("Content-Length") or "0")
        handler.send_header("Connection", "close")
        handler.end_headers()
        if method == "GET":
            handler.wfile.write(data)

    def kind(self, method: str, path: str) -> tuple[str, Counter[str] | None]:
        if _TAGS.match(path):
            return f"tag list {method}", None
        match = _MANIFEST.match(path)
        if match:
            by = "by digest" if ":" in match.group(2) else "by tag"
            return f"manifest {method} {by}", self.manifests if method == "GET" else None
        if _BLOB.match(path):
            return f"blob {method}", self.blobs if method == "GET" else None
        return f"other {method} {path}", None


KINDS = ["tag list GET", "manifest GET by tag", "manifest GET by digest",
         "manifest HEAD by tag", "manifest HEAD by digest", "blob GET", "blob HEAD"]


def print_counts(label: str, counts: Counter[str]) -> None:
    kinds = KINDS + sorted(k for k in counts if k not in KINDS)
    parts = [f"{k} {counts[k]}" for k in kinds if counts[k] or k in KINDS[:6]]
    print(f"  {label:<16} {sum(counts.values()):6d} requests: " + ", ".join(parts))


# ---------------------------------------------------------------- main


def oras_version() -> str:
    from importlib.metadata import version

    return version("oras")


def default_dir() -> str | None:
    """tmpfs when there is one: pushing 20,000 tags is about twice as fast there."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def fmt(samples: list[Sample]) -> str:
    times = [s.wall for s in samples]
    text = (f"median {statistics.median(times):7.3f} s  min {min(times):7.3f}  "
            f"max {max(times):7.3f}  ({len(times)} run{'s' if len(times) > 1 else ''})")
    registry = [s.registry_cpu for s in samples if s.registry_cpu is not None]
    text += f"; CPU: client {statistics.median(s.client_cpu for s in samples):.1f} s"
    if registry:
        text += f", registry {statistics.median(registry):.1f} s"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="20 repositories × 20 tags, 1 run (a smoke test)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a target is missed")
    parser.add_argument("--dir", default=default_dir(),
                        help="where the registry's storage and the projects go (default: "
                             "/dev/shm when writable, else the system's temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.quick:
        args.repos, args.tags, args.runs = 20, 20, 1
    try:
        import oras.provider  # noqa: F401
    except ImportError:
        sys.exit("oras-py is not installed: pip install -e '.[bench]'")
    if not registry_util.available():
        sys.exit(f"{registry_util.BINARY} is not installed "
                 "(scripts/install-services.sh installs it)")

    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"machine: {os.cpu_count()} cores, load average {load}; Python "
          f"{sys.version.split()[0]}, oras-py {oras_version()}")
    work = Path(tempfile.mkdtemp(prefix="setlist-resolve-bench-", dir=args.dir))
    server = registry_util.Registry(work / "registry")
    proxy: CountingProxy | None = None
    try:
        server.start()
        tags = tag_names(args.tags)
        repos = repos_of(args.repos, tags)
        start = time.perf_counter()
        puts = push_estate(server, repos, tags)
        setup = time.perf_counter() - start
        builds = sum(1 for r in repos if r.newest_build)
        indexes = sum(1 for r in repos if r.multi_platform)
        print(f"estate: {args.repos} repositories × {args.tags} tags "
              f"({builds} newest_build with a build per tag, {args.repos - builds} semver; "
              f"{indexes} multi-platform indexes); {puts} manifests pushed "
              f"in {setup:.1f} s (setup)")

        project = write_spec(work / "project", server.host, repos)
        oras_runs: list[Sample] = []
        setlist_runs: list[Sample] = []
        pid = server.process.pid if server.process is not None else 0
        sent = 0
        agree = True
        for run in range(args.runs):
            order = ("oras", "setlist") if run % 2 == 0 else ("setlist", "oras")
            for which in order:
                if which == "oras":
                    sample, chosen, sent = timed_oras(server.host, project, pid)
                    oras_runs.append(sample)
                else:
                    setlist_runs.append(cold_resolve(work, project, pid))
            got = locked(project)
            if got != chosen:
                agree = False
                wrong = sorted(k for k in set(got) | set(chosen) if got.get(k) != chosen.get(k))
                print(f"MISMATCH: setlist and the baseline differ for {len(wrong)} images, "
                      f"e.g. {wrong[0]}: setlist {got.get(wrong[0])}, "
                      f"oras {chosen.get(wrong[0])}")
        oras_median = statistics.median(s.wall for s in oras_runs)
        ratio = oras_median / statistics.median(s.wall for s in setlist_runs)
        print(f"baseline, oras-py one at a time   {fmt(oras_runs)}; {sent} requests")
        print(f"setlist resolve, cold (process)   {fmt(setlist_runs)}")
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        print(f"speed-up (baseline / setlist): {ratio:.2f}× "
              f"(target ≥ {TARGET_RATIO:.0f}×: {verdict})")
        registry_cpu = [s.registry_cpu for s in setlist_runs if s.registry_cpu is not None]
        if registry_cpu:
            cores = os.cpu_count() or 1
            floor = statistics.median(registry_cpu) / cores
            print(f"registry-bound floor: the registry spends {statistics.median(registry_cpu):.1f}"
                  f" s of CPU per setlist resolve; on {cores} cores no client finishes in less "
                  f"than {floor:.1f} s (ratio ceiling {oras_median / floor:.1f}×)")
        print(f"choices: setlist and the baseline "
              f"{'agree on every' if agree else 'DISAGREE on some'} image ({len(chosen)})")

        proxy = CountingProxy(server.port).start()
        counted = write_spec(work / "counted", proxy.host, repos)
        cache = fresh_cache(work, counted)
        proxy.take()  # the check contacts no registry, but start from zero anyway
        cold_wall = run_setlist(["resolve", str(counted)], cache).wall
        cold, cold_manifests, cold_blobs = proxy.take()
        again_wall = run_setlist(["resolve", str(counted)], cache).wall
        again, again_manifests, again_blobs = proxy.take()
        print(f"requests the registry received (through a counting proxy; cold "
              f"{cold_wall:.2f} s, second {again_wall:.2f} s):")
        print_counts("cold resolve", cold)
        print_counts("second resolve", again)
        manifests_again = sum(n for d, n in again_manifests.items() if d in cold_manifests)
        blobs_again = sum(n for d, n in again_blobs.items() if d in cold_blobs)
        distinct = len(set(again_manifests) & set(cold_manifests))
        twice = f"{manifests_again} manifest bodies ({distinct} distinct) and {blobs_again} blobs"
        second_ok = manifests_again == 0 and blobs_again == 0
        print(f"second resolve downloaded again: {twice} already fetched by the cold run "
              f"(target 0: {'PASS' if second_ok else 'FAIL'})")
        if not agree:
            return 1
        if args.strict and (ratio < TARGET_RATIO or not second_ok):
            return 1
        return 0
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
