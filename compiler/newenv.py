"""`setlist new env`: add an environment to a spec in place.

The spec is edited as text, so comments and layout stay as they are: the new environment
block is inserted after the one it is modelled on, the apps' ``deploy`` lists and the
promotion rules get the new name, and only the declarations that changed are re-formatted
(and only when they were in canonical layout before). The edited project must check clean
and compile with the seeded lock before anything is written.

This module imports only click at load time (``setlist --help`` stays fast).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import click

EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_EXTERNAL = 0, 1, 2, 3


@click.group(name="new")
def new_group() -> None:
    """Add things to a spec in place (`setlist new env NAME ...`)."""


class NewEnvError(Exception):
    """The request cannot be carried out (a bad invocation: exit 2)."""


@dataclass
class Edit:
    start: int
    end: int
    text: str


@dataclass
class NewEnv:
    """What adding the environment changes: new file texts, the seeded lock entries and
    notes for the user."""

    texts: dict[str, str] = field(default_factory=dict)
    seeded: dict[tuple[str, str], object] = field(default_factory=dict)
    apps: list[str] = field(default_factory=list)
    promotions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _decls(project, kind: str):  # noqa: ANN001, ANN202
    """(file key, declaration) of every root declaration of ``kind``."""
    from . import model as m

    for key in sorted(project.files):
        source = project.files[key]
        if not source.is_root:
            continue
        for decl in source.module.decls:
            if kind == "promotion" and isinstance(decl, m.Promotion):
                yield key, decl
            elif isinstance(decl, m.Block) and decl.block == kind:
                yield key, decl


def _find(project, kind: str, name: str):  # noqa: ANN001, ANN202
    return next(((k, d) for k, d in _decls(project, kind) if d.name == name), (None, None))


def _rename_strings(text: str, old: str, new: str) -> tuple[str, int]:
    """``"old"`` → ``"new"`` for whole string literals in a selector's source text."""
    import re

    pattern = re.compile(r'"' + re.escape(old) + r'"')
    return pattern.subn(f'"{new}"', text)


def plan_new_env(project, name: str, *, like: str | None = None,  # noqa: ANN001, C901
                 clusters: str | None = None, after: str | None = None,
                 apps: list[str] | None = None, now=None) -> NewEnv:  # noqa: ANN001
    """The edits that add environment ``name`` (see the module docstring)."""
    from datetime import UTC, datetime

    from . import lockfile
    from . import model as m
    from .parse import parse_source
    from .resolve import rfc3339

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    spec = project.spec
    envs = {e.name for e in spec.environments}
    if name in envs:
        raise NewEnvError(f"environment '{name}' already exists")
    module, diags = parse_source(f"environment {name} {{}}", "<name>")
    if diags:
        raise NewEnvError(f"'{name}' is not a valid environment name")
    for flag, value in (("--like", like), ("--after", after)):
        if value is not None and value not in envs:
            raise NewEnvError(f"{flag} {value}: no such environment (known: "
                              f"{', '.join(sorted(envs)) or 'none'})")
    known_apps = [a.name for a in spec.apps]
    if apps is None:
        model = like or after
        apps = [a.name for a in spec.apps if model in a.deploy] if model else []
    for app in apps:
        if app not in known_apps:
            raise NewEnvError(f"--apps {app}: no such app (known: "
                              f"{', '.join(known_apps) or 'none'})")
    edits: dict[str, list[Edit]] = {}
    result = NewEnv(apps=list(apps))

    # ---- the environment block
    model_key, model_decl = _find(project, "environment", like) if like else (None, None)
    if model_decl is not None:
        text = project.files[model_key].text
        body = text[model_decl.span.start:model_decl.span.end]
        base = model_decl.span.start
        pieces = [Edit(model_decl.name_span.start - base, model_decl.name_span.end - base,
                       name)]
        field_ = next((f for f in model_decl.fields if f.name == "clusters"), None)
        if field_ is not None:
            start, end = field_.value.span.start - base, field_.value.span.end - base
            if clusters is not None:
                pieces.append(Edit(start, end, clusters))
            else:
                renamed, count = _rename_strings(body[start:end], like, name)
                if not count:
                    raise NewEnvError(f"the clusters of '{like}' do not name \"{like}\"; say "
                                      f"which clusters '{name}' runs on with --clusters")
                pieces.append(Edit(start, end, renamed))
        block = _applied(body, pieces)
        anchor_key, anchor = model_key, model_decl
    else:
        block = f"environment {name} {{\n  clusters = " \
                f"{clusters or f'cluster.env == {chr(34)}{name}{chr(34)}'}\n}}"
        anchor_key, anchor = _find(project, "environment", after) if after else (None, None)
        if anchor is None:
            found = list(_decls(project, "environment"))
            anchor_key, anchor = found[-1] if found else (None, None)
    if anchor is None:
        keys = sorted(k for k, f in project.files.items() if f.is_root)
        anchor_key = keys[0]
        position = len(project.files[anchor_key].text)
    else:
        position = anchor.span.end
    block = _formatted(block)
    edits.setdefault(anchor_key, []).append(Edit(position, position, "\n\n" + block.rstrip()))

    # ---- the apps' deploy lists
    for app in apps:
        key, decl = _find(project, "app", app)
        deploy = next((f for f in decl.fields if f.name == "deploy"), None)
        text = project.files[key].text
        if deploy is None:
            continue
        value = deploy.value
        if isinstance(value, m.ListExpr):
            items = [i for i in value.items if isinstance(i, m.Name)]
            near = next((i for i in items if i.name in (like, after)), None) or \
                (items[-1] if items else None)
            edit = Edit(near.span.end, near.span.end, f", {name}") if near else \
                Edit(value.span.start + 1, value.span.start + 1, name)
        elif isinstance(value, m.Name) and value.name in envs:
            edit = Edit(value.span.start, value.span.end, f"[{value.name}, {name}]")
        else:
            result.notes.append(f"app {app}: deploy is not a list of environments; add "
                                f"{name} to it by hand")
            continue
        edits.setdefault(key, []).append(_reformatted(text, decl, [edit]))

    # ---- promotions of the images those apps run
    images = {i.image for a in spec.apps if a.name in apps for i in a.images}
    for key, decl in _decls(project, "promotion"):
        if decl.name not in images:
            continue
        text = project.files[key].text
        rules = {r.stage: r for r in decl.rules}
        model_rule = rules.get(like) if like else None
        source = after or (model_rule.source if model_rule else None)
        if source is None:
            raise NewEnvError(f"promotion {decl.name} has no rule for '{like}'; say which "
                              f"environment '{name}' takes versions from with --after")
        rule_text = f"{name} <- {source}"
        if model_rule is not None:
            rule_text = name + text[model_rule.stage_span.end:model_rule.span.end]
            if after:
                start = model_rule.source_span.start - model_rule.stage_span.end
                end = model_rule.source_span.end - model_rule.stage_span.end
                tail = text[model_rule.stage_span.end:model_rule.span.end]
                rule_text = name + tail[:start] + after + tail[end:]
        pieces = []
        if after:
            for rule in decl.rules:
                if rule.source == after:
                    pieces.append(Edit(rule.source_span.start, rule.source_span.end, name))
        anchor_rule = rules.get(after) or model_rule or (decl.rules[-1] if decl.rules else None)
        at = anchor_rule.span.end if anchor_rule else decl.span.end - 1
        pieces.append(Edit(at, at, "\n" + rule_text))
        combined = _reformatted(text, decl, pieces)
        edits.setdefault(key, []).append(combined)
        result.promotions.append(decl.name)

    # ---- seed the lock from the model environment's versions
    seed_from = like or after
    lock = lockfile.read(project.base) if seed_from else None
    if lock is not None:
        for image in sorted(images):
            entry = lock.get(image, seed_from)
            if entry is not None:
                result.seeded[(image, name)] = entry.model_copy(update={
                    "since": rfc3339(now),
                    "source": f"promotion:{seed_from}"})

    for key, file_edits in edits.items():
        result.texts[key] = _applied(project.files[key].text, file_edits)
    return result


def _applied(text: str, edits: list[Edit]) -> str:
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[:edit.start] + edit.text + text[edit.end:]
    return text


def _formatted(block: str) -> str:
    from .fmt import FormatError, format_source

    try:
        return format_source(block)
    except FormatError as exc:
        raise NewEnvError("the new environment does not parse: "
                          + "; ".join(d.message for d in exc.diagnostics)) from None


def _reformatted(text: str, decl, edits: list[Edit]) -> Edit:  # noqa: ANN001
    """One edit replacing ``decl`` with its edited text, put in canonical layout when the
    declaration was in canonical layout before (so a formatted file stays formatted and an
    unformatted one keeps its own layout)."""
    from .fmt import FormatError, format_source

    start, end = decl.span.start, decl.span.end
    old = text[start:end]
    new = _applied(old, [Edit(e.start - start, e.end - start, e.text) for e in edits])
    try:
        if format_source(old).rstrip("\n") == old:
            new = format_source(new).rstrip("\n")
    except FormatError:
        pass
    return Edit(start, end, new)


@new_group.command(name="env")
@click.argument("name")
@click.option("--spec", "path", default=".", show_default=True, type=click.Path(path_type=str),
              help="The spec: a *.setlist file or a folder.")
@click.option("--like", metavar="ENV", help="Copy ENV's settings, apps, promotion rule and "
                                            "locked versions.")
@click.option("--clusters", metavar="EXPR",
              help='The cluster selector, e.g. \'cluster.env == "qa"\' (default: ENV\'s with '
                   'its name replaced, or cluster.env == "NAME").')
@click.option("--after", metavar="ENV", help="Promote into the new environment from ENV, and "
                                             "from it into what ENV promoted to.")
@click.option("--apps", "app_list", metavar="A,B", help="Apps deployed to it (default: those "
                                                        "deploying --like, else --after).")
@click.option("-o", "--output", "out", default=".", show_default=True,
              help="Config repository checkout to compile into.")
@click.option("--no-compile", is_flag=True, help="Edit the spec and the lock only.")
@click.option("--dry-run", is_flag=True, help="Print the changes to the spec; write nothing.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in diagnostics.")
def new_env(name: str, path: str, like: str | None, clusters: str | None, after: str | None,
            app_list: str | None, out: str, no_compile: bool, dry_run: bool,
            color: str) -> None:
    """Add environment NAME to the spec: its block, its apps and promotion rules; seed its
    lock entries from --like (else --after) so it starts on known-good versions; compile.

    Nothing is written unless the edited spec checks clean and compiles.

    Exit status: 0 added, 1 the result would not check or compile, 2 bad invocation, 3
    writing failed.
    """
    import difflib
    from pathlib import Path

    from . import lockfile
    from .cli import _load, _print_problems, _report, _write_plan
    from .files import replace_file
    from .project import load

    project = _load((path,))
    if not project.ok or project.spec is None:
        _report(project.diagnostics, project.sources, color)
        click.echo("setlist: error: fix the spec before adding an environment", err=True)
        sys.exit(EXIT_SPEC)
    apps = [a.strip() for a in app_list.split(",") if a.strip()] if app_list else None
    try:
        change = plan_new_env(project, name, like=like, clusters=clusters, after=after,
                              apps=apps)
    except (NewEnvError, lockfile.LockError) as exc:
        click.echo(f"setlist: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    edited = load([path], overrides=change.texts)
    lock = None
    if change.seeded:
        lock = (lockfile.read(project.base) or lockfile.Lock()).with_entries(change.seeded)
    result = edited.compile(lock) if edited.ok and not no_compile else None
    problems = edited.diagnostics + (result.diagnostics if result else [])
    if not edited.ok or (result is not None and not result.ok):
        _report(problems, edited.sources, color)
        click.echo(f"setlist: error: with '{name}' added the spec would not "
                   f"{'check' if not edited.ok else 'compile'}; nothing was written", err=True)
        sys.exit(EXIT_SPEC)
    for key in sorted(change.texts):
        before = project.files[key].text.splitlines(keepends=True)
        after_ = change.texts[key].splitlines(keepends=True)
        click.echo("".join(difflib.unified_diff(before, after_, f"a/{key}", f"b/{key}")),
                   nl=False)
    if dry_run:
        return
    plan = None
    if not no_compile:
        plan = _write_plan(edited, result, out, False)
        if plan.problems:
            _print_problems(plan)
            click.echo("setlist: nothing was written", err=True)
            sys.exit(EXIT_SPEC)
    try:
        for key in sorted(change.texts):
            replace_file(Path(key), change.texts[key].encode("utf-8"))
        if lock is not None:
            replace_file(lockfile.lock_path(project.base), lockfile.dump(lock).encode("utf-8"))
        if plan is not None:
            from .write import apply

            apply(plan, Path(out))
    except OSError as exc:
        click.echo(f"setlist: error: writing failed: {exc}", err=True)
        sys.exit(EXIT_EXTERNAL)
    for note in change.notes:
        click.echo(f"setlist: note: {note}", err=True)
    seeded = ", ".join(f"{image} {entry.tag or entry.digest}"
                       for (image, _), entry in sorted(change.seeded.items()))
    click.echo(f"added environment {name}"
               + (f"; deployed by {', '.join(change.apps)}" if change.apps else "")
               + (f"; promoted in {', '.join(change.promotions)}" if change.promotions else "")
               + (f"; seeded {seeded}" if seeded else ""))
    if plan is not None:
        click.echo(f"{out}: {plan.summary()}")
