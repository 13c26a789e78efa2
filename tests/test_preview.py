"""`setlist preview`: the Applications the ApplicationSet controller would generate, offline."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

import setlist
from conftest import EXAMPLES, ROOT, write
from setlist.compile import compile_plan
from setlist.compile.documents import Document
from setlist.inventory import (
    Cluster,
    InventoryError,
    parse_inventory,
    read_inventory,
)
from setlist.plan import plan_from_pins
from setlist.preview import (
    IN_CLUSTER_NAME,
    RENDERERS,
    SelectorError,
    TemplateError,
    cluster_params,
    local_cluster_params,
    preview,
    render_go,
    selector_matches,
)
from setlist.values import name_normalized

DATA = ROOT / "tests" / "data" / "clusters"
SIMPLE = DATA / "simple.yaml"
SECRETS = DATA / "secrets.yaml"
MANIFESTS = DATA / "manifests.yaml"
TOKEN = "sl-test-bearer-7f3a9c2e51d04b8a"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"

GITOPS = 'gitops { repo = "https://github.com/example/gitops" }\n'

# One app per environment, so that each ApplicationSet shows what one selector selects.
SELECTORS = {
    "eq": 'cluster.env == "prod"',
    "ne": 'cluster.env != "prod"',
    "isin": 'cluster.region in ["eu-west-1", "us-east-1"]',
    "notin": 'cluster.region not in ["eu-west-1"]',
    "has": "exists cluster.canary",
    "hasnot": "not exists cluster.quarantine",
    "both": 'cluster.env == "prod" and cluster.region == "eu-west-1"',
    "either": 'cluster.env == "dev" or cluster.region == "eu-west-1"',
    "every": "all",
}


def selector_spec(selectors: dict[str, str]) -> str:
    parts = [GITOPS]
    for env, sel in selectors.items():
        parts.append(f"environment {env} {{ clusters = {sel} }}\n")
        parts.append(f'app a{env} {{\n  base = "apps/a"\n  namespace = "a"\n'
                     f"  deploy = [{env}]\n}}\n")
    return "".join(parts)


def compiled(folder: Path, text: str | None = None) -> list[Document]:
    if text is not None:
        write(folder / "spec.setlist", text)
    project = setlist.load(folder)
    assert project.ok, [str(d) for d in project.diagnostics]
    result = compile_plan(plan_from_pins(project.spec))
    assert result.ok, result.diagnostics
    return result.documents


def selected(result) -> dict[str, list[str]]:
    return {item.name: sorted(a.cluster for a in item.applications) for item in result.items}


def issues(result, kind: str) -> list[str]:
    return [i.message for i in result.issues if i.kind == kind]


def appset_doc(template_labels: dict[str, str], generators: list[dict],
               name: str = "x-prod") -> Document:
    return Document(f"argocd/applicationsets/{name}.yaml", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": "argocd",
                     "labels": {"setlist.dev/app": "x", "setlist.dev/env": "prod"}},
        "spec": {"goTemplate": True, "goTemplateOptions": ["missingkey=error"],
                 "generators": generators,
                 "template": {"metadata": {"name": name + "-{{.nameNormalized}}",
                                           "labels": template_labels},
                              "spec": {"project": "x",
                                       "source": {"repoURL": "https://g", "path": "p"},
                                       "destination": {"server": "{{.server}}",
                                                       "namespace": "x"}}}}})


# ---------------------------------------------------------------- selectors


def test_every_selector_operator(tmp_path):
    result = preview(compiled(tmp_path, selector_spec(SELECTORS)), read_inventory(SIMPLE))
    assert selected(result) == {
        "aeq-eq": ["prod-eu-1", "prod-us-1"],
        # != and not in also select clusters without the label
        "ane-ne": ["bare", "dev", "staging-eu"],
        "aisin-isin": ["prod-eu-1", "prod-us-1", "staging-eu"],
        "anotin-notin": ["bare", "dev", "prod-us-1"],
        "ahas-has": ["prod-eu-1"],
        "ahasnot-hasnot": ["bare", "dev", "prod-eu-1", "prod-us-1"],
        "aboth-both": ["prod-eu-1"],
        # `or` compiles to disjoint generators: each cluster once, no duplicate names
        "aeither-either": ["dev", "prod-eu-1", "staging-eu"],
        # the empty selector: every cluster, and the local one (it has no Secret here)
        "aevery-every": ["bare", "dev", IN_CLUSTER_NAME, "prod-eu-1", "prod-us-1",
                         "staging-eu"],
    }
    assert not result.issues, result.issues
    either = next(d for d in compiled(tmp_path) if d.path.endswith("aeither-either.yaml"))
    assert len(either.content["spec"]["generators"]) == 2


def test_selector_matches_kubernetes_semantics():
    labels = {"env": "prod", "region": "eu"}
    assert selector_matches({}, labels)
    assert selector_matches({"matchLabels": {"env": "prod"},
                             "matchExpressions": [{"key": "region", "operator": "In",
                                                   "values": ["eu", "us"]}]}, labels)
    # matchLabels and matchExpressions are ANDed
    assert not selector_matches({"matchLabels": {"env": "prod"},
                                 "matchExpressions": [{"key": "tier",
                                                       "operator": "Exists"}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn",
                                                   "values": ["edge"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "tier",
                                                   "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "env", "operator": "NotIn",
                                                       "values": ["prod"]}]}, labels)
    for bad in ({"matchExpressions": [{"key": "env", "operator": "In", "values": []}]},
                {"matchExpressions": [{"key": "env", "operator": "Exists", "values": ["a"]}]},
                {"matchExpressions": [{"key": "env", "operator": "Gt", "values": ["1"]}]},
                {"matchLabels": {"bad key!": "x"}}):
        with pytest.raises(SelectorError):
            selector_matches(bad, labels)


def test_invalid_selector_fails_the_application_set():
    gen = [{"clusters": {"selector": {"matchExpressions": [
        {"key": "env", "operator": "In", "values": []}]}}}]
    result = preview([appset_doc({}, gen)], read_inventory(SIMPLE))
    assert result.items[0].failed and not result.items[0].applications
    assert "values set can't be empty" in issues(result, "selector-error")[0]
    assert not issues(result, "no-cluster")


# ---------------------------------------------------------------- the local cluster


def test_local_cluster_only_with_the_empty_selector(tmp_path):
    docs = compiled(tmp_path, selector_spec({"every": "all", "eq": 'cluster.env == "prod"',
                                             "ne": 'cluster.env != "nope"'}))
    result = preview(docs, read_inventory(SIMPLE))
    sel = selected(result)
    assert IN_CLUSTER_NAME in sel["aevery-every"]
    # NotIn matches clusters without the label, but the local cluster has no Secret at all
    assert IN_CLUSTER_NAME not in sel["ane-ne"]
    local = next(a for i in result.items for a in i.applications
                 if a.cluster == IN_CLUSTER_NAME)
    assert local.name == "aevery-every.in-cluster"
    assert local.server == IN_CLUSTER_SERVER


def test_in_cluster_secret_replaces_the_local_cluster(tmp_path):
    docs = compiled(tmp_path, selector_spec({"every": "all", "mgmt": 'cluster.env == "mgmt"',
                                             "eq": 'cluster.env == "prod"'}))
    result = preview(docs, read_inventory(SECRETS))
    sel = selected(result)
    # exported Secrets include one for https://kubernetes.default.svc (named in-cluster):
    # it is used, with its labels, instead of the Secret-less local cluster, exactly once
    assert sel["aevery-every"].count(IN_CLUSTER_NAME) == 1
    assert len(sel["aevery-every"]) == 5
    # ... and a label selector can select it
    assert sel["amgmt-mgmt"] == [IN_CLUSTER_NAME]
    assert sel["aeq-eq"] == ["Prod_EU.1", "prod-us-1"]


def rollout_spec(selector: str) -> str:
    return (GITOPS + f"environment fleet {{\n  clusters = {selector}\n"
            '  rollout = [cluster.canary == "true", rest]\n}\n'
            'app shop {\n  base = "apps/shop"\n  namespace = "shop"\n  deploy = [fleet]\n}\n')


def test_rollout_label_of_the_local_cluster_is_empty(tmp_path):
    # The local cluster without a Secret has no `metadata` parameter at all: the label
    # template must not fail there (missingkey=error would fail the whole ApplicationSet).
    result = preview(compiled(tmp_path, rollout_spec("all")),
                     read_inventory(SIMPLE))
    assert not issues(result, "template-error"), result.issues
    [item] = result.items
    assert not item.failed
    apps = {a.cluster: a for a in item.applications}
    assert set(apps) == {IN_CLUSTER_NAME, "bare", "dev", "prod-eu-1", "prod-us-1",
                         "staging-eu"}
    assert apps[IN_CLUSTER_NAME].labels["canary"] == ""
    assert apps[IN_CLUSTER_NAME].name == "shop-fleet.in-cluster"
    # a cluster with the label gets its value, one without it ""
    assert apps["prod-eu-1"].labels["canary"] == "true"
    assert apps["dev"].labels["canary"] == ""
    assert "canary=true" in RENDERERS["table"](result)


def test_rollout_label_of_a_cluster_without_labels(tmp_path):
    # `not exists` selects clusters that have no labels of their own ("bare" only has the
    # secret-type label every cluster Secret has)
    result = preview(compiled(tmp_path, rollout_spec("not exists cluster.x")),
                     read_inventory(SIMPLE))
    assert not result.issues, result.issues
    [item] = result.items
    assert not item.failed
    apps = {a.cluster: a for a in item.applications}
    assert IN_CLUSTER_NAME not in apps
    assert apps["bare"].labels["canary"] == ""
    assert apps["prod-eu-1"].labels["canary"] == "true"


def test_rollout_label_template_on_every_shape_of_parameters(tmp_path):
    docs = compiled(tmp_path, rollout_spec("all"))
    [appset] = [d for d in docs if d.path.endswith("shop-fleet.yaml")]
    template = appset.content["spec"]["template"]["metadata"]["labels"]["canary"]
    options = appset.content["spec"]["goTemplateOptions"]
    assert options == ["missingkey=error"]
    shapes = {
        "local cluster": local_cluster_params(),
        # a Secret without any label nor annotation: metadata is an empty map
        "no labels": cluster_params(Cluster(name="a", server="https://a")),
        # annotations only: metadata has no "labels" key
        "annotations only": cluster_params(Cluster(name="a", server="https://a",
                                                   annotations={"team": "x"})),
        "other labels": cluster_params(Cluster(name="a", server="https://a",
                                               labels={"env": "prod"})),
    }
    assert "metadata" not in shapes["local cluster"]
    assert shapes["no labels"]["metadata"] == {}
    for what, params in shapes.items():
        assert render_go(template, params, options) == "", what
    labelled = cluster_params(Cluster(name="a", server="https://a", labels={"canary": "true"}))
    assert render_go(template, labelled, options) == "true"
    # the old template failed for the local cluster
    with pytest.raises(TemplateError, match='map has no entry for key "metadata"'):
        render_go('{{index .metadata.labels "canary"}}', local_cluster_params(), options)


# ---------------------------------------------------------------- exported Secrets


def all_outputs(result) -> str:
    return "".join(render(result) for render in RENDERERS.values())


def test_exported_secret_list(tmp_path):
    inv = read_inventory(SECRETS)
    assert inv.format == "secrets"
    by_name = {c.name: c for c in inv.clusters}
    eu = by_name["Prod_EU.1"]
    assert eu.server == "https://prod-eu-1.k8s.example.com"
    assert eu.project == "shop"
    assert eu.labels["env"] == "prod"
    assert eu.annotations["team"] == "platform"
    docs = compiled(tmp_path, selector_spec({"eq": 'cluster.env == "prod"'}))
    result = preview(docs, inv)
    [item] = result.items
    names = sorted(a.name for a in item.applications)
    assert names == ["aeq-eq.prod-eu.1", "aeq-eq.prod-us-1"]
    eu_app = next(a for a in item.applications if a.cluster == "Prod_EU.1")
    assert eu_app.labels["setlist.dev/cluster"] == "prod-eu.1"
    assert eu_app.namespace == "a" and eu_app.path == "apps/aeq/overlays/eq"


def test_credentials_never_appear(tmp_path):
    config = base64.b64encode(TOKEN.encode()).decode()[:16]
    docs = compiled(tmp_path, selector_spec({"every": "all"}))
    for path in (SECRETS, MANIFESTS):
        text = path.read_text()
        assert TOKEN in text or "config:" in text
        inv = read_inventory(path)
        out = all_outputs(preview(docs, inv)) + repr(inv)
        assert TOKEN not in out and config not in out and "bearerToken" not in out
        assert "config" not in repr(inv)


def test_manifests_string_data_and_skipped_secrets(tmp_path):
    inv = read_inventory(MANIFESTS)
    assert [c.name for c in inv.clusters] == ["Edge 1 (Berlin)", "edge-2"]
    edge1 = inv.clusters[0]
    assert edge1.server == "https://edge-1.example.net:6443" and edge1.project == "edge"
    # stringData wins over data for the same key
    assert inv.clusters[1].name == "edge-2"
    # the repository Secret is skipped: the cluster generator never lists it
    [warning] = inv.warnings
    assert "repo-creds: skipped, not labelled argocd.argoproj.io/secret-type=cluster" in warning
    docs = compiled(tmp_path, selector_spec({"edge": 'cluster.tier == "edge"',
                                             "every": "all"}))
    result = preview(docs, inv)
    sel = selected(result)
    assert sel["aedge-edge"] == ["Edge 1 (Berlin)", "edge-2"]
    assert sel["aevery-every"] == ["Edge 1 (Berlin)", "edge-2", IN_CLUSTER_NAME]
    assert "aedge-edge.edge-1--berlin" in {a.name for i in result.items
                                           for a in i.applications}


def test_single_secret_and_format_detection():
    one = read_inventory(DATA / "single-secret.yaml")
    assert one.format == "secrets" and [c.name for c in one.clusters] == ["lab"]
    simple = parse_inventory("- name: a\n  server: https://a\n  labels: {canary: true}\n")
    assert simple.format == "simple"
    assert simple.clusters[0].labels == {"canary": "true",
                                         "argocd.argoproj.io/secret-type": "cluster"}
    for bad in ("just text", "kind: ConfigMap\nmetadata: {name: x}\n", "a: 1\n",
                "- name: a\n  server: https://a\n  label: {x: y}\n", "- name: a\n",
                "[unclosed", "",
                "kind: Secret\nmetadata: {name: s, labels: "
                "{argocd.argoproj.io/secret-type: cluster}}\ndata: {server: '%%'}\n"):
        with pytest.raises(InventoryError):
            parse_inventory(bad, "inv.yaml")
    with pytest.raises(InventoryError, match="not a cluster inventory"):
        read_inventory(DATA / "not-an-inventory.yaml")
    with pytest.raises(InventoryError, match="no such file"):
        read_inventory(DATA / "missing.yaml")


# ---------------------------------------------------------------- nameNormalized


@pytest.mark.parametrize(("name", "normalized"), [
    ("prod-eu-1", "prod-eu-1"),
    ("Prod_EU.1", "prod-eu.1"),
    ("Edge 1 (Berlin)", "edge-1--berlin"),
    ("--Lab..", "lab"),
    (".-x-.", "x"),
    ("https://10.0.0.1:6443", "https---10.0.0.1-6443"),
    ("ümlaut", "mlaut"),
    ("\u0130stanbul", "istanbul"),   # Go's simple case mapping: İ -> i
    ("\u212aelvin", "kelvin"),       # KELVIN SIGN lower-cases to ASCII k
    ("a" * 300, "a" * 253),
    ("a" * 252 + "-b", "a" * 252),  # cut to 253 first, then trimmed
    ("", ""),
])
def test_name_normalized(name, normalized):
    # one implementation, shared with the compiler (static Applications' names)
    assert name_normalized(name) == normalized
    if name:
        inv = parse_inventory(f"- {{name: {json.dumps(name)}, server: 'https://x'}}\n")
        assert cluster_params(inv.clusters[0])["nameNormalized"] == normalized


def test_odd_cluster_names_in_application_names():
    inv = parse_inventory("- {name: 'Edge 1 (Berlin)', server: 'https://e', labels: {t: e}}\n"
                          "- {name: '--Lab..', server: 'https://l', labels: {t: e}}\n")
    gen = [{"clusters": {"selector": {"matchLabels": {"t": "e"}}}}]
    result = preview([appset_doc({"c": "{{.nameNormalized}}"}, gen)], inv)
    assert sorted(a.name for a in result.items[0].applications) == [
        "x-prod-edge-1--berlin", "x-prod-lab"]


# ---------------------------------------------------------------- warnings


def test_environment_selecting_no_cluster(tmp_path):
    docs = compiled(tmp_path, selector_spec({"qa": 'cluster.env == "qa"'}))
    result = preview(docs, read_inventory(SIMPLE))
    assert selected(result) == {"aqa-qa": []}
    [message] = issues(result, "no-cluster")
    assert "environment 'qa' selects no cluster" in message


def test_double_deployment(tmp_path):
    spec = (GITOPS + 'environment prod { clusters = cluster.env == "prod" }\n'
            'environment canary { clusters = exists cluster.canary }\n'
            'app shop {\n  base = "apps/shop"\n  namespace = "shop"\n'
            "  deploy = [prod, canary]\n}\n")
    result = preview(compiled(tmp_path, spec), read_inventory(SIMPLE))
    [message] = issues(result, "double-deployment")
    assert "app 'shop'" in message and "'prod-eu-1'" in message
    assert "canary, prod" in message


def test_duplicate_application_names():
    inv = parse_inventory("- {name: Prod_EU, server: 'https://1', labels: {env: prod}}\n"
                          "- {name: prod-eu, server: 'https://2', labels: {env: prod}}\n")
    gen = [{"clusters": {"selector": {"matchLabels": {"env": "prod"}}}}]
    result = preview([appset_doc({}, gen)], inv)
    [message] = issues(result, "duplicate-name")
    assert "2 Applications named 'x-prod-prod-eu'" in message
    assert "duplicate name" in message


def test_duplicate_cluster_names_in_inventory():
    inv = parse_inventory("- {name: a, server: 'https://1'}\n- {name: a, server: 'https://2'}\n")
    assert any("also used by" in w for w in inv.warnings)
    gen = [{"clusters": {"selector": {"matchExpressions": [{"key": "x",
                                                            "operator": "DoesNotExist"}]}}}]
    result = preview([appset_doc({}, gen)], inv)
    # the controller keys Secrets by cluster name: one Application, not two
    assert [a.server for a in result.items[0].applications] == ["https://2"]


def test_missing_key_is_a_problem_not_a_traceback():
    gen = [{"clusters": {"selector": {"matchLabels": {"env": "dev"}}}}]
    doc = appset_doc({"team": "{{.metadata.annotations.team}}"}, gen)
    result = preview([doc], read_inventory(SIMPLE))
    [message] = issues(result, "template-error")
    assert "cluster 'dev'" in message and 'no entry for key "annotations"' in message
    assert result.items[0].failed


def test_template_errors_are_issues_not_tracebacks():
    gen = [{"clusters": {"selector": {"matchLabels": {"env": "dev"}}}}]
    for text, message in [("{{ .name | upper }}", "unsupported function 'upper'"),
                          ("{{if .name}}x", "has no {{end}}"),
                          ("{{range .metadata}}{{end}}", "unsupported")]:
        result = preview([appset_doc({"t": text}, gen)], read_inventory(SIMPLE))
        [problem] = issues(result, "template-error")
        assert message in problem, problem
        assert result.items[0].failed


# ---------------------------------------------------------------- static clusters, output


def test_static_clusters_shown_as_they_are(tmp_path):
    spec = (GITOPS
            + 'environment lab { clusters = ["in-cluster", "https://lab.example.com:6443"] }\n'
            'environment dev { clusters = cluster.env == "dev" }\n'
            'app shop {\n  base = "apps/shop"\n  namespace = "shop"\n  deploy = [lab, dev]\n}\n')
    result = preview(compiled(tmp_path, spec), read_inventory(DATA / "single-secret.yaml"))
    lab = next(i for i in result.items if i.env == "lab")
    assert lab.kind == "Application"
    assert {(a.cluster, a.server) for a in lab.applications} == {
        (IN_CLUSTER_NAME, IN_CLUSTER_SERVER), ("lab", "https://lab.example.com:6443")}
    assert not issues(result, "unknown-cluster")
    result = preview(compiled(tmp_path), [])
    assert len(issues(result, "unknown-cluster")) == 1


def test_filters_and_deterministic_output():
    docs = compiled(EXAMPLES / "quickstart")
    inv = read_inventory(SIMPLE)
    result = preview(docs, inv, app="shop", env="prod")
    assert [i.name for i in result.items] == ["shop-prod"]
    assert [a.name for a in result.items[0].applications] == ["shop-prod.prod-eu-1",
                                                             "shop-prod.prod-us-1"]
    again = preview(compiled(EXAMPLES / "quickstart"), read_inventory(SIMPLE),
                    app="shop", env="prod")
    for render in RENDERERS.values():
        assert render(result) == render(again)
    data = json.loads(RENDERERS["json"](result))
    app = data["items"][0]["applications"][0]
    assert list(app) == ["name", "cluster", "server", "namespace", "project", "path", "labels"]
    assert app["labels"]["setlist.dev/cluster"] == "prod-eu-1"
    table = RENDERERS["table"](result)
    assert "shop-prod.prod-eu-1" in table and "canary=true" in table


def test_cluster_objects_hold_no_config():
    assert set(Cluster.__dataclass_fields__) == {"name", "server", "project", "labels",
                                                 "annotations", "origin", "namespace"}


# ---------------------------------------------------------------- the command


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "setlist", "preview", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_table():
    proc = run("examples/quickstart", "--clusters", str(SIMPLE))
    assert proc.returncode == 0, proc.stderr
    assert "ApplicationSet shop-prod" in proc.stdout
    assert "shop-prod.prod-eu-1" in proc.stdout
    assert "warning:" not in proc.stdout


def test_cli_json_yaml_and_filters():
    proc = run("examples/quickstart", "--clusters", str(SECRETS), "--format", "json",
               "--app", "shop", "--env", "prod")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [i["name"] for i in data["items"]] == ["shop-prod"]
    assert TOKEN not in proc.stdout + proc.stderr
    proc = run("examples/quickstart", "--clusters", str(SECRETS), "--format", "yaml")
    assert proc.returncode == 0, proc.stderr
    assert "items:" in proc.stdout and TOKEN not in proc.stdout + proc.stderr


def test_cli_warnings_go_to_stderr(tmp_path):
    write(tmp_path / "spec.setlist", selector_spec({"qa": 'cluster.env == "qa"'}))
    proc = run(str(tmp_path), "--clusters", str(SIMPLE))
    assert proc.returncode == 0, proc.stderr
    assert "environment 'qa' selects no cluster" in proc.stderr
    assert "selects no cluster" not in proc.stdout


@pytest.mark.parametrize(("inventory", "message"), [
    ("missing.yaml", "no such file"),
    ("not-an-inventory.yaml", "not a cluster inventory"),
])
def test_cli_bad_inventory(inventory, message):
    proc = run("examples/quickstart", "--clusters", str(DATA / inventory))
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_cli_usage_errors(tmp_path):
    assert run("examples/quickstart").returncode == 2          # --clusters is required
    proc = run("examples/quickstart", "--clusters", str(SIMPLE), "--app", "nope")
    assert proc.returncode == 2 and "nope" in proc.stderr
    proc = run(str(tmp_path / "nowhere"), "--clusters", str(SIMPLE))
    assert proc.returncode == 2


def test_cli_spec_errors(tmp_path):
    write(tmp_path / "spec.setlist", GITOPS + "app shop { deploy = [nowhere] }\n")
    proc = run(str(tmp_path), "--clusters", str(SIMPLE))
    assert proc.returncode == 1
    assert "error[" in proc.stderr + proc.stdout


# ---------------------------------------------------------------- long cluster names


def test_long_cluster_names_give_valid_labels_and_names(tmp_path):
    eks = "0123456789abcdef0123456789abcdef.gr7.eu-west-1.eks.amazonaws.com"
    long_name = "edge-" + "x" * 250   # nameNormalized keeps 253 characters
    inv = parse_inventory(
        f"- {{name: '{eks}', server: 'https://1', labels: {{env: prod}}}}\n"
        f"- {{name: '{eks}:8443', server: 'https://2', labels: {{env: prod}}}}\n"
        f"- {{name: '{long_name}', server: 'https://3', labels: {{env: prod}}}}\n"
        "- {name: prod-eu-1, server: 'https://4', labels: {env: prod}}\n")
    docs = compiled(tmp_path, selector_spec({"prod": 'cluster.env == "prod"'}))
    result = preview(docs, inv)
    (item,) = result.items
    assert not item.failed and not issues(result, "invalid-label")
    got = {a.cluster: (a.name, a.labels["setlist.dev/cluster"]) for a in item.applications}
    assert got == {
        eks: (f"aprod-prod.{eks}", eks[:63]),
        f"{eks}:8443": (f"aprod-prod.{eks}-8443", eks[:63]),
        long_name: (f"aprod-prod.{long_name[:242]}", long_name[:63]),
        "prod-eu-1": ("aprod-prod.prod-eu-1", "prod-eu-1"),
    }
    assert all(len(name) <= 253 for name, _ in got.values())
    [message] = issues(result, "label-collision")
    assert message == (
        f"ApplicationSet aprod-prod: clusters '{eks}' and '{eks}:8443' both get the label "
        f"setlist.dev/cluster={eks[:63]} (label values hold at most 63 characters, so longer "
        "cluster names are cut); the label does not tell their Applications apart")


def test_cluster_names_that_make_invalid_application_names_are_invalid_name(tmp_path):
    inv = parse_inventory("".join(
        f"- {{name: '{n}', server: 'https://{i}', labels: {{env: prod}}}}\n"
        for i, n in enumerate(["a..b", "a.-b", "...", "_edge", "Prod_EU.1"])))
    docs = compiled(tmp_path, selector_spec({"prod": 'cluster.env == "prod"'}))
    result = preview(docs, inv)
    names = {a.cluster: a.name for item in result.items for a in item.applications}
    assert names["_edge"] == "aprod-prod.edge" and names["Prod_EU.1"] == "aprod-prod.prod-eu.1"
    found = issues(result, "invalid-name")
    assert len(found) == 3
    for cluster in ("a..b", "a.-b", "..."):
        [message] = [m for m in found if f"for cluster '{cluster}'" in m]
        assert message.startswith(f"ApplicationSet aprod-prod: the Application name "
                                  f"'{names[cluster]}'")
        assert message.endswith("is not a valid Kubernetes name (the name "
                                f"'{names[cluster]}' must start and end with a letter or "
                                "digit (also on both sides of each '.')); Kubernetes "
                                "rejects the Application")


def test_uncut_cluster_label_is_invalid_label():
    inv = parse_inventory(f"- {{name: '{'a' * 70}', server: 'https://1', labels: {{t: e}}}}\n")
    gen = [{"clusters": {"selector": {"matchLabels": {"t": "e"}}}}]
    result = preview([appset_doc({"c": "{{.nameNormalized}}"}, gen)], inv)
    [message] = issues(result, "invalid-label")
    assert "label c='" + "a" * 70 + "' is not a valid label value" in message


# ---------------------------------------------------------------- failing templates


def test_template_error_names_the_document_field_and_cluster():
    gen = [{"clusters": {"selector": {"matchLabels": {"env": "dev"}}}}]
    doc = appset_doc({"team": "{{.metadata.annotations.team}}"}, gen)
    result = preview([doc], read_inventory(SIMPLE))
    [message] = issues(result, "template-error")
    assert message == (
        "ApplicationSet x-prod (argocd/applicationsets/x-prod.yaml), generator 1: the template "
        'spec.template.metadata.labels.team = "{{.metadata.annotations.team}}" does not '
        "render for cluster 'dev': map has no entry for key \"annotations\" in "
        "{{.metadata.annotations.team}}; the controller generates no Application of x-prod")
    # what preview cannot evaluate is not said to fail in the controller
    doc = appset_doc({"setlist.dev/x": "{{.name | upper}}"}, gen)
    [message] = issues(preview([doc], read_inventory(SIMPLE)), "template-error")
    assert 'spec.template.metadata.labels["setlist.dev/x"]' in message
    assert message.endswith("preview cannot evaluate it, so it cannot tell what the "
                            "controller makes of it")


TEMPLATED_ANNOTATION = (GITOPS + 'environment dev { clusters = cluster.env == "dev" }\n'
                        'app shop {\n  base = "apps/shop"\n  namespace = "shop"\n'
                        '  deploy = [dev]\n'
                        '  annotations = {"team": "{{.metadata.annotations.team}}"}\n}\n')


def test_cli_fails_when_a_template_fails(tmp_path):
    write(tmp_path / "spec.setlist", TEMPLATED_ANNOTATION)
    proc = run(str(tmp_path), "--clusters", str(SIMPLE))
    assert proc.returncode == 1, proc.stderr
    assert "ApplicationSet shop-dev" in proc.stdout    # the preview is still printed
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(
        "setlist: error: ApplicationSet shop-dev (argocd/applicationsets/shop-dev.yaml), "
        "generator 1: the template spec.template.metadata.annotations.team = "
        '"{{.metadata.annotations.team}}" does not render for cluster \'dev\'')
    assert lines[-1] == ("setlist: error: preview failed: 1 ApplicationSet cannot be "
                         "expanded for this inventory: shop-dev "
                         "(argocd/applicationsets/shop-dev.yaml)")
    assert "Traceback" not in proc.stderr
    # a cluster with the annotation renders: nothing fails
    inv = tmp_path / "inv.yaml"
    inv.write_text("- {name: dev, server: 'https://d', labels: {env: dev}, "
                   "annotations: {team: a}}\n", encoding="utf-8")
    proc = run(str(tmp_path), "--clusters", str(inv), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (app,) = json.loads(proc.stdout)["items"][0]["applications"]
    assert app["name"] == "shop-dev.dev"
