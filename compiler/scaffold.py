"""`setlist init`: scaffold a config repository that compiles at once (being built)."""

from __future__ import annotations

import click


@click.command(name="init")
def init_cmd() -> None:
    """Scaffold a config repository (not finished yet)."""
    raise click.UsageError("setlist init is not finished yet")
