"""Cluster inventories: the clusters Argo CD knows, read from a file for ``setlist preview``.

Two formats are recognised from their content:

- a simple inventory: a YAML list of clusters (or a mapping with a ``clusters:`` list), each
  ``{name, server, labels, annotations, project}``. Every entry stands for a cluster Secret,
  so its labels get ``argocd.argoproj.io/secret-type: cluster`` as a real Secret's have;
- Argo CD cluster Secrets as ``kubectl get secret -l argocd.argoproj.io/secret-type=cluster
  -o yaml`` prints them: a ``kind: List`` of Secrets, a single Secret, or several YAML
  documents. ``name``, ``server`` and ``project`` are read from ``data`` (base64) or
  ``stringData``; the Secret's labels and annotations are the cluster's metadata.

The ``config`` key of a Secret holds the cluster's credentials: it is never decoded, kept or
named in a message. Only ``read_inventory`` touches the file system.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
SECRET_TYPE_CLUSTER = "cluster"
SIMPLE_KEYS = ("name", "server", "labels", "annotations", "project")
# The only Secret data keys read; everything else (config above all) is left alone.
_SECRET_KEYS = ("name", "server", "project")
#: Larger inventory files are refused unread (tens of thousands of clusters fit).
MAX_INVENTORY_BYTES = 32 * 1024 * 1024


class InventoryError(Exception):
    """The inventory file is missing, unreadable or not an inventory (a bad invocation)."""


@dataclass(frozen=True)
class Cluster:
    """A cluster as the ApplicationSet controller sees it: the parts of its Secret it reads.

    ``name`` may hold lone surrogates (bytes that are not UTF-8, kept with
    ``surrogateescape``) so that ``nameNormalized`` is computed from what Argo CD reads;
    ``display_name`` is printable.
    """

    name: str
    server: str
    project: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    origin: str = ""               # where it was declared, for messages
    namespace: str | None = None   # the Secret's namespace, when the export names one

    @property
    def display_name(self) -> str:
        return self.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass
class Inventory:
    clusters: list[Cluster]
    format: str                     # "simple" or "secrets"
    source: str = ""
    warnings: list[str] = field(default_factory=list)


def read_inventory(path: str | os.PathLike) -> Inventory:
    """Read and parse an inventory file; ``InventoryError`` when that is not possible."""
    p = Path(path)
    shown = os.fspath(path)
    if not p.exists():
        raise InventoryError(f"{shown}: no such file")
    if p.is_dir():
        raise InventoryError(f"{shown}: is a folder, not an inventory file")
    from .yamlguard import YAMLLimitError, read_capped

    try:
        text = read_capped(p, MAX_INVENTORY_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{shown}: not UTF-8 text ({exc.reason})") from None
    except YAMLLimitError as exc:
        raise InventoryError(f"{shown}: {exc}") from None
    except OSError as exc:
        raise InventoryError(f"{shown}: {exc.strerror}") from None
    return parse_inventory(text, shown)


def _load_yaml(text: str, source: str) -> list[Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from .yamlguard import YAMLLimitError, load_all

    yaml = YAML(typ="safe", pure=True)
    try:
        return [d for d in load_all(yaml, text) if d is not None]
    except YAMLLimitError as exc:
        raise InventoryError(f"{source}: {exc}") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InventoryError(f"{source}{where}: not valid YAML ({problem})") from None


def parse_inventory(text: str, source: str = "<inventory>") -> Inventory:
    """Recognise the format of an inventory's text and read its clusters."""
    docs = _load_yaml(text, source)
    if not docs:
        raise InventoryError(f"{source}: empty file; expected a list of clusters or "
                             "exported Argo CD cluster Secrets")
    items: list[tuple[str, Any]] = []   # (where, object)
    for n, doc in enumerate(docs, 1):
        where = f"document {n}" if len(docs) > 1 else ""
        if isinstance(doc, list):
            items.extend((_at(where, f"item {i}"), it) for i, it in enumerate(doc, 1))
        elif isinstance(doc, Mapping) and isinstance(doc.get("kind"), str) and \
                doc["kind"].endswith("List") and "items" in doc:
            listed = doc.get("items") or []
            if not isinstance(listed, list):
                raise InventoryError(f"{source}: {_at(where, 'items')} is not a list")
            items.extend((_at(where, f"items[{i}]"), it) for i, it in enumerate(listed))
        elif isinstance(doc, Mapping) and "kind" in doc:
            items.append((where, doc))
        elif isinstance(doc, Mapping) and "clusters" in doc:
            listed = doc.get("clusters") or []
            if not isinstance(listed, list):
                raise InventoryError(f"{source}: {_at(where, 'clusters')} is not a list")
            items.extend((_at(where, f"clusters[{i}]"), it) for i, it in enumerate(listed))
        else:
            raise InventoryError(_unrecognised(source))
    secrets = [(w, it) for w, it in items if isinstance(it, Mapping) and "kind" in it]
    simple = [(w, it) for w, it in items if not (isinstance(it, Mapping) and "kind" in it)]
    if secrets and simple:
        raise InventoryError(f"{source}: mixes Kubernetes objects and simple cluster entries; "
                             "use one format per file")
    if secrets:
        if not any(it.get("kind") == "Secret" for _, it in secrets):
            raise InventoryError(_unrecognised(source))
        return _from_secrets(secrets, source)
    if not items:
        return Inventory(clusters=[], format="simple", source=source)
    return _from_simple(simple, source)


def _at(where: str, what: str) -> str:
    return f"{where}, {what}" if where else what


def _unrecognised(source: str) -> str:
    return (f"{source}: not a cluster inventory: expected a list of clusters "
            "({name, server, labels, annotations, project}), a mapping with a clusters: list, "
            "or Argo CD cluster Secrets (kubectl get secret -l "
            "argocd.argoproj.io/secret-type=cluster -o yaml)")


def _string_map(value: Any, what: str, *, coerce: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InventoryError(f"{what} must be a mapping of strings")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise InventoryError(f"{what}: key {k!r} is not a string")
        if isinstance(v, str):
            out[k] = v
        elif coerce and isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif coerce and isinstance(v, int):
            out[k] = str(v)
        else:
            raise InventoryError(f"{what}: the value of '{k}' is not a string")
    return out


def _from_simple(items: list[tuple[str, Any]], source: str) -> Inventory:
    inv = Inventory(clusters=[], format="simple", source=source)
    for where, it in items:
        at = f"{source}: {where}"
        if not isinstance(it, Mapping):
            raise InventoryError(f"{at}: a cluster must be a mapping with name and server")
        unknown = sorted(str(k) for k in it if k not in SIMPLE_KEYS)
        if unknown:
            raise InventoryError(f"{at}: unknown key{'s' if len(unknown) > 1 else ''} "
                                 f"{', '.join(unknown)} (a cluster has "
                                 f"{', '.join(SIMPLE_KEYS)})")
        for key in ("name", "server"):
            if not isinstance(it.get(key), str) or not it.get(key):
                raise InventoryError(f"{at}: '{key}' is required and must be a string")
        project = it.get("project") or ""
        if not isinstance(project, str):
            raise InventoryError(f"{at}: 'project' must be a string")
        labels = _string_map(it.get("labels"), f"{at}: labels", coerce=True)
        labels.setdefault(SECRET_TYPE_LABEL, SECRET_TYPE_CLUSTER)
        annotations = _string_map(it.get("annotations"), f"{at}: annotations", coerce=True)
        inv.clusters.append(Cluster(name=it["name"], server=it["server"], project=project,
                                    labels=labels, annotations=annotations,
                                    origin=f"{source}: {where} ({it['name']})"))
    _warn_duplicates(inv)
    return inv


def _decode(secret_data: Mapping[str, Any], key: str, at: str) -> str | None:
    raw = secret_data.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InventoryError(f"{at}: data.{key} is not a base64 string")
    try:
        value = base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InventoryError(f"{at}: data.{key} is not valid base64") from None
    return value.decode("utf-8", "surrogateescape")


def _from_secrets(items: list[tuple[str, Any]], source: str) -> Inventory:
    inv = Inventory(clusters=[], format="secrets", source=source)
    for where, obj in items:
        meta = obj.get("metadata") or {}
        if not isinstance(meta, Mapping):
            meta = {}
        secret_name = meta.get("name") if isinstance(meta.get("name"), str) else "?"
        namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
        shown = f"{namespace}/{secret_name}" if namespace else secret_name
        at = f"{source}: {where + ': ' if where else ''}Secret {shown}"
        if obj.get("kind") != "Secret":
            inv.warnings.append(f"{source}: {where + ': ' if where else ''}skipped a "
                                f"{obj.get('kind')} (only Secrets describe clusters)")
            continue
        labels = _string_map(meta.get("labels"), f"{at}: metadata.labels", coerce=False)
        annotations = _string_map(meta.get("annotations"), f"{at}: metadata.annotations",
                                  coerce=False)
        if labels.get(SECRET_TYPE_LABEL) != SECRET_TYPE_CLUSTER:
            # The controller lists only Secrets with this label: skipping them is exact.
            inv.warnings.append(f"{at}: skipped, not labelled "
                                f"{SECRET_TYPE_LABEL}={SECRET_TYPE_CLUSTER} (the "
                                "ApplicationSet controller never lists it)")
            continue
        data = obj.get("data") or {}
        string_data = obj.get("stringData") or {}
        if not isinstance(data, Mapping) or not isinstance(string_data, Mapping):
            raise InventoryError(f"{at}: data and stringData must be mappings")
        values: dict[str, str | None] = {k: _decode(data, k, at) for k in _SECRET_KEYS}
        for k in _SECRET_KEYS:  # stringData wins over data, as the API server merges them
            if k in string_data:
                if not isinstance(string_data[k], str):
                    raise InventoryError(f"{at}: stringData.{k} is not a string")
                values[k] = string_data[k]
        if not values["server"]:
            inv.warnings.append(f"{at}: has no server")
        if values["name"] is None:
            inv.warnings.append(f"{at}: has no name; the cluster generator names it ''")
        inv.clusters.append(Cluster(name=values["name"] or "", server=values["server"] or "",
                                    project=values["project"] or "", labels=labels,
                                    annotations=annotations, origin=at, namespace=namespace))
    _warn_duplicates(inv)
    return inv


def _warn_duplicates(inv: Inventory) -> None:
    seen: dict[str, Cluster] = {}
    for c in inv.clusters:
        if c.name in seen:
            inv.warnings.append(
                f"{c.origin}: the cluster name '{c.display_name}' is also used by "
                f"{seen[c.name].origin}; the cluster generator keys clusters by name and "
                "keeps only one of them (preview keeps the last)")
        seen[c.name] = c
