"""The Python API: `setlist.load` and the typed spec it returns."""

from __future__ import annotations

import pydantic
import pytest

import setlist
from conftest import EXAMPLES, without_spans, write
from setlist import spec as s
from setlist.diagnostics import Severity
from setlist.project import LoadError, Project

QUICKSTART = EXAMPLES / "quickstart"


@pytest.fixture(scope="module")
def quickstart() -> Project:
    return setlist.load(QUICKSTART)


def test_load_returns_checked_project(quickstart):
    assert isinstance(quickstart, Project)
    assert quickstart.diagnostics == []
    assert quickstart.ok
    assert isinstance(quickstart.spec, s.Spec)
    keys = list(quickstart.files)
    assert len(keys) == 2 and keys[0].endswith("examples/quickstart/setlist.setlist")
    assert keys[1] == "std/sync.setlist"
    assert [f.key for f in quickstart.roots] == [keys[0]]
    assert set(quickstart.sources) == set(keys)


def test_quickstart_gitops_and_registries(quickstart):
    spec = quickstart.spec
    assert spec.gitops.repo == "https://github.com/example/gitops"
    assert spec.gitops.branch == "main"
    assert [(r.name, r.host, r.credentials.source, r.credentials.variable)
            for r in spec.registries] == [
        ("ghcr", "ghcr.io", "docker_config", None),
        ("internal", "registry.example.com:5000", "env", "INTERNAL_REGISTRY_TOKEN"),
    ]


def test_quickstart_images(quickstart):
    spec = quickstart.spec
    assert [(i.name, i.registry, i.host, i.repository) for i in spec.images] == [
        ("api", "ghcr", "ghcr.io", "example/shop-api"),  # "${org}" interpolated
        ("web", "ghcr", "ghcr.io", "example/shop-web"),
        ("reports", "internal", "registry.example.com:5000", "analytics/reports"),
    ]
    api, web, reports = spec.images
    assert (api.strategy.kind, api.strategy.constraint) == ("semver", "^1.4")
    assert (web.strategy.kind, web.strategy.constraint) == ("newest_build", None)
    assert (reports.strategy.kind, reports.strategy.constraint) == ("semver", "~2.3")
    assert api.allow_tags == r"^v?\d+\.\d+\.\d+$"
    assert api.ignore_tags == ("*-debug",)
    assert api.platforms == ("linux/amd64", "linux/arm64")
    assert web.allow_tags == "^main-[0-9a-f]{7}$"
    assert api.reference == "ghcr.io/example/shop-api"
    assert spec.image("reports") is reports


def test_quickstart_environment_selectors(quickstart):
    spec = quickstart.spec
    assert [e.name for e in spec.environments] == ["dev", "staging", "prod"]
    dev = spec.environment("dev")
    assert isinstance(dev.selector, s.LabelTest)
    assert (dev.selector.key, dev.selector.op, dev.selector.values) == ("env", "==", ("dev",))
    assert (dev.selector.span.line, dev.selector.span.column) == \
        (_line_of(quickstart, 'clusters = cluster.env == "dev"'), 14)

    staging = spec.environment("staging").selector
    assert isinstance(staging, s.SelAnd)
    assert [(t.key, t.op, t.values) for t in staging.terms] == [
        ("env", "==", ("staging",)),
        ("region", "in", ("eu-west-1", "us-east-1")),
    ]

    prod = spec.environment("prod")
    assert isinstance(prod.selector, s.SelAnd)
    assert all(isinstance(t, s.LabelTest) for t in prod.selector.terms)
    assert [(t.key, t.op, t.values) for t in prod.selector.terms] == [
        ("env", "==", ("prod",)),
        ("quarantine", "not exists", ()),
    ]
    assert prod.writeback == "pull_request"
    assert dev.writeback == "direct"
    first, rest = prod.rollout
    assert isinstance(first, s.LabelTest) and (first.key, first.op, first.values) == \
        ("canary", "==", ("true",))
    assert isinstance(rest, s.RestStep)


def test_quickstart_freeze_window(quickstart):
    prod = quickstart.spec.environment("prod")
    (freeze,) = prod.freezes
    assert freeze.cron == "0 16 * * 5"
    assert freeze.duration_seconds == 64 * 3600
    assert freeze.timezone == "Europe/Berlin"
    assert (freeze.span.line, freeze.span.column) == (_line_of(quickstart, 'freeze "0 16'), 3)
    assert quickstart.spec.environment("dev").freezes == ()


def test_quickstart_promotions(quickstart):
    promotions = {p.image: p for p in quickstart.spec.promotions}
    assert list(promotions) == ["api", "web", "reports"]
    assert [(st.env, st.source, st.after_seconds, st.approval)
            for st in promotions["api"].stages] == [
        ("dev", "registry", 0, False),
        ("staging", "dev", 2 * 3600, False),
        ("prod", "staging", 24 * 3600, True),
    ]
    assert [(st.env, st.source, st.after_seconds, st.approval)
            for st in promotions["reports"].stages] == [
        ("dev", "registry", 0, False),
        ("prod", "dev", 3 * 86400, True),
    ]
    assert promotions["web"].stages[1].after_seconds == 3600


def test_quickstart_apps_and_std_sync_presets(quickstart):
    shop = quickstart.spec.app("shop")
    assert shop.namespace == "shop"
    assert shop.deploy == ("dev", "staging", "prod")
    assert [(i.image, i.alias) for i in shop.images] == [("api", None), ("web", "shop-web")]
    assert shop.labels == (("team", "storefront"),)
    # sync.auto_retry from std/sync
    assert without_spans(shop.sync) == without_spans(s.SyncPolicy(
        automated=True, prune=True, self_heal=True, allow_empty=False,
        options=("CreateNamespace=true",),
        retry=s.Retry(limit=5, backoff_seconds=5, factor=2, max_seconds=180)))
    # the span of a preset is where std/sync states it
    assert shop.sync.span.file == "std/sync.setlist"
    analytics = quickstart.spec.app("analytics")
    # sync.manual_only from std/sync
    assert without_spans(analytics.sync) == without_spans(s.SyncPolicy(
        automated=False, prune=False, self_heal=False, options=("CreateNamespace=true",),
        retry=None))
    assert analytics.deploy == ("dev", "prod")


def test_spec_is_frozen(quickstart):
    with pytest.raises(pydantic.ValidationError):
        quickstart.spec.apps[0].namespace = "other"  # type: ignore[misc]


def test_load_default_is_current_directory(tmp_path, monkeypatch):
    write(tmp_path / "x.setlist", "const a = 1\nconst a = 2\n")
    monkeypatch.chdir(tmp_path)
    project = setlist.load()
    assert list(project.files) == ["x.setlist"]
    assert [str(d) for d in project.diagnostics] == \
        ["x.setlist:2:7: error[SL201]: const 'a' is declared twice"]


def test_load_several_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a" / "one.setlist", "const a = 1\n")
    write(tmp_path / "b" / "two.setlist", "const b = a\n")
    write(tmp_path / "c" / "three.setlist", "const a = 3\n")
    project = setlist.load("a", "b/two.setlist")
    assert list(project.files) == ["a/one.setlist", "b/two.setlist"]
    assert project.diagnostics == []


def test_diagnostics_sorted_by_file_line_column(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "b.setlist", """\
import "./lib" as unused
environment dev { clusters = cluster.env == "dev" }
app shop { base = "apps/shop" namespace = "shop" deploy = [qa, dev, stage] }
""")
    write(tmp_path / "a.setlist", "const a = 1\nconst a = 2\nimport \"./gone\"\n")
    write(tmp_path / "lib.setlist", "const x = 1\n")
    project = setlist.load(".")
    got = [(d.span.file, d.span.line, d.span.column, d.code, d.severity)
           for d in project.diagnostics]
    assert got == [
        ("a.setlist", 2, 7, "SL201", Severity.ERROR),
        ("a.setlist", 3, 8, "SL204", Severity.ERROR),
        ("b.setlist", 1, 19, "SL207", Severity.WARNING),
        ("b.setlist", 3, 60, "SL200", Severity.ERROR),
        ("b.setlist", 3, 69, "SL200", Severity.ERROR),
    ]
    assert got == sorted(got, key=lambda t: t[:3])
    assert [d.code for d in project.errors] == ["SL201", "SL204", "SL200", "SL200"]
    assert [d.code for d in project.warnings] == ["SL207"]
    assert not project.ok


def test_load_missing_path_raises_load_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LoadError) as info:
        setlist.load("absent")
    assert str(info.value) == "absent: no such file or directory"
    # A bad path among good ones still fails: the invocation is wrong.
    write(tmp_path / "ok.setlist", "const a = 1\n")
    with pytest.raises(LoadError):
        setlist.load("ok.setlist", "absent/")


def test_load_overrides_via_public_api(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "main.setlist", "const a = 1\n")
    project = setlist.load(".", overrides={"main.setlist": "const a = \n"})
    assert project.sources == {"main.setlist": "const a = \n"}
    assert [(d.span.file, d.span.line, d.code) for d in project.diagnostics] == \
        [("main.setlist", 1, "SL104")]
    # The file on disk is untouched and a later load without overrides sees it.
    assert setlist.load(".").diagnostics == []


def test_load_with_only_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = setlist.load(".", overrides={"buffer.setlist": "const a = 1\nconst a = 2\n"})
    assert list(project.files) == ["buffer.setlist"]
    assert project.files["buffer.setlist"].is_root
    assert [str(d) for d in project.diagnostics] == \
        ["buffer.setlist:2:7: error[SL201]: const 'a' is declared twice"]


def _line_of(project, needle: str) -> int:
    """The 1-based line of the quickstart holding ``needle`` (the example may grow)."""
    (text,) = [t for k, t in project.sources.items() if k.startswith("examples/")]
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)
