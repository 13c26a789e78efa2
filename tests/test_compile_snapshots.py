"""The whole output tree (path → text) of the examples and of synthetic specs, as written to
an empty checkout, compared with reviewed syrupy snapshots in tests/__snapshots__/.

A change to the output shows up here as a readable diff. When the change is intended, run
`pytest tests/test_compile_snapshots.py --snapshot-update` and read the new snapshot before
committing it.
"""

from __future__ import annotations

import pytest
from schema_util import SYNTHETIC, compile_folder, tree, write_spec

from conftest import EXAMPLES
from setlist.write import MANIFEST, apply, plan_writes


def output_tree(folder, out) -> dict[str, str]:
    _, result = compile_folder(folder)
    plan = plan_writes(result.documents, out)
    assert not plan.problems
    apply(plan, out)
    files = {path: data.decode("utf-8") for path, data in tree(out).items()}
    assert set(files) == {d.path for d in result.documents} | {MANIFEST}
    return files


@pytest.mark.parametrize("example", ["quickstart", "multi-cluster"])
def test_example_output(example, tmp_path, snapshot):
    assert output_tree(EXAMPLES / example, tmp_path / "out") == snapshot


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_output(name, tmp_path, snapshot):
    folder = write_spec(tmp_path / name, SYNTHETIC[name])
    assert output_tree(folder, tmp_path / "out") == snapshot


# ---------------------------------------------------------------- known compiler bugs

COLLIDING = """\
gitops { repo = "https://github.com/example/gitops" }
environment prod {
  clusters = cluster.env == "prod"
  freeze "0 16 * * 5" for 64h
}
environment prod-eu { clusters = cluster.env == "prod-eu" }
environment eu { clusters = cluster.env == "eu" }
app shop { base = "apps/shop/base"; namespace = "shop"; deploy = [prod, prod-eu] }
"""


def test_colliding_names_are_reported():
    from setlist.project import load

    text = COLLIDING + 'app shop-prod { base = "apps/sp/base"; namespace = "sp"; deploy = eu }\n'
    project = load((), overrides={"t.setlist": text})
    assert [(d.code, d.message) for d in project.errors] == [
        ("SL209", "app 'shop-prod' in 'eu' and app 'shop' in 'prod-eu' would both be named "
                  "'shop-prod-eu'")]


def test_a_freeze_covers_only_its_own_environment():
    from fnmatch import fnmatchcase

    from setlist.project import load

    project = load((), overrides={"t.setlist": COLLIDING})
    assert project.ok
    result = project.compile()
    docs = {d.path: d.documents[0] for d in result.documents}
    (window,) = docs["argocd/projects/shop.yaml"]["spec"]["syncWindows"]
    # an Application the prod-eu ApplicationSet generates for a cluster named "c1"
    from setlist.gotemplate import render

    name = render(docs["argocd/applicationsets/shop-prod-eu.yaml"]["spec"]["template"][
        "metadata"]["name"], {"nameNormalized": "c1"}, ["missingkey=error"])
    assert name == "shop-prod-eu.c1"
    warned = any(d.severity.value == "warning" and "freeze" in d.message
                 for d in result.diagnostics)
    assert warned or not any(fnmatchcase(name, p) for p in window["applications"]), \
        f"{name} is frozen by {window['applications']}"
