"""The package as users get it: the sdist and the wheel built with `python -m build` carry
the grammar, the standard library, the `setlist init` templates and every subpackage, and
the wheel installed into a fresh virtual environment (dependencies from the package index)
runs the quickstart outside this repository. Slow (one build and one venv per session);
in CI (`CI=true`) a missing tool or an unreachable index is a failure, not a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT, unavailable

COMPILER = ROOT / "compiler"
SKIP = (".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
        ".hypothesis", ".ruff_cache", "node_modules")


def _run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _pip_cache() -> str:
    """pip's own cache (not the session's private XDG_CACHE_HOME), so that the fresh venv
    reuses the wheels it downloaded before."""
    return os.environ.get("PIP_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache",
                                                             "pip")


def _subpackages() -> set[str]:
    """Every package of the source tree as it is imported: compiler/x/y → setlist.x.y."""
    found = {"setlist", "setlist.grammar", "setlist.stdlib"}
    for init in COMPILER.rglob("__init__.py"):
        parts = init.parent.relative_to(COMPILER).parts
        if "__pycache__" not in parts and parts:
            found.add(".".join(("setlist", *parts)))
    return found


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, Path]:
    try:
        import build  # noqa: F401
    except ImportError:
        unavailable("the `build` package is not installed (pip install -e '.[test]')")
    # Built from a copy, so that the build's own files (*.egg-info) stay out of the tree.
    source = tmp_path_factory.mktemp("source") / "setlist"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*SKIP))
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PIP_CACHE_DIR": _pip_cache()}
    done = _run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], cwd=out,
                env=env)
    if done.returncode != 0 and "Could not find a version" in done.stdout + done.stderr:
        unavailable(f"python -m build could not reach the package index:\n{done.stderr[-2000:]}")
    assert done.returncode == 0, (
        f"python -m build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    (wheel,) = out.glob("setlist-*.whl")
    (sdist,) = out.glob("setlist-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="session")
def venv(dists, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel and its dependencies; its bin folder."""
    folder = tmp_path_factory.mktemp("venv")
    made = _run([sys.executable, "-m", "venv", str(folder)], cwd=folder)
    assert made.returncode == 0, made.stderr
    bin_dir = folder / "bin"
    env = {**os.environ, "PIP_CACHE_DIR": _pip_cache(), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                 str(dists["wheel"])], cwd=folder, env=env)
    if done.returncode != 0 and ("Could not find a version" in done.stderr
                                 or "NewConnectionError" in done.stderr):
        unavailable(f"pip could not reach the package index:\n{done.stderr[-2000:]}")
    assert done.returncode == 0, f"installing the wheel failed:\n{done.stderr[-3000:]}"
    return bin_dir


def test_wheel_carries_every_package_and_data_file(dists):
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = set(wheel.namelist())
    packages = {".".join(Path(n).parent.parts) for n in names if n.endswith("/__init__.py")}
    assert _subpackages() <= packages, f"missing from the wheel: {_subpackages() - packages}"
    assert {"setlist.check", "setlist.compile", "setlist.policy", "setlist.lsp",
            "setlist.importer"} <= packages
    assert "setlist/grammar/setlist.lark" in names
    std = {p.name for p in (ROOT / "stdlib" / "std").glob("*.setlist")}
    assert std and {f"setlist/stdlib/std/{n}" for n in std} <= names
    templates = {p.name for p in (COMPILER / "templates" / "init").iterdir()}
    assert templates and {f"setlist/templates/init/{n}" for n in templates} <= names
    modules = {p.relative_to(COMPILER).as_posix() for p in COMPILER.rglob("*.py")
               if "__pycache__" not in p.parts}
    assert {f"setlist/{m}" for m in modules} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        assert "setlist = setlist.cli:main" in wheel.read(entry_points).decode()


def test_sdist_carries_the_sources_tests_need_to_build_a_wheel(dists):
    with tarfile.open(dists["sdist"]) as sdist:
        names = {"/".join(n.split("/")[1:]) for n in sdist.getnames()}
    assert {"pyproject.toml", "README.md", "grammar/setlist.lark",
            "stdlib/std/sync.setlist", "stdlib/std/policies.setlist",
            "compiler/templates/init/spec.setlist.tmpl"} <= names


def test_installed_wheel_imports_every_module(venv, dists, tmp_path):
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__")
                         for n in wheel.namelist()
                         if n.startswith("setlist/") and n.endswith(".py")
                         and not n.endswith("__main__.py"))
    script = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    done = _run([str(venv / "python"), "-c", script, *modules], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    where = _run([str(venv / "python"), "-c", "import setlist; print(setlist.__file__)"],
                 cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv.parent), where.stdout  # not ROOT


def test_installed_wheel_runs_the_quickstart(venv, tmp_path):
    project = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", project)
    output = tmp_path / "gitops"
    shutil.copytree(project / "gitops", output)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NO_COLOR")}
    setlist = str(venv / "setlist")

    version = _run([setlist, "--version"], cwd=tmp_path, env=env)
    assert version.returncode == 0 and version.stdout.startswith("setlist, version ")
    checked = _run([setlist, "check", str(project)], cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    resolved = _run([setlist, "resolve", str(project)], cwd=tmp_path, env=env)
    assert resolved.returncode == 0, resolved.stderr
    assert "setlist.lock: up to date" in resolved.stdout
    assert (project / "setlist.lock").read_bytes() == \
        (EXAMPLES / "quickstart" / "setlist.lock").read_bytes()
    compiled = _run([setlist, "compile", str(project), "-o", str(output)], cwd=tmp_path,
                    env=env)
    assert compiled.returncode == 0, compiled.stderr
    assert (output / "argocd" / "applicationsets" / "shop-prod.yaml").is_file()
    assert (output / "apps" / "shop" / "overlays" / "dev" / "kustomization.yaml").is_file()
    again = _run([setlist, "compile", "--check", str(project), "-o", str(output)],
                 cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout + again.stderr


def test_installed_wheel_scaffolds_with_init(venv, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NO_COLOR")}
    setlist = str(venv / "setlist")
    target = tmp_path / "config"
    for args in (["init", str(target)], ["check", str(target)],
                 ["compile", str(target), "-o", str(target)]):
        done = _run([setlist, *args], cwd=tmp_path, env=env)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert (target / "argocd" / "root.yaml").is_file()
