"""Command-line face. Thin: every command calls the session in ``setlist.project``.

Exit codes, shared by every command: 0 success (warnings allowed unless --strict), 1 the spec
has errors, 2 bad invocation, 3 an external system failed. Heavy modules are imported inside
the commands so that ``setlist --help`` stays fast.
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__

EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_EXTERNAL = 0, 1, 2, 3
FORMATS = ("text", "json", "sarif", "github")


def _use_color(choice: str, stream) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="setlist")
def main() -> None:
    """Setlist compiles delivery specs (*.setlist) into Argo CD and Kustomize files."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="How to print diagnostics.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in text output.")
def check(paths: tuple[str, ...], fmt: str, strict: bool, color: str) -> None:
    """Check PATHS (files, or folders searched for *.setlist; default: .) and report problems.

    Exit status: 0 clean (warnings allowed unless --strict), 1 errors, 2 bad invocation.
    """
    from .project import LoadError, load
    from .render import RENDERERS

    try:
        project = load(paths or (".",))
    except LoadError as exc:
        click.echo(f"setlist: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if not project.files:
        click.echo(f"setlist: error: no *.setlist files under {' '.join(paths or ('.',))}",
                   err=True)
        sys.exit(EXIT_USAGE)
    diags = project.diagnostics
    use_color = fmt == "text" and _use_color(color, sys.stdout)
    out = RENDERERS[fmt](diags, project.sources, color=use_color, tool_version=__version__)
    if fmt == "text" and not diags:
        roots = len(project.roots)
        out = f"checked {roots} file{'s' if roots != 1 else ''}: no problems found\n"
    # click strips ANSI escapes whenever stdout is not a terminal unless told otherwise, which
    # would make --color always a no-op in pipes (CI logs, `| less -R`).
    if out:
        click.echo(out, nl=not out.endswith("\n"), color=use_color)
    failed = bool(project.errors) or (strict and bool(project.warnings))
    sys.exit(EXIT_SPEC if failed else EXIT_OK)


@main.command()
@click.argument("code", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every code with its title.")
def explain(code: str | None, list_all: bool) -> None:
    """Print the long explanation of a diagnostic CODE (e.g. SL200)."""
    from .codes import CODES
    from .codes import explain as explain_code

    if list_all or code is None:
        for entry in CODES.values():
            click.echo(f"{entry.code}  {entry.title}")
        return
    text = explain_code(code)
    if text is None:
        click.echo(f"setlist: error: unknown diagnostic code '{code}' "
                   "(setlist explain --list shows them all)", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(text, nl=False)
