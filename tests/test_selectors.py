"""Cluster selectors become Argo CD label tests; contradictions are found."""

from __future__ import annotations

import pytest

from setlist import spec as s
from setlist.project import load


def env_spec(clusters: str, extra: str = "") -> tuple[s.Environment | None, list]:
    project = load((), overrides={"t.setlist": f"environment e {{\n  clusters = {clusters}\n"
                                               f"  {extra}\n}}\n"})
    return (project.spec.environment("e") if project.spec else None), project.diagnostics


def label_tests(sel) -> list[tuple[str, str, tuple[str, ...]]]:
    terms = sel.terms if isinstance(sel, (s.SelAnd, s.SelOr)) else (sel,)
    return [(t.key, t.op, t.values) for t in terms]


def test_and_of_equality_membership_and_existence():
    env, diags = env_spec('cluster.env == "prod" and cluster.region in ["us", "eu"] '
                          'and not exists cluster.quarantine')
    assert diags == []
    assert isinstance(env.selector, s.SelAnd)
    assert label_tests(env.selector) == [("env", "==", ("prod",)), ("region", "in", ("eu", "us")),
                                      ("quarantine", "not exists", ())]


def test_negation_is_pushed_down_with_de_morgan():
    env, diags = env_spec('not (cluster.env == "a" or cluster.tier in ["x"])')
    assert diags == []
    assert isinstance(env.selector, s.SelAnd)
    assert label_tests(env.selector) == [("env", "!=", ("a",)), ("tier", "not in", ("x",))]


def test_quoted_label_keys_and_reversed_comparison():
    env, diags = env_spec('"eu" == cluster["topology.kubernetes.io/region"]')
    assert diags == []
    assert label_tests(env.selector) == [("topology.kubernetes.io/region", "==", ("eu",))]


def test_all_selects_every_cluster_and_static_lists_name_clusters():
    env, diags = env_spec("all")
    assert diags == [] and isinstance(env.selector, s.SelAll)
    env, diags = env_spec('["in-cluster", "https://10.0.0.1:6443"]')
    assert diags == [] and env.selector is None
    assert [(c.name, c.server) for c in env.static_clusters] == [
        ("in-cluster", None), (None, "https://10.0.0.1:6443")]


@pytest.mark.parametrize("clusters", [
    'cluster.env == "a" and cluster.env == "b"',
    'cluster.env == "a" and cluster.env != "a"',
    'exists cluster.x and not exists cluster.x',
    'cluster.env in ["a", "b"] and cluster.env not in ["b", "a"]',
    'cluster.env == "a" and not exists cluster.env',
    '(cluster.env == "a" or cluster.env == "b") and cluster.env == "c"',
])
def test_contradictions_warn(clusters):
    env, diags = env_spec(clusters)
    assert [(d.code, d.severity.value) for d in diags] == [("SL600", "warning")]
    assert env is not None  # a warning does not drop the environment


@pytest.mark.parametrize("clusters", [
    'cluster.env == "a" or cluster.env == "b"',
    'cluster.env != "a" and cluster.env != "b"',
    'cluster.env in ["a", "b"] and cluster.env != "a"',
    'not exists cluster.env and cluster.env != "a"',
])
def test_satisfiable_selectors_do_not_warn(clusters):
    _, diags = env_spec(clusters)
    assert diags == []


@pytest.mark.parametrize("clusters, message", [
    ('cluster.env =~ "a"', "'=~' cannot be used in a cluster selector"),
    ('exists "x"', "'exists' needs a cluster label"),
    ('cluster.env in []', "needs at least one value"),
    ('cluster["Bad Key"] == "x"', "Bad Key"),
    ('cluster.env == "has space"', "has space"),
    ('"dev"', "this is not a cluster selector"),
])
def test_invalid_selectors(clusters, message):
    _, diags = env_spec(clusters)
    assert len(diags) == 1, diags
    assert diags[0].code in ("SL601", "SL411", "SL302")
    assert message.lower() in diags[0].message.lower()


def test_rollout_steps():
    env, diags = env_spec('cluster.env == "prod"',
                          'rollout = [cluster.wave == "canary", cluster.wave in ["a"], rest]')
    assert diags == []
    assert isinstance(env.rollout[-1], s.RestStep)
    _, diags = env_spec('all', 'rollout = [cluster.a == "x" or cluster.b == "y", rest]')
    assert [d.code for d in diags] == ["SL601"]
    assert "RollingSync" in diags[0].hints[0]
