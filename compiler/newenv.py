"""`setlist new env`: add an environment to a spec in place (being built)."""

from __future__ import annotations

import click


@click.group(name="new")
def new_group() -> None:
    """Add things to a spec in place."""
