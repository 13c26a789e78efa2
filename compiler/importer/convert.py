"""The import as one function: files in, spec text and notes out (no printing, no exits).

read → units (Applications, ApplicationSets) → Image Updater settings (annotations, then
ImageUpdater resources) → layout, apps and environments → freezes from AppProjects → text,
laid out by ``setlist.fmt.format_source`` and checked with ``setlist.load``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import emit
from .argo import Skip, application, application_set
from .assemble import spec_text
from .build import _environments, _freezes, _place, _renames, _split_apps
from .layout import most_common
from .model import Unit
from .read import Doc, Note, read_inputs
from .updater import apply_resource, from_annotations

ARGO_GROUP = "argoproj.io/"
IU_GROUP = "argocd-image-updater.argoproj.io/"


@dataclass
class Outcome:
    text: str = ""
    notes: list[Note] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)   # unreadable files
    units: int = 0
    ignored: int = 0        # documents of other kinds (bases, Secrets, ...)
    diagnostics: list = field(default_factory=list)   # of checking the result
    sources: dict[str, str] = field(default_factory=dict)


def _units(docs: list[Doc], notes: list[Note]) -> tuple[list[Unit], list[Doc], list[Doc], int]:
    units: list[Unit] = []
    projects: list[Doc] = []
    updaters: list[Doc] = []
    ignored = 0
    for doc in docs:
        api = str(doc.data.get("apiVersion") or "")
        subject = f"{doc.kind or 'document'} {doc.name}".strip()
        if not doc.data:
            notes.append(Note(doc.origin, "document", "not a mapping; not imported"))
            continue
        if api.startswith(ARGO_GROUP):
            try:
                if doc.kind == "Application":
                    units.extend(application(doc, notes))
                elif doc.kind == "ApplicationSet":
                    units.extend(application_set(doc, notes))
                elif doc.kind == "AppProject":
                    projects.append(doc)
                else:
                    notes.append(Note(doc.origin, subject, "this kind is not imported"))
            except Skip as exc:
                notes.append(Note(doc.origin, subject, f"not imported: {exc}"))
            except (AttributeError, TypeError, KeyError, ValueError) as exc:
                # valid YAML in an unexpected shape (a list where a map belongs, ...)
                notes.append(Note(doc.origin, subject, "not imported: a field does not have "
                                  f"the shape Argo CD expects ({type(exc).__name__}: {exc})"))
        elif api.startswith(IU_GROUP) and doc.kind == "ImageUpdater":
            updaters.append(doc)
        else:
            ignored += 1
    return units, projects, updaters, ignored


def _dedupe(notes: list[Note]) -> list[Note]:
    return sorted(set(notes), key=lambda n: (n.origin.file, n.origin.line, n.subject,
                                             n.message))


def convert(paths: tuple[str, ...], spec_name: str = "imported.setlist") -> Outcome:
    from ..fmt import FormatError, format_source

    inputs, errors = read_inputs(paths)
    out = Outcome(errors=errors)
    if errors:
        return out
    notes: list[Note] = []
    units, projects, updaters, out.ignored = _units(inputs.docs, notes)
    for unit in units:
        unit.updater = from_annotations(unit, notes)
    for doc in updaters:
        try:
            apply_resource(doc, units, notes)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            notes.append(Note(doc.origin, f"ImageUpdater {doc.name}", "not imported: a field "
                              f"does not have the shape the CRD expects ({exc})"))
    out.units = len(units)
    if not units:
        out.notes = _dedupe(notes)
        return out
    repo = most_common([u.repo for u in units], "")
    layout = _place(units, repo, inputs.kustomizations, notes)
    _split_apps(units, notes)
    envs = _environments(units, notes)
    _renames(units, envs, notes)
    _freezes(projects, units, envs, repo, notes)
    for project in sorted({u.project for u in units}):
        if project == "default":
            first = next(u for u in units if u.project == "default")
            notes.append(Note(first.origin, first.subject,
                              "project \"default\": Setlist generates an AppProject of that "
                              "name, replacing Argo CD's built-in default project; give the "
                              "app a project of its own"))
    body = spec_text(units, envs, layout, repo, notes)
    out.notes = _dedupe(notes)
    header = [f"// Imported by `setlist import` from {len(inputs.files)} "
              f"file{'s' if len(inputs.files) != 1 else ''}."]
    if out.notes:
        header.append("// Not imported, or imported with a change:")
        for note in out.notes:
            header += emit.comment_lines(f"- {note}")
    text = "\n".join(header) + "\n\n" + body
    try:
        out.text = format_source(text, spec_name)
    except FormatError as exc:  # a bug: the importer wrote something that does not parse
        out.text = text
        out.diagnostics = exc.diagnostics
        out.sources = {spec_name: text}
        return out
    return check(out, spec_name)


def check(out: Outcome, spec_name: str) -> Outcome:
    from ..project import load

    project = load((), overrides={spec_name: out.text})
    out.diagnostics = project.errors
    out.sources = project.sources
    return out
