"""`setlist init`: scaffold a config repository that checks and compiles at once.

The files come from the templates in ``setlist/templates/init`` (package data, so that an
installed wheel carries them). A few values are filled in: the repository URL (``--repo``,
else the ``origin`` remote of the folder's git repository, else a placeholder that still
checks), its branch, and Setlist's own version and address for the CI files. Existing files
are never overwritten. Only click is imported at load time, so that ``setlist --help``
stays fast.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

EXIT_USAGE, EXIT_EXTERNAL = 2, 3

#: The URL written when neither --repo nor a git remote says where the repository lives.
PLACEHOLDER_REPO = "https://github.com/your-org/your-config-repo"
DEFAULT_BRANCH = "main"
APP = "hello"

#: (template in setlist/templates/init, file created below DIR), in the order printed.
FILES: tuple[tuple[str, str], ...] = (
    ("spec.setlist.tmpl", "setlist.setlist"),
    ("kustomization.yaml.tmpl", f"apps/{APP}/base/kustomization.yaml"),
    ("deployment.yaml.tmpl", f"apps/{APP}/base/deployment.yaml"),
    ("service.yaml.tmpl", f"apps/{APP}/base/service.yaml"),
    ("gitignore.tmpl", ".gitignore"),
    ("github-workflow.yml.tmpl", ".github/workflows/setlist.yml"),
    ("gitlab-ci.yml.tmpl", ".gitlab-ci.yml"),
    ("pre-commit-config.yaml.tmpl", ".pre-commit-config.yaml"),
)


@click.command(name="init")
@click.argument("directory", default=".", required=False,
                type=click.Path(file_okay=False, path_type=str), metavar="[DIR]")
@click.option("--repo", "repo_url", metavar="URL",
              help="URL of the config repository the generated Applications point at "
                   "(default: the `origin` remote of DIR's git repository).")
@click.option("--force", is_flag=True,
              help="Scaffold into a folder that is not empty; existing files are kept, "
                   "never overwritten.")
def init_cmd(directory: str, repo_url: str | None, force: bool) -> None:
    """Scaffold a config repository in DIR (default: .; created if missing).

    Writes a starter spec (setlist.setlist: a registry, an image, dev, staging and prod
    selected by cluster labels, an app and its promotion, a few standard policies), the
    app's Kustomize base under apps/, a .gitignore, CI for GitHub Actions and GitLab and a
    pre-commit configuration. `setlist check` and `setlist compile` work in DIR right
    away, without network access.

    Exit status: 0 scaffolded, 2 bad invocation (DIR is not empty without --force, an
    invalid --repo URL), 3 a file could not be written.
    """
    from pathlib import Path

    root = Path(directory)
    if root.exists() and not root.is_dir():
        _fail(f"{directory} is not a folder", EXIT_USAGE)
    present = _entries(root)
    if present and not force:
        shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
        _fail(f"{directory} is not empty ({shown}); use --force to add the starter files "
              "that are missing (existing files are kept)", EXIT_USAGE)
    if repo_url is not None:
        problem = _url_problem(repo_url)
        if problem:
            _fail(f"--repo {repo_url}: {problem}", EXIT_USAGE)
        origin = None
    else:
        origin = _origin(root)
    repo = repo_url or origin or PLACEHOLDER_REPO
    values = _values(repo, _branch(root) or DEFAULT_BRANCH, placeholder=repo == PLACEHOLDER_REPO)
    try:
        root.mkdir(parents=True, exist_ok=True)
        created, skipped = _write(root, values)
    except OSError as exc:
        _fail(f"cannot write below {directory}: {exc.strerror or exc}", EXIT_EXTERNAL)
    _summary(directory, created, skipped, repo, origin=origin is not None and not repo_url)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"setlist: error: {message}", err=True)
    sys.exit(code)


def _entries(root) -> list[str]:  # noqa: ANN001
    """What DIR already holds, sorted; a bare ``.git`` (a fresh ``git init``) does not count."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.name != ".git")


def _url_problem(url: str) -> str | None:
    from .values import check_url

    problem = check_url(url)
    if problem is None:
        return None
    return " ".join(filter(None, (problem.message, problem.hint)))


def _git(root, *args: str) -> str | None:  # noqa: ANN001
    """One git question about DIR, or None when there is no answer (no git, no repository,
    no such remote)."""
    import os

    from .gitrepo import GitError, run_git

    try:
        done = run_git(["-C", os.fspath(root), *args], os.environ, check=False, timeout=30)
    except GitError:
        return None
    answer = done.stdout.strip()
    return answer if done.returncode == 0 and answer else None


def _at_top(root) -> bool:  # noqa: ANN001
    """Whether DIR is the top of a git work tree: only then are the repository's paths the
    spec's paths (apps/hello/base, argocd/)."""
    from pathlib import Path

    if not root.is_dir():
        return False
    top = _git(root, "rev-parse", "--show-toplevel")
    return top is not None and Path(top).resolve() == root.resolve()


def _origin(root) -> str | None:  # noqa: ANN001
    """The ``origin`` remote as a URL the spec accepts: a local path becomes a file:// URL,
    user info (a token, a password) is dropped; anything else unusable is ignored."""
    from pathlib import Path
    from urllib.parse import urlsplit, urlunsplit

    if not _at_top(root):
        return None
    url = _git(root, "remote", "get-url", "origin")
    if url is None:
        return None
    if "://" not in url and (url.startswith(("/", ".")) or Path(root, url).exists()):
        url = (root / url).resolve().as_uri()
    elif "://" in url:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
            url = urlunsplit(parts)
    return None if _url_problem(url) else url


def _branch(root) -> str | None:  # noqa: ANN001
    if not _at_top(root):
        return None
    return _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")


def _quoted(text: str) -> str:
    """``text`` as the inside of a Setlist string literal."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")


def _values(repo: str, branch: str, *, placeholder: bool) -> dict[str, str]:
    from . import __version__
    from .render import INFORMATION_URI

    note = ("\n// TODO: replace the placeholder with this repository's URL (or run"
            "\n// `setlist init --repo URL` in a fresh folder)." if placeholder else "")
    return {
        "REPO": _quoted(repo),
        "REPO_NOTE": note,
        "BRANCH": _quoted(branch),
        "VERSION": __version__,
        "PROJECT_URL": INFORMATION_URI,
        "DOCS_URL": f"{INFORMATION_URI}/blob/main/docs/language.md",
    }


def render(template: str, values: dict[str, str]) -> str:
    """The text of one template with its ``__NAME__`` placeholders filled in."""
    import re
    from importlib.resources import files

    text = files("setlist").joinpath("templates", "init", template).read_text("utf-8")

    def value(match: re.Match[str]) -> str:
        return values[match.group(1)]  # a KeyError is a bug in a template

    return re.sub(r"__([A-Z][A-Z_]*[A-Z])__", value, text)


def _write(root, values: dict[str, str]) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """Create every file that does not exist yet (exclusively: a file that appears in the
    meantime is kept too); returns the created and the skipped paths."""
    import errno
    import os

    for _, name in FILES:  # a file where a folder must go: fail before writing anything
        for parent in (root / name).parents:
            if parent.exists() and not parent.is_dir():
                raise OSError(errno.ENOTDIR, f"{os.fspath(parent)} is a file, not a folder")
            if parent == root:
                break
    created: list[str] = []
    skipped: list[str] = []
    for template, name in FILES:
        path = root / name
        if path.exists() or path.is_symlink():
            skipped.append(name)
            continue
        text = render(template, values)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        except FileExistsError:
            skipped.append(name)
            continue
        created.append(name)
    return created, skipped


def _summary(directory: str, created: list[str], skipped: list[str], repo: str, *,
             origin: bool) -> None:
    import os
    import shlex

    if created:
        click.echo(f"created in {directory}:")
        for name in created:
            click.echo(f"  {name}")
    if skipped:
        click.echo("skipped (already there, left as they are):")
        for name in skipped:
            click.echo(f"  {name}")
    if repo == PLACEHOLDER_REPO:
        click.echo("\nnote: no --repo and no git remote `origin`: edit gitops.repo in "
                   "setlist.setlist before Argo CD uses the output")
    elif origin:
        click.echo(f"\ngitops.repo is {repo} (the git remote `origin`)")
    click.echo("\nnext steps:")
    steps = []
    if os.path.normpath(directory) != ".":
        steps.append((f"cd {shlex.quote(directory)}", ""))
    steps += [
        ("setlist check", "check the spec"),
        ("setlist compile", f"write argocd/ and apps/{APP}/overlays/"),
        ("git add -A && git commit -m 'Start the Setlist config repository'", ""),
        ("kubectl apply -n argocd -f argocd/root.yaml", "once pushed: Argo CD follows it"),
    ]
    width = max(len(step) for step, why in steps if why)
    for step, why in steps:
        click.echo(f"  {step:{width}}  # {why}" if why else f"  {step}")
