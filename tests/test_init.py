"""`setlist init` and what surrounds it: the scaffolded repository checks and compiles at
once (offline), its Kustomize base builds, its CI and pre-commit files are valid and run
only real commands; the repository's own pre-commit hooks and GitHub Action are consistent;
the tutorial, the CI recipes and the generated CLI reference stay true to the program."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

import setlist
from conftest import ROOT, unavailable, write
from setlist.cli import main
from setlist.render import INFORMATION_URI
from setlist.scaffold import FILES, PLACEHOLDER_REPO

DOCS = ROOT / "docs"
VERSION = setlist.__version__
SCAFFOLD = [name for _, name in FILES]
WORKFLOWS = (".github/workflows/setlist.yml", ".gitlab-ci.yml")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd, check=False,
                          env=full_env, capture_output=True, text=True, timeout=120)


def git(*args: str, cwd: Path) -> str:
    if shutil.which("git") is None:
        unavailable("git is not installed")
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def listed(files: list[Path], root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in files)


def tree(root: Path) -> list[str]:
    return listed([p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts], root)


# ---- command lines ------------------------------------------------------------------------

def setlist_commands(script: str) -> list[list[str]]:
    """Every `setlist ...` command in shell text, as words: continuation lines are joined,
    comments dropped, and `&&`, `||`, `;` and `|` separate commands."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token and set(token) <= set("&|;()<>"):
                while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
                    words.pop(0)  # VAR=value before the command
                if words and Path(words[0]).name == "setlist":
                    found.append(words)
                words = []
            else:
                words.append(token)
    return found


def command_problems(words: list[str]) -> list[str]:
    """What is wrong with one `setlist ...` command line: an unknown command or subcommand,
    or an option the command does not have. Empty when it would be accepted."""
    command: click.Command = main
    ctx = click.Context(main, info_name="setlist")
    rest = words[1:]
    while isinstance(command, click.Group):
        if not rest or rest[0].startswith("-"):
            break
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            return [f"{shlex.join(words)}: no command '{rest[0]}' in {ctx.command_path}"]
        ctx = click.Context(sub, info_name=rest[0], parent=ctx)
        command, rest = sub, rest[1:]
    options = {name: param for param in command.get_params(ctx)
               if isinstance(param, click.Option)
               for name in param.opts + param.secondary_opts}
    problems = []
    words_left = iter(rest)
    for word in words_left:
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            continue
        name, has_value = word.split("=", 1)[0], "=" in word
        option = options.get(name)
        if option is None:
            problems.append(f"{shlex.join(words)}: {ctx.command_path} has no option {name}")
        elif not option.is_flag and not has_value:
            next(words_left, None)  # the option's value
    return problems


def assert_real_commands(script: str, where: str) -> list[list[str]]:
    commands = setlist_commands(script)
    problems = [p for words in commands for p in command_problems(words)]
    assert not problems, f"{where}:\n" + "\n".join(problems)
    return commands


def scripts_in(document, keys=("run", "script", "before_script", "after_script", "entry")
               ) -> list[str]:
    """The shell text of a CI document: `run:` steps (GitHub), `script:` lists (GitLab),
    `entry:` (pre-commit), wherever they are nested."""
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key in keys and isinstance(value, str):
                found.append(value)
            elif key in keys and isinstance(value, list):
                found += [v for v in value if isinstance(v, str)]
            else:
                found += scripts_in(value, keys)
    elif isinstance(document, list):
        for value in document:
            found += scripts_in(value, keys)
    return found


def test_command_line_checker_finds_unknown_commands_and_options():
    assert setlist_commands("A=1 setlist check --strict && setlist fmt --check # setlist no\n"
                            "echo x | .venv/bin/setlist compile \\\n  --check -o out") == [
        ["setlist", "check", "--strict"], ["setlist", "fmt", "--check"],
        [".venv/bin/setlist", "compile", "--check", "-o", "out"]]
    assert command_problems(["setlist", "compile", "-o", "--check"]) == []  # -o takes a value
    assert command_problems(["setlist", "new", "env", "qa", "--like", "dev"]) == []
    assert command_problems(["setlist", "chek"])
    assert command_problems(["setlist", "fmt", "--chek"])
    assert command_problems(["setlist", "new", "environment"])


# ---- init: the scaffold checks and compiles -----------------------------------------------

@pytest.fixture
def scaffolded(tmp_path) -> Path:
    target = tmp_path / "config"
    result = run("init", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return target


def test_init_creates_the_starter_files_and_says_what_next(tmp_path):
    target = tmp_path / "new" / "config"  # parents are created
    result = run("init", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tree(target) == sorted(SCAFFOLD)
    for name in SCAFFOLD:
        assert f"  {name}\n" in result.stdout
    assert "next steps:" in result.stdout
    assert "setlist compile" in result.stdout
    assert "edit gitops.repo" in result.stdout  # no --repo, no git: the placeholder
    assert result.stderr == ""


def test_scaffold_checks_compiles_and_is_formatted_offline(scaffolded):
    checked = run("check", cwd=scaffolded)
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout == "checked 1 file: no problems found\n"
    strict = run("check", "--strict", cwd=scaffolded)
    assert strict.returncode == 0, strict.stdout
    compiled = run("compile", cwd=scaffolded)
    assert compiled.returncode == 0, compiled.stderr
    assert compiled.stderr == ""  # no warnings: every image has a version
    assert run("compile", "--check", cwd=scaffolded).returncode == 0
    assert run("fmt", "--check", cwd=scaffolded).returncode == 0
    offline = run("resolve", "--offline", cwd=scaffolded)
    assert offline.returncode == 0, offline.stderr
    written = set(tree(scaffolded)) - set(SCAFFOLD)
    assert written == {
        ".setlist/manifest.json", "argocd/root.yaml", "argocd/projects/hello.yaml",
        *(f"argocd/applicationsets/hello-{env}.yaml" for env in ("dev", "staging", "prod")),
        *(f"apps/hello/overlays/{env}/kustomization.yaml" for env in ("dev", "staging", "prod")),
    }


def test_scaffold_spec_is_the_classic_scenario(scaffolded):
    project = setlist.load(str(scaffolded))
    spec = project.spec
    assert not project.diagnostics
    assert spec.gitops.repo == PLACEHOLDER_REPO and spec.gitops.branch == "main"
    assert [e.name for e in spec.environments] == ["dev", "staging", "prod"]
    prod = next(e for e in spec.environments if e.name == "prod")
    assert prod.writeback == "pull_request"
    (image,) = spec.images
    assert image.tag and not image.digest  # pinned offline, no invented digest
    (app,) = spec.apps
    assert list(app.deploy) == ["dev", "staging", "prod"]
    text = (scaffolded / "setlist.setlist").read_text("utf-8")
    assert 'import "std/policies" as std' in text
    assert "approval" in text and "setlist resolve" in text
    assert re.findall(r"^use std\.(\w+)", text, re.MULTILINE)


def test_scaffold_base_builds_with_kustomize(scaffolded):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        unavailable("kubectl is not installed (the test builds the overlays with "
                    "`kubectl kustomize`)")
    assert run("compile", cwd=scaffolded).returncode == 0
    tag = setlist.load(str(scaffolded)).spec.images[0].tag
    for env in ("dev", "staging", "prod"):
        overlay = scaffolded / "apps" / "hello" / "overlays" / env
        built = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True,
                               text=True, timeout=120)
        assert built.returncode == 0, built.stderr
        docs = [d for d in yaml.safe_load_all(built.stdout) if d]
        assert sorted(d["kind"] for d in docs) == ["Deployment", "Service"]
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"ghcr.io/stefanprodan/podinfo:{tag}"


# ---- init: where the repository URL comes from --------------------------------------------

def test_repo_option_is_written_into_the_spec(tmp_path):
    url = "git@github.com:acme/delivery.git"
    result = run("init", "--repo", url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert setlist.load(str(tmp_path)).spec.gitops.repo == url
    assert "edit gitops.repo" not in result.stdout


def test_invalid_repo_option_is_a_usage_error(tmp_path):
    result = run("init", "--repo", "not a url", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "--repo not a url" in result.stderr and "whitespace" in result.stderr
    assert not (tmp_path / "out").exists()


def test_origin_of_a_git_repository_is_picked_up(tmp_path):
    url = "https://git.example.com/platform/config.git"
    git("init", "--quiet", cwd=tmp_path)
    git("symbolic-ref", "HEAD", "refs/heads/trunk", cwd=tmp_path)
    git("remote", "add", "origin", url, cwd=tmp_path)
    result = run("init", cwd=tmp_path)  # .git alone does not make the folder non-empty
    assert result.returncode == 0, result.stderr
    assert f"gitops.repo is {url}" in result.stdout
    spec = setlist.load(str(tmp_path)).spec
    assert (spec.gitops.repo, spec.gitops.branch) == (url, "trunk")
    workflow = yaml.safe_load((tmp_path / WORKFLOWS[0]).read_text("utf-8"))
    assert workflow[True]["push"]["branches"] == ["trunk"]  # YAML 1.1 reads `on` as true
    assert "refs/heads/trunk" in workflow["jobs"]["apply"]["if"]
    gitlab = yaml.safe_load((tmp_path / WORKFLOWS[1]).read_text("utf-8"))
    assert gitlab["setlist:apply"]["rules"] == [{"if": '$CI_COMMIT_BRANCH == "trunk"'}]
    assert run("check", cwd=tmp_path).returncode == 0
    assert run("compile", cwd=tmp_path).returncode == 0
    # Everything init and compile wrote is meant to be committed: nothing is ignored.
    status = git("status", "--porcelain", "--untracked-files=all", "--ignored", cwd=tmp_path)
    assert not [line for line in status.splitlines() if line.startswith("!!")]


def test_origin_credentials_are_never_written(tmp_path):
    git("init", "--quiet", cwd=tmp_path)
    git("remote", "add", "origin", "https://deploy:s3cr3t-token@git.example.com/x/config.git",
        cwd=tmp_path)
    result = run("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert setlist.load(str(tmp_path)).spec.gitops.repo == "https://git.example.com/x/config.git"
    assert "s3cr3t" not in result.stdout
    assert not [n for n in tree(tmp_path) if "s3cr3t" in (tmp_path / n).read_text("utf-8")]


def test_local_origin_becomes_a_file_url(tmp_path):
    remote = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", str(remote), cwd=tmp_path)
    work = tmp_path / "work"
    git("clone", "--quiet", str(remote), str(work), cwd=tmp_path)
    assert run("init", cwd=work).returncode == 0
    assert setlist.load(str(work)).spec.gitops.repo == remote.resolve().as_uri()
    assert run("compile", cwd=work).returncode == 0


def test_subfolder_of_a_repository_does_not_take_its_origin(tmp_path):
    git("init", "--quiet", cwd=tmp_path)
    git("remote", "add", "origin", "https://git.example.com/x/monorepo.git", cwd=tmp_path)
    result = run("init", "deploy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert setlist.load(str(tmp_path / "deploy")).spec.gitops.repo == PLACEHOLDER_REPO


# ---- init: existing files -----------------------------------------------------------------

def test_non_empty_folder_is_refused_without_force(tmp_path):
    write(tmp_path / "notes.txt", "mine\n")
    result = run("init", cwd=tmp_path)
    assert result.returncode == 2
    assert "is not empty (notes.txt)" in result.stderr and "--force" in result.stderr
    assert tree(tmp_path) == ["notes.txt"]


def test_a_file_is_not_a_folder(tmp_path):
    write(tmp_path / "taken", "x\n")
    result = run("init", "taken", cwd=tmp_path)
    assert result.returncode == 2
    assert "taken" in result.stderr


def test_force_adds_what_is_missing_and_keeps_the_rest(tmp_path):
    spec = write(tmp_path / "setlist.setlist", 'gitops { repo = "https://example.com/mine" }\n')
    ignore = write(tmp_path / ".gitignore", "node_modules/\n")
    result = run("init", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert spec.read_text() == 'gitops { repo = "https://example.com/mine" }\n'
    assert ignore.read_text() == "node_modules/\n"
    skipped = result.stdout.split("skipped (already there, left as they are):\n", 1)[1]
    assert skipped.split("\n\n", 1)[0].split() == ["setlist.setlist", ".gitignore"]
    assert tree(tmp_path) == sorted(SCAFFOLD)
    again = run("init", "--force", cwd=tmp_path)
    assert again.returncode == 0
    assert "created" not in again.stdout
    assert all(f"  {name}\n" in again.stdout for name in SCAFFOLD)


def test_unwritable_layout_fails_before_writing_anything(tmp_path):
    write(tmp_path / "apps", "a file where init needs a folder\n")
    result = run("init", "--force", cwd=tmp_path)
    assert result.returncode == 3
    assert "apps is a file, not a folder" in result.stderr
    assert tree(tmp_path) == ["apps"]


# ---- CI and pre-commit files --------------------------------------------------------------

def hook_ids() -> dict[str, dict]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    return {hook["id"]: hook for hook in hooks}


def test_scaffold_workflows_are_yaml_and_run_real_commands(scaffolded):
    ran: set[str] = set()
    for name in WORKFLOWS:
        document = yaml.safe_load((scaffolded / name).read_text("utf-8"))
        assert isinstance(document, dict), name
        commands = [c for script in scripts_in(document)
                    for c in assert_real_commands(script, name)]
        ran |= {shlex.join(c[1:]) for c in commands}
    assert {"fmt --check", "apply"} <= ran
    gitlab = yaml.safe_load((scaffolded / WORKFLOWS[1]).read_text("utf-8"))
    assert set(gitlab["setlist:check"]["script"]) == {
        "setlist check", "setlist fmt --check", "setlist compile --check"}
    assert gitlab["setlist:apply"]["script"][-1] == "setlist apply"


def test_github_workflow_uses_the_action_with_its_inputs(scaffolded):
    action = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
    workflow = yaml.safe_load((scaffolded / WORKFLOWS[0]).read_text("utf-8"))
    uses = [step for job in workflow["jobs"].values() for step in job["steps"]
            if step.get("uses", "").startswith("setlist-dev/")]
    assert {job for job in workflow["jobs"]} == {"check", "apply"}
    assert len(uses) == 2
    for step in uses:
        assert step["uses"] == f"setlist-dev/setlist@v{VERSION}"
        assert set(step.get("with", {})) <= set(action["inputs"])
    assert workflow["jobs"]["apply"]["needs"] == "check"
    assert workflow["jobs"]["apply"]["permissions"] == {"contents": "write"}


def test_scaffold_pre_commit_config_names_our_hooks(scaffolded):
    config = yaml.safe_load((scaffolded / ".pre-commit-config.yaml").read_text("utf-8"))
    (repo,) = config["repos"]
    assert repo["repo"] == INFORMATION_URI
    assert repo["rev"] == f"v{VERSION}"
    assert [h["id"] for h in repo["hooks"]] == ["setlist-fmt", "setlist-check"]
    assert {h["id"] for h in repo["hooks"]} <= set(hook_ids())


def test_pre_commit_hooks_are_consistent():
    hooks = hook_ids()
    assert set(hooks) == {"setlist-check", "setlist-fmt"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert {"id", "name", "entry", "language", "files"} <= set(hook)
        pattern = re.compile(hook["files"])
        assert pattern.search("apps/shop.setlist") and not pattern.search("shop.setlist.bak")
        (words,) = assert_real_commands(hook["entry"], hook["id"])
        assert words[1] == hook["id"].removeprefix("setlist-")
    assert hooks["setlist-check"]["pass_filenames"] is False  # the whole project at once
    assert hooks["setlist-fmt"].get("pass_filenames", True) is True  # the changed files


def test_pre_commit_hooks_run_as_pre_commit_runs_them(tmp_path, scaffolded):
    """The hooks' entries with the files pre-commit would pass: fmt fixes a file (and
    fails, so the commit stops), check then passes on the whole project."""
    hooks = hook_ids()
    spec = scaffolded / "setlist.setlist"
    spec.write_text(spec.read_text("utf-8").replace('  clusters = cluster.env == "dev"',
                                                    'clusters=cluster.env=="dev"'))
    exe = [sys.executable, "-m", "setlist"]
    fmt = subprocess.run([*exe, *shlex.split(hooks["setlist-fmt"]["entry"])[1:],
                          "setlist.setlist"], cwd=scaffolded, capture_output=True, text=True)
    assert fmt.returncode == 0 and fmt.stdout.startswith("setlist.setlist\n"), fmt.stdout
    assert run("fmt", "--check", cwd=scaffolded).returncode == 0
    check = subprocess.run([*exe, *shlex.split(hooks["setlist-check"]["entry"])[1:]],
                           cwd=scaffolded, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_action_installs_from_its_checkout_and_runs_real_commands():
    action = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    for step in steps:
        if "run" in step:
            assert step["shell"] == "bash"
    scripts = "\n".join(step["run"] for step in steps if "run" in step)
    assert "${{ github.action_path }}" in "\n".join(
        str(step.get("env", {})) for step in steps)
    assert "pip install" in scripts
    commands = assert_real_commands(scripts, "action.yml")
    assert [c[:2] for c in commands] == [["setlist", "--version"], ["setlist", "check"],
                                         ["setlist", "compile"]]
    assert "--format github" in shlex.join(commands[1])
    assert "--check" in commands[2]
    # Every input is used, and every input used is declared.
    text = (ROOT / "action.yml").read_text("utf-8")
    used = set(re.findall(r"inputs\.([a-z-]+)", text))
    assert used == set(action["inputs"])


# ---- documentation ------------------------------------------------------------------------

FENCE_RE = re.compile(r"^```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$",
                      re.MULTILINE | re.DOTALL)


def fenced(path: Path, *langs: str) -> list[str]:
    return [m["body"] for m in FENCE_RE.finditer(path.read_text("utf-8")) if m["lang"] in langs]


def test_tutorial_runs_only_real_commands():
    blocks = fenced(DOCS / "tutorial.md", "sh")
    assert blocks
    commands = [c for block in blocks for c in assert_real_commands(block, "docs/tutorial.md")]
    names = {c[1] for c in commands}
    assert {"init", "check", "resolve", "compile", "apply", "promote"} <= names


def test_tutorial_excerpts_are_the_starter_spec(scaffolded):
    """The tutorial walks through the spec `setlist init` writes: its excerpts are
    verbatim pieces of it, and the outputs it shows name the files init creates."""
    spec = (scaffolded / "setlist.setlist").read_text("utf-8")
    excerpts = fenced(DOCS / "tutorial.md", "setlist-fragment")
    assert len(excerpts) >= 5
    for excerpt in excerpts:
        assert excerpt in spec, f"not in the starter spec:\n{excerpt}"
    text = (DOCS / "tutorial.md").read_text("utf-8")
    assert all(f"  {name}\n" in text for name in SCAFFOLD)


def test_ci_recipes_are_yaml_and_run_real_commands():
    path = DOCS / "ci.md"
    shells = fenced(path, "sh")
    for block in shells:
        assert_real_commands(block, "docs/ci.md")
    documents = [yaml.safe_load(block) for block in fenced(path, "yaml")]
    assert documents
    ran = [c for document in documents for script in scripts_in(document)
           for c in assert_real_commands(script, "docs/ci.md")]
    assert {"check", "compile", "fmt", "apply"} <= {c[1] for c in ran}
    action = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
    for document in documents:
        for step in _steps(document):
            if step.get("uses", "").startswith("setlist-dev/setlist@"):
                assert set(step.get("with", {})) <= set(action["inputs"]), step


def _steps(document) -> list[dict]:
    if isinstance(document, dict):
        found = [document] if "uses" in document else []
        return found + [s for v in document.values() for s in _steps(v)]
    if isinstance(document, list):
        return [s for v in document for s in _steps(v)]
    return []


def test_cli_reference_is_generated_from_the_commands():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "cli_reference.py")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    page = (DOCS / "cli-reference.md").read_text("utf-8")
    assert page == done.stdout, (
        "docs/cli-reference.md is out of date; regenerate it with `make docs` "
        "(.venv/bin/python scripts/cli_reference.py > docs/cli-reference.md)")
    for name in main.list_commands(click.Context(main)):
        assert f"\n## setlist {name}\n" in page


def test_scaffold_module_imports_only_click():
    script = "import sys, setlist.scaffold; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    loaded = set(done.stdout.split())
    assert "click" in loaded
    assert not {"pydantic", "lark", "ruamel", "yaml", "setlist.project"} & loaded
