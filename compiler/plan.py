"""The resolved plan: the checked spec plus the image version each environment runs.

Compile reads only this. Versions come from pins in the spec (an image's ``tag`` and
``digest``) until a lockfile provides them; either way compile takes the same plan, so
resolution can replace the source of versions without touching the compile stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .diagnostics import Span
from .spec import Spec

# Where diagnostics about the project as a whole point when no declaration fits.
NOWHERE = Span(file="setlist", line=1, column=1, end_line=1, end_column=1)


class ImageVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    tag: str | None = None
    digest: str | None = None
    source: Literal["pin", "lock"] = "pin"


@dataclass(frozen=True)
class Plan:
    spec: Spec
    versions: Mapping[tuple[str, str], ImageVersion] = field(default_factory=dict)
    # The spec files, as named in generated headers (relative to the project folder).
    sources: tuple[str, ...] = ()
    anchor: Span = NOWHERE  # the start of the first spec file

    def version(self, image: str, env: str) -> ImageVersion | None:
        return self.versions.get((image, env))


def deployments(spec: Spec) -> list[tuple[str, str]]:
    """Every (image, environment) pair that some app runs, in a stable order."""
    pairs = {(img.image, env) for app in spec.apps for img in app.images for env in app.deploy}
    return sorted(pairs)


def plan_from_pins(spec: Spec, sources: tuple[str, ...] = (), anchor: Span = NOWHERE) -> Plan:
    versions: dict[tuple[str, str], ImageVersion] = {}
    images = {i.name: i for i in spec.images}
    for image, env in deployments(spec):
        pinned = images.get(image)
        if pinned is not None and (pinned.tag or pinned.digest):
            versions[(image, env)] = ImageVersion(tag=pinned.tag, digest=pinned.digest)
    return Plan(spec=spec, versions=versions, sources=sources, anchor=anchor)
