"""Checker behaviours that span passes: constants standing for declarations, module
references in promotions, defaults that must match Argo CD Image Updater."""

from __future__ import annotations

from conftest import write
from setlist.project import load

ENVS = 'environment dev { clusters = cluster.env == "dev" }\n' \
       'environment prod { clusters = cluster.env == "prod" }\n'


def check(text: str):
    project = load((), overrides={"t.setlist": text})
    return project, [(d.code, d.span.line, d.span.column, d.message) for d in
                     project.diagnostics]


def test_constants_can_stand_for_declarations():
    project, diags = check(ENVS + 'const e = dev\nconst envs = [dev, prod]\n'
                           'app a { base = "b"; namespace = "a"; deploy = [e] }\n'
                           'app b { base = "b"; namespace = "b"; deploy = envs }\n')
    assert diags == []
    assert [a.deploy for a in project.spec.apps] == [("dev",), ("dev", "prod")]


def test_promotion_rules_may_name_environments_of_a_module(project_dir):
    write(project_dir / "envs.setlist", ENVS)
    write(project_dir / "main.setlist",
          'import "./envs.setlist"\nimage api { repository = "ghcr.io/x/api" }\n'
          'app shop { base = "b"; namespace = "shop"; images = [api]; '
          'deploy = [envs.dev, envs.prod] }\n'
          'promotion api {\n  envs.dev <- registry\n  envs.prod <- envs.dev after 1h\n}\n')
    project = load(["main.setlist"])
    assert [str(d) for d in project.diagnostics] == []
    (promotion,) = project.spec.promotions
    assert [(st.env, st.source, st.after_seconds) for st in promotion.stages] == [
        ("dev", "registry", 0), ("prod", "dev", 3600)]


def test_unknown_module_environment_in_a_promotion(project_dir):
    write(project_dir / "envs.setlist", ENVS)
    write(project_dir / "main.setlist",
          'import "./envs.setlist"\nimage api { repository = "ghcr.io/x/api" }\n'
          'app shop { base = "b"; namespace = "shop"; images = [api]; deploy = [envs.dev] }\n'
          'promotion api {\n  envs.dve <- registry\n}\n')
    project = load(["main.setlist"])
    assert [(d.code, d.span.line, d.span.column) for d in project.diagnostics] == [
        ("SL203", 5, 8)]
    assert "did you mean 'dev'?" in project.diagnostics[0].hints


def test_approval_gate_with_or_without_parentheses():
    base = ENVS + 'image api { repository = "ghcr.io/x/api" }\n' \
        'app shop { base = "b"; namespace = "s"; images = [api]; deploy = [dev, prod] }\n'
    for gate in ("approval", "approval()"):
        project, diags = check(base + f"promotion api {{ dev <- registry; prod <- dev, {gate} }}")
        assert diags == []
        assert project.spec.promotions[0].stages[1].approval is True
    _, diags = check(base + "promotion api { dev <- registry; prod <- dev, approval(x: 1) }")
    assert [d[0] for d in diags] == ["SL304"]


def test_default_strategy_is_semver_without_a_constraint_like_image_updater():
    project, diags = check('image api { repository = "ghcr.io/x/api" }\n'
                           'image web { repository = "ghcr.io/x/web"; strategy = semver() }\n')
    assert diags == []
    assert [(i.strategy.kind, i.strategy.constraint) for i in project.spec.images] == [
        ("semver", None), ("semver", None)]
    default, explicit = (i.strategy for i in project.spec.images)
    assert default.span is None and explicit.span.line == 2  # spans say who stated it


def test_an_app_must_deploy_somewhere():
    _, diags = check(ENVS + 'app a { base = "b"; namespace = "a"; deploy = [] }\n')
    assert [(d[0], d[1], d[3]) for d in diags] == [
        ("SL302", 3, "an app must deploy to at least one environment")]


def test_unused_constants_still_name_existing_things():
    _, diags = check('const a = nothing_here\nconst b = automatd(prune: true)\n'
                     'const c = [dev]\nconst d = all\n' + ENVS)
    assert [(d[0], d[1], d[3]) for d in diags] == [
        ("SL200", 1, "unknown name 'nothing_here'"),
        ("SL304", 2, "unknown function 'automatd'")]


def test_static_clusters_are_https_servers_or_names():
    _, diags = check('environment e { clusters = ["ssh://10.0.0.1", "https://10.0.0.1:6443"] }')
    assert [d[0] for d in diags] == ["SL408"]
    assert "ssh" in diags[0][3]


def test_rollout_needs_a_selector():
    _, diags = check('environment e { clusters = ["a"]; rollout = [cluster.x == "y", rest] }')
    assert [(d[0], d[3]) for d in diags] == [
        ("SL307", "a rollout needs clusters chosen by a selector")]


EKS = "https://0123456789abcdef0123456789abcdef.gr7.eu-west-1.eks.amazonaws.com"


def static_env(*clusters: str) -> str:
    listed = ", ".join(f'"{c}"' for c in clusters)
    return (f"environment prod {{ clusters = [{listed}] }}\n"
            'app shop { base = "b"; namespace = "shop"; deploy = [prod] }\n')


def test_clusters_cut_to_one_label_value_is_sl415():
    project, diags = check(static_env(EKS, EKS + ":8443", "prod-eu"))
    assert [(code, line) for code, line, _, _ in diags] == [("SL415", 1)]
    (d,) = project.diagnostics
    assert d.severity.value == "warning" and project.ok
    assert d.message == (
        "two clusters of 'prod' get the same label setlist.dev/cluster="
        "0123456789abcdef0123456789abcdef.gr7.eu-west-1.eks.amazonaws.co: label values "
        "hold at most 63 characters, so both names are cut to the same value")
    assert d.hints == ("register one of the clusters under a name whose first 63 characters "
                       "differ, and list it by that name",)
    assert d.related[0].message == "the other one"
    # names that differ within their first 63 characters are fine
    _, diags = check(static_env(EKS, EKS.replace("0123", "9123")))
    assert diags == []


def test_clusters_cut_to_one_application_name_is_sl209():
    # 252 characters each, differing in the last: `shop-prod.` leaves room for 243
    a, b = "c" * 251 + "a", "c" * 251 + "b"
    _, diags = check(static_env(a, b))
    assert [(code, line) for code, line, _, _ in diags] == [("SL209", 1)]
    assert f"both become '{'c' * 243}'" in diags[0][3]
    # with room for the whole name the Applications stay apart (only the label is shared)
    _, diags = check(static_env("c" * 230 + "a", "c" * 230 + "b"))
    assert [code for code, *_ in diags] == ["SL415"]
