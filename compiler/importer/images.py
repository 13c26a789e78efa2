"""Images of the imported apps: Image Updater's settings merged with the overlays' pins."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .layout import sanitize
from .model import ImageConf, Pin, Unit
from .read import Note

_KNOWN_REGISTRIES = {"docker.io": "dockerhub", "ghcr.io": "ghcr", "gcr.io": "gcr",
                     "quay.io": "quay", "registry.k8s.io": "k8s", "public.ecr.aws": "ecr"}


def canonical(ref: str) -> str:
    """A repository as `host/path`, Docker Hub names expanded as Docker does."""
    first, _, rest = ref.partition("/")
    if not rest:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return "docker.io/" + rest if first == "index.docker.io" else ref
    return f"docker.io/{ref}"


def parse_kustomize_image(text: str) -> Pin:
    """Argo CD's `source.kustomize.images` item: `[old=]new[:tag][@digest]`."""
    from .updater import split_reference

    old, _, new = text.rpartition("=") if "=" in text else ("", "", text)
    repository, tag, digest = split_reference(new)
    return Pin(name=old or repository, new_name=repository if old else None, tag=tag,
               digest=digest)


def pins_of(entries: list, unit_pins: list[str]) -> dict[str, Pin]:
    out: dict[str, Pin] = {}
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name"):
            out[str(entry["name"])] = Pin(
                name=str(entry["name"]),
                new_name=str(entry["newName"]) if entry.get("newName") else None,
                tag=str(entry["newTag"]) if entry.get("newTag") is not None else None,
                digest=str(entry["digest"]) if entry.get("digest") else None)
    for text in unit_pins:
        pin = parse_kustomize_image(text)
        out[pin.name] = pin
    return out


@dataclass
class AppImage:
    conf: ImageConf
    canon: str
    hint: str                      # preferred name of the image block
    manifest: str | None           # the name the manifests use, when not `canon`
    pins: dict[str, Pin] = field(default_factory=dict)  # env → pin


def _manifest(conf: ImageConf, canon: str) -> str | None:
    name = conf.manifest_name or conf.repository
    return None if name == canon else name


def app_images(units: list[Unit], notes: list[Note]) -> dict[str, AppImage]:
    """The images of one app (its units sorted by environment), by canonical repository."""
    out: dict[str, AppImage] = {}
    for unit in units:
        subject = unit.subject
        for alias, conf in sorted((unit.updater.images if unit.updater else {}).items()):
            canon = canonical(conf.repository)
            known = out.get(canon)
            if known is None:
                out[canon] = AppImage(conf, canon, alias, _manifest(conf, canon))
            elif known.conf.settings() != conf.settings():
                notes.append(Note(unit.updater.origin or unit.origin, subject,
                                  f"{conf.repository} is updated differently in '{unit.env}' "
                                  f"than in another environment of app '{unit.app}'; an app's "
                                  "image has one strategy, the first one is kept"))
        for name, pin in sorted(unit.pins.items()):
            target = next((img for img in out.values()
                           if name in (img.manifest, img.conf.repository, img.canon) or
                           canonical(name) == img.canon or
                           (pin.new_name and canonical(pin.new_name) == img.canon)), None)
            if target is None:
                repo = pin.new_name or name
                canon = canonical(repo)
                conf = ImageConf(repository=repo, manifest_name=name)
                target = out[canon] = AppImage(conf, canon, repo.rsplit("/", 1)[-1],
                                               name if name != canon else None)
            if pin.tag or pin.digest:
                target.pins[unit.env] = pin
    return out


def registry_names(hosts: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    taken: set[str] = set()
    for host in sorted(hosts):
        plain = host.split(":")[0]
        labels = plain.split(".")
        candidates = [_KNOWN_REGISTRIES.get(host, "")] + \
            ["-".join(labels[:n]) for n in range(1, len(labels) + 1)] + [sanitize(host)]
        for cand in candidates:
            cand = re.sub(r"[^A-Za-z0-9_-]", "-", cand).strip("-")
            if cand and cand[0].isalpha() and cand not in taken:
                break
        else:
            cand = f"registry{len(taken) + 1}"
        taken.add(cand)
        out[host] = cand
    return out


def identifier(text: str, fallback: str = "image") -> str:
    out = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    if not out or not (out[0].isalpha() or out[0] == "_"):
        out = f"{fallback}-{out}" if out else fallback
    return out.rstrip("-")
