"""`setlist promote`: move versions down the promotion chains, through their gates.

For every promotion rule ``TARGET <- SOURCE [after SOAK] [, gates]`` whose source is an
environment, the version SOURCE runs (its lock entry) becomes TARGET's when:

* **soak**: it has run in SOURCE at least SOAK (since the entry's ``since``). Only
  ``--hotfix REASON`` skips this gate, and the new entry then says ``source: hotfix``;
* **freeze**: TARGET is not inside one of its freeze windows (cron in the window's time
  zone, plus the duration — as Argo CD evaluates sync windows, across daylight-saving
  changes). A freeze is never skipped;
* **signed**: with the ``signed`` gate, a cosign signature exists for the digest (the
  ``sha256-<hex>.sig`` tag, or a referrer in the OCI referrers API).

``approval`` does not block: it makes the change a pull request. Each run moves a version
one hop: a version that reaches staging in this run starts its soak there now.
Rules fed by ``registry`` are resolved as `setlist resolve` does (the caller does that).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .freeze import frozen_until
from .lockfile import Lock, LockEntry
from .resolve import rfc3339

__all__ = ["Move", "plan_promotions", "promoted_lock"]

#: Asked whether a signature exists for (image name, digest).
SignatureCheck = Callable[[str, str], bool]


@dataclass(frozen=True)
class Move:
    image: str
    env: str
    source: str                       # the upstream environment
    current: LockEntry | None
    candidate: LockEntry | None       # what the upstream runs
    status: str                       # "promote", "blocked", "current", "empty"
    gate: str | None = None           # "soak", "freeze", "signature" when blocked
    opens: datetime | None = None     # when the gate opens (None: not by waiting)
    approval: bool = False
    hotfix: bool = False              # the soak gate was skipped

    def versions(self) -> str:
        return f"{_version(self.current)} → {_version(self.candidate)}"


def _version(entry: LockEntry | None) -> str:
    if entry is None:
        return "none"
    return entry.tag or (entry.digest or "")[:19]


def _since(entry: LockEntry) -> datetime | None:
    if not entry.since:
        return None
    try:
        moment = datetime.fromisoformat(entry.since.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plan_promotions(spec, lock: Lock, now: datetime, *,  # noqa: ANN001
                    images: Collection[str] | None = None,
                    envs: Collection[str] | None = None, hotfix: bool = False,
                    signed: SignatureCheck | None = None) -> list[Move]:
    """Every environment-fed promotion step, in declaration order, with its outcome."""
    environments = {e.name: e for e in spec.environments}
    deployed = {(img.image, env) for app in spec.apps for img in app.images
                for env in app.deploy}
    moves: list[Move] = []
    for promotion in spec.promotions:
        if images is not None and promotion.image not in images:
            continue
        for stage in promotion.stages:
            if stage.source == "registry" or (envs is not None and stage.env not in envs):
                continue
            if (promotion.image, stage.env) not in deployed:
                continue
            current = lock.get(promotion.image, stage.env)
            upstream = lock.get(promotion.image, stage.source)
            base = {"image": promotion.image, "env": stage.env, "source": stage.source,
                    "current": current, "candidate": upstream, "approval": stage.approval}
            if upstream is None:
                moves.append(Move(**base, status="empty"))
                continue
            if current is not None and (current.repository, current.tag, current.digest) \
                    == (upstream.repository, upstream.tag, upstream.digest):
                moves.append(Move(**base, status="current"))
                continue
            environment = environments.get(stage.env)
            until = frozen_until(environment.freezes if environment else (), now)
            if until is not None:
                moves.append(Move(**base, status="blocked", gate="freeze", opens=until))
                continue
            skipped_soak = False
            if stage.after_seconds:
                since = _since(upstream)
                ready = since + timedelta(seconds=stage.after_seconds) if since else None
                if ready is None or ready > now:
                    if not hotfix:
                        moves.append(Move(**base, status="blocked", gate="soak",
                                          opens=ready))
                        continue
                    skipped_soak = True
            if getattr(stage, "signed", False) and signed is not None and \
                    not (upstream.digest and signed(promotion.image, upstream.digest)):
                moves.append(Move(**base, status="blocked", gate="signature"))
                continue
            moves.append(Move(**base, status="promote", hotfix=skipped_soak))
    return moves


def promoted_lock(lock: Lock, moves: list[Move], now: datetime) -> Lock:
    """The lock with every "promote" move applied: the upstream's entry, ``since`` now,
    ``source`` ``promotion:<env>`` (or ``hotfix`` when the soak gate was skipped)."""
    updates = {}
    for move in moves:
        if move.status != "promote" or move.candidate is None:
            continue
        updates[(move.image, move.env)] = move.candidate.model_copy(update={
            "since": rfc3339(now),
            "source": "hotfix" if move.hotfix else f"promotion:{move.source}"})
    return lock.with_entries(updates)


COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


def has_signature(client, repository: str, digest: str) -> bool:  # noqa: ANN001
    """Does a cosign signature exist for ``digest``: the ``sha256-<hex>.sig`` tag cosign
    pushes, or a referrer whose artifact type is a cosign signature (any referrer of a
    signature type ``application/vnd.dev.cosign…`` or ``…sigstore…``)?"""
    from .registry import RegistryError

    algorithm, _, hexdigest = digest.partition(":")
    try:
        client.manifest(repository, f"{algorithm}-{hexdigest}.sig")
        return True
    except RegistryError as exc:
        if not exc.not_found:
            raise
    referrers = getattr(client, "referrers", None)
    if referrers is None:
        return False
    return any(("cosign" in str(r.get("artifactType", "")) or
                "sigstore" in str(r.get("artifactType", ""))) for r in
               referrers(repository, digest))


def table(moves: list[Move], now: datetime) -> str:
    """The --dry-run table: image, from → to, versions, and what blocks a step."""
    rows = [("IMAGE", "FROM → TO", "VERSIONS", "STATUS")]
    for move in moves:
        if move.status == "promote":
            status = "promote" + (" (hotfix: soak skipped)" if move.hotfix else "") + \
                (" via pull request" if move.approval else "")
        elif move.status == "blocked":
            opens = (f"; opens {rfc3339(move.opens)} (in {_span(move.opens - now)})"
                     if move.opens else "")
            status = f"blocked by {move.gate}{opens}"
        elif move.status == "current":
            status = "up to date"
        else:
            status = f"nothing in {move.source} yet"
        rows.append((move.image, f"{move.source} → {move.env}", move.versions(), status))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}\n"
                   for r in rows)


def _span(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m"]
    return "".join(p for p in parts if p) or "0m"
