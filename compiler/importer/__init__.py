"""`setlist import`: adopt existing Argo CD and Image Updater manifests.

Only click is imported at load time, so that `setlist --help` stays fast; the work happens in
``setlist.importer.convert`` and the modules it calls.
"""

from __future__ import annotations

import sys

import click

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2


@click.command(name="import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=str))
@click.option("-o", "--output", "out", default="-", show_default=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="File to write the spec to ('-': standard output).")
def import_cmd(paths: tuple[str, ...], out: str) -> None:
    """Write a Setlist spec from Argo CD manifests in PATHS (YAML files, or folders searched
    for *.yaml and *.yml).

    Reads Applications, ApplicationSets (cluster and list generators), AppProjects, Argo CD
    Image Updater annotations and ImageUpdater resources, and the kustomization.yaml of each
    overlay. What the spec cannot express is printed as a warning (file:line) and listed in
    a comment at the top of the spec.

    Exit status: 0 imported (warnings allowed), 1 nothing to import, unreadable YAML or a
    spec that does not check, 2 bad invocation.
    """
    from .convert import convert

    name = "imported.setlist" if out == "-" else out
    outcome = convert(paths, name)
    for err in outcome.errors:
        click.echo(f"setlist: error: {err}", err=True)
    if outcome.errors:
        click.echo("setlist: nothing was imported", err=True)
        sys.exit(EXIT_SPEC)
    for note in outcome.notes:
        click.echo(f"{note.origin}: warning: {note.subject}: {note.message}", err=True)
    if not outcome.units:
        click.echo(f"setlist: error: no Argo CD Application or ApplicationSet could be "
                   f"imported from {' '.join(paths)}", err=True)
        sys.exit(EXIT_SPEC)
    if out == "-":
        click.echo(outcome.text, nl=False)
    else:
        try:
            with open(out, "w", encoding="utf-8", newline="\n") as f:
                f.write(outcome.text)
        except OSError as exc:
            click.echo(f"setlist: error: cannot write {out}: {exc.strerror}", err=True)
            sys.exit(EXIT_SPEC)
    if outcome.diagnostics:
        from ..render import render_text

        click.echo(render_text(outcome.diagnostics, outcome.sources, color=False), err=True,
                   nl=False)
        click.echo("setlist: the imported spec does not check; fix it by hand", err=True)
        sys.exit(EXIT_SPEC)
    if out != "-":
        warned = len(outcome.notes)
        click.echo(f"{out}: imported {outcome.units} deployment"
                   f"{'s' if outcome.units != 1 else ''}"
                   f"{f', {warned} warnings' if warned else ''}", err=True)
    sys.exit(EXIT_OK)
