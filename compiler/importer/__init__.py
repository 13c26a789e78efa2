"""`setlist import`: adopt existing Argo CD and Image Updater manifests (being built)."""

from __future__ import annotations

import click


@click.command(name="import")
def import_cmd() -> None:
    """Write a Setlist spec from Argo CD manifests (not finished yet)."""
    raise click.UsageError("setlist import is not finished yet")
