"""Command-line face. Thin: every command calls the session in ``setlist.project``.

Exit codes, shared by every command: 0 success (warnings allowed unless --strict), 1 the spec
has errors, 2 bad invocation, 3 an external system failed. Heavy modules are imported inside
the commands so that ``setlist --help`` stays fast.
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__

EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_EXTERNAL = 0, 1, 2, 3
FORMATS = ("text", "json", "sarif", "github")


def _use_color(choice: str, stream) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


class _Commands(click.Group):
    """The commands, of which those living in their own modules (:data:`_ELSEWHERE`) are
    imported only when named (or listed, for ``--help``), so that a `setlist check` does
    not load the code of `setlist new`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_ELSEWHERE})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _ELSEWHERE and name not in self.commands:
            import importlib

            module, attribute = _ELSEWHERE[name]
            self.add_command(getattr(importlib.import_module(module, __package__),
                                     attribute), name)
        return super().get_command(ctx, name)


# Commands that live in their own modules: name -> (module, attribute).
_ELSEWHERE = {"import": (".importer", "import_cmd"), "new": (".newenv", "new_group"),
              "init": (".scaffold", "init_cmd")}


@click.group(cls=_Commands,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="setlist")
def main() -> None:
    """Setlist compiles delivery specs (*.setlist) into Argo CD and Kustomize files."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="How to print diagnostics.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in text output.")
def check(paths: tuple[str, ...], fmt: str, strict: bool, color: str) -> None:
    """Check PATHS (files, or folders searched for *.setlist; default: .) and report problems.

    Exit status: 0 clean (warnings allowed unless --strict), 1 errors, 2 bad invocation.
    """
    from .render import RENDERERS

    project = _load(paths)
    diags = project.diagnostics
    use_color = fmt == "text" and _use_color(color, sys.stdout)
    out = RENDERERS[fmt](diags, project.sources, color=use_color, tool_version=__version__)
    if fmt == "text" and not diags:
        roots = len(project.roots)
        out = f"checked {roots} file{'s' if roots != 1 else ''}: no problems found\n"
    # click strips ANSI escapes whenever stdout is not a terminal unless told otherwise, which
    # would make --color always a no-op in pipes (CI logs, `| less -R`).
    if out:
        click.echo(out, nl=not out.endswith("\n"), color=use_color)
    failed = bool(project.errors) or (strict and bool(project.warnings))
    sys.exit(EXIT_SPEC if failed else EXIT_OK)


def _load(paths: tuple[str, ...], texts=None, *, parse_cache: bool = False):  # noqa: ANN001
    """Load and check a project, or exit 2 for paths that cannot be read. ``parse_cache``:
    take unchanged files' syntax trees from the parse cache (``setlist.parsecache``)."""
    from .project import LoadError, load

    parse = None
    if parse_cache:
        from .parse import parse_source
        from .parsecache import cached

        parse = cached(parse_source)
    try:
        project = load(paths or (".",), overrides=texts, parse=parse)
    except LoadError as exc:
        click.echo(f"setlist: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if not project.files:
        click.echo(f"setlist: error: no *.setlist files under {' '.join(paths or ('.',))}",
                   err=True)
        sys.exit(EXIT_USAGE)
    return project


def _report(diags, sources, color: str = "auto") -> None:
    """Print diagnostics (if any) as text on stderr, keeping stdout for the command's output."""
    from .render import render_text

    if diags:
        use_color = _use_color(color, sys.stderr)
        click.echo(render_text(diags, sources, color=use_color), err=True, nl=False,
                   color=use_color)


def _compiled(paths: tuple[str, ...], color: str, *, resolve: bool = False,
              offline: bool = False, timeout: float | None = None, texts=None,
              memo=None):  # noqa: ANN001
    """Load, check, (resolve,) and compile; print diagnostics; exit 1 when the spec has
    errors. Returns the project, the compile result and the resolution (None unless
    ``resolve``). ``texts``: the root files' texts, already read (the compile cache's);
    ``memo``: the compile cache's per-app memo (and the parse cache is used with it)."""
    project = _load(paths, texts, parse_cache=memo is not None)
    if _blocked(project, fresh=resolve):
        _report(project.diagnostics, project.sources, color)
        sys.exit(EXIT_SPEC)
    resolution = _resolved(project, offline=offline, timeout=timeout) if resolve else None
    result = project.compile(resolution.lock if resolution is not None else None, memo)
    _report(project.diagnostics + result.diagnostics, project.sources, color)
    if not result.ok:
        sys.exit(EXIT_SPEC)
    return project, result, resolution


def _write_plan(project, result, out: str, force: bool, trusted=None,  # noqa: ANN001
                manifest=None):  # noqa: ANN001
    from pathlib import Path

    from .write import WriteError, plan_writes

    # The manifest sits at a fixed place below OUTPUT whatever gitops.path says, so that
    # moving the output (a new `path`) removes what the old layout wrote.
    try:
        return plan_writes(result.documents, Path(out), force=force, trusted=trusted,
                           read=manifest)
    except WriteError as exc:
        click.echo(f"setlist: error: {exc}", err=True)
        sys.exit(EXIT_EXTERNAL)


def _print_problems(plan) -> None:
    for problem in plan.problems:
        click.echo(f"setlist: error: {problem.path}: {problem.message}", err=True)
        if problem.hint:
            click.echo(f"  = hint: {problem.hint}", err=True)


DEFAULT_TIMEOUT = 30.0


def _timeout_option(when: str = ""):  # noqa: ANN202
    """``--timeout SECONDS`` for commands that ask registries (``when``: the flag it
    needs, e.g. "--resolve"). Left unset it is None, read as DEFAULT_TIMEOUT."""
    return click.option(
        "--timeout", type=click.FloatRange(min=0.05), default=None, metavar="SECONDS",
        help=(f"With {when}: g" if when else "G") + "ive up on a registry request after this "
             f"long (default {DEFAULT_TIMEOUT:g}; each request is retried a few times "
             "before the run fails).")


def _needs(flag: str, given: bool, needed: str, present: bool) -> None:
    """Exit 2 when ``flag`` is given without the flag ``needed`` it belongs to."""
    if given and not present:
        click.echo(f"setlist: error: {flag} only applies with {needed}", err=True)
        sys.exit(EXIT_USAGE)


@main.command(name="compile")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("-o", "--output", "out", default=".", show_default=True,
              type=click.Path(file_okay=False, path_type=str),
              help="Root of the config repository checkout to write into.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 if the files on disk differ from what the spec "
                   "produces (a CI drift gate).")
@click.option("--force", is_flag=True,
              help="Overwrite hand edits of generated files and remove edited stale files.")
@click.option("--resolve", "resolve_first", is_flag=True,
              help="Resolve versions from the registries first (as `setlist resolve`); "
                   "setlist.lock is written together with the output.")
@click.option("--offline", is_flag=True,
              help="With --resolve: read only registries with a `layout`.")
@_timeout_option("--resolve")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in diagnostics.")
def compile_cmd(paths: tuple[str, ...], out: str, check_only: bool, force: bool,
                resolve_first: bool, offline: bool, timeout: float | None,
                color: str) -> None:
    """Compile PATHS into Argo CD documents and Kustomize overlays below OUTPUT.

    Only files whose bytes change are rewritten; generated files the spec no longer produces
    are removed; a hand-edited generated file stops the run (nothing is written) unless
    --force. Overlays are the user's: only their images: list is kept up to date.

    With --resolve the registries are asked first; when a registry fails (exit 3) or the
    output cannot be written, neither setlist.lock nor OUTPUT changes. With --check as well,
    nothing is written.

    Exit status: 0 written (or up to date), 1 spec errors, drift (--check) or refused
    edits, 2 bad invocation, 3 a registry failed or writing failed.
    """
    from pathlib import Path

    _needs("--offline", offline, "--resolve", resolve_first)
    _needs("--timeout", timeout is not None, "--resolve", resolve_first)
    # The compile cache (setlist.cache) for a plain compile: replay a run whose inputs and
    # output are unchanged, else compile without re-reading the files it vouches for.
    inputs = None if check_only or force or resolve_first else _cache_inputs(paths)
    record = memo = trusted = manifest = None
    if inputs is not None:
        from .cache import recall_output

        record = recall_output(Path(out))
        if record is not None and _replayed(inputs, record, out, color):
            return
        memo, trusted, manifest = _memo(record, Path(out))
    project, result, resolution = _compiled(paths, color, resolve=resolve_first,
                                            offline=offline, timeout=timeout,
                                            texts=inputs.texts if inputs else None,
                                            memo=memo)
    from .write import WriteError, apply

    plan = _write_plan(project, result, out, force, trusted, manifest)
    if check_only:
        stale_lock = resolution is not None and resolution.changed
        if plan.clean and not stale_lock:
            click.echo(f"up to date: {len(plan.unchanged)} files match the spec")
            return
        for change in plan.changes:
            click.echo(f"  {change.action:7s} {change.path}")
        if stale_lock:
            click.echo(f"  update  setlist.lock ({resolution.changed} "
                       f"{'entry' if resolution.changed == 1 else 'entries'})")
        _print_problems(plan)
        click.echo(f"drift: {plan.summary()} if compiled now; run `setlist compile"
                   f"{' --resolve' if resolution is not None else ''}` and commit the "
                   "result", err=True)
        sys.exit(EXIT_SPEC)
    if plan.problems:
        _print_problems(plan)
        click.echo("setlist: nothing was written", err=True)
        sys.exit(EXIT_SPEC)
    if resolution is not None:
        _write_lock_then(project, resolution, lambda: apply(plan, Path(out)))
    else:
        try:
            apply(plan, Path(out))
        except (WriteError, OSError) as exc:
            click.echo(f"setlist: error: writing failed, nothing was changed: {exc}",
                       err=True)
            sys.exit(EXIT_EXTERNAL)
    click.echo(f"{out}: {plan.summary()}")
    if inputs is not None:
        _remember(inputs, project, result, plan, Path(out), memo, record, trusted)


def _cache_inputs(paths: tuple[str, ...]):
    """The compile cache's key for these paths (reading the root files and the lock), or
    None when caching is off or the paths cannot be read (the normal path reports it)."""
    from pathlib import Path

    from . import cache
    from .project import LoadError, _base_of, discover

    if cache.folder() is None:
        return None
    paths = paths or (".",)
    try:
        roots = discover(paths)
        lock = _lock_bytes(Path(_base_of(paths), cache.LOCK_NAME))
        return cache.inputs(paths, roots, lock) if roots else None
    except (LoadError, OSError):
        return None


def _lock_bytes(path) -> bytes | None:  # noqa: ANN001
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _replayed(inputs, record, out: str, color: str) -> bool:  # noqa: ANN001
    """Print what the recorded run printed when the output holds exactly its files."""
    import pickle
    from pathlib import Path

    from .cache import MANIFEST, recall_run

    found = recall_run(inputs)
    if found is None:
        return False
    run, extra = found
    if not record.holds(Path(out), run, MANIFEST):
        return False
    diags = pickle.loads(run.diagnostics)
    if diags:
        _report(diags, {**inputs.texts, **extra}, color)
    click.echo(f"{out}: 0 created, 0 updated, 0 removed, {len(run.documents)} unchanged")
    return True


def _memo(record, root):  # noqa: ANN001, ANN202
    """The per-app memo for a compile into ``root`` (what ``record``, the output's record,
    vouches for), the files the record vouches for (rel path -> sha256), and the manifest
    as read (None when it cannot be: the write stage reports why)."""
    from .compile import Memo
    from .write import WriteError, load_manifest

    trusted = record.trusted(root) if record is not None else {}
    known = record.apps if record is not None else {}
    try:
        read = load_manifest(root)
    except WriteError:
        read = None
    manifest = read.entries if read is not None and known else {}

    def recall(key: str):  # noqa: ANN202
        files = known.get(key)
        if files is None:
            return None
        for path, owner, digest in files:
            entry = manifest.get(path)
            if trusted.get(path) != digest or entry is None or \
                    entry["sha256"] != digest or entry["owner"] != owner:
                return None
        return files

    return Memo(recall), trusted, read


def _remember(inputs, project, result, plan, root, memo, record, trusted) -> None:  # noqa: ANN001
    """Record the run and what the output now holds, for the next compile."""
    from . import cache, lockfile

    try:
        if _lock_bytes(lockfile.lock_path(project.base)) != inputs.lock:
            return  # the lock changed while compiling: the key would not describe the run
    except OSError:
        return
    owners = {d.path: d.owner for d in result.documents}
    documents = [(path, owner, plan.hashes[path]) for path, owner in owners.items()
                 if path in plan.hashes]
    run = None
    if plan.pristine and len(documents) == len(result.documents):
        run = cache.remember_run(inputs, documents, project.diagnostics + result.diagnostics,
                                 project.sources)
    apps = {}
    for key, paths in memo.keys.values():
        if all(p in plan.hashes for p in paths):
            apps[key] = [(p, owners[p], plan.hashes[p]) for p in paths]
    kept = [p for p in plan.unchanged if trusted.get(p) is not None]
    cache.remember_output(root, plan.hashes, run, apps=apps, previous=record, kept=kept)


def _write_lock_then(project, resolution, write_output) -> None:
    """Write the resolved lock, then the output; when the output fails, put the old lock
    back (byte for byte) so that a failed run changes nothing. Exit 3 on failure."""
    from . import lockfile
    from .resolve import write_lock
    from .write import WriteError

    path = lockfile.lock_path(project.base)
    try:
        before = path.read_bytes()
    except FileNotFoundError:
        before = None
    except OSError as exc:
        click.echo(f"setlist: error: {path} cannot be read: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_EXTERNAL)
    try:
        written = write_lock(project.base, resolution.lock)
    except OSError as exc:
        click.echo(f"setlist: error: {lockfile.LOCK_NAME} could not be written, nothing was "
                   f"changed: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_EXTERNAL)
    try:
        write_output()
    except (WriteError, OSError) as exc:
        if written:
            _restore(path, before)
        click.echo(f"setlist: error: writing failed, nothing was changed: {exc}", err=True)
        sys.exit(EXIT_EXTERNAL)
    if resolution.changed:
        click.echo(f"{lockfile.LOCK_NAME}: {resolution.changed} "
                   f"{'entry' if resolution.changed == 1 else 'entries'} changed")


def _restore(path, before: bytes | None) -> None:
    from .files import replace_file

    if before is None:
        path.unlink(missing_ok=True)
    else:
        replace_file(path, before)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("-o", "--output", "out", default=".", show_default=True,
              type=click.Path(file_okay=False, path_type=str),
              help="Root of the config repository checkout to compare with.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are differences.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in diagnostics.")
def diff(paths: tuple[str, ...], out: str, exit_code: bool, color: str) -> None:
    """Show, as a unified diff, what `setlist compile` would change below OUTPUT."""
    from .write import unified_diff

    project, result, _ = _compiled(paths, color)
    plan = _write_plan(project, result, out, force=True)
    text = unified_diff(plan)
    if text:
        click.echo(text, nl=False)
    _print_problems(plan)
    if exit_code and (plan.changes or plan.problems):
        sys.exit(EXIT_SPEC)


@main.command()
@click.argument("code", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every code with its title.")
def explain(code: str | None, list_all: bool) -> None:
    """Print the long explanation of a diagnostic CODE (e.g. SL200)."""
    from .codes import CODES
    from .codes import explain as explain_code

    if list_all or code is None:
        for entry in CODES.values():
            click.echo(f"{entry.code}  {entry.title}")
        return
    text = explain_code(code)
    if text is None:
        click.echo(f"setlist: error: unknown diagnostic code '{code}' "
                   "(setlist explain --list shows them all)", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(text, nl=False)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=str))
@click.option("--clusters", "clusters", required=True, type=click.Path(path_type=str),
              help="Cluster inventory: a YAML list of clusters, or Argo CD cluster Secrets "
                   "(kubectl get secret -l argocd.argoproj.io/secret-type=cluster -o yaml).")
@click.option("--app", "app_name", help="Only this app.")
@click.option("--env", "env_name", help="Only this environment.")
@click.option("--format", "fmt", type=click.Choice(("table", "yaml", "json")), default="table",
              show_default=True, help="How to print the Applications.")
def preview(path: str | None, clusters: str, app_name: str | None, env_name: str | None,
            fmt: str) -> None:
    """Show the Applications Argo CD would generate from PATH's ApplicationSets (offline).

    Expands every generated ApplicationSet for the clusters of the --clusters inventory, as
    the ApplicationSet controller's cluster generator does; warnings and errors go to stderr.
    Exit status: 0 done (warnings allowed), 1 the spec has errors or an ApplicationSet fails
    for a cluster of the inventory (a template that does not render, or that preview cannot
    evaluate; a selector the controller rejects), 2 bad invocation or an unreadable inventory.
    """
    from .inventory import InventoryError, read_inventory
    from .preview import FAILURES, RENDERERS
    from .preview import preview as run_preview

    try:
        inventory = read_inventory(clusters)
    except InventoryError as exc:
        click.echo(f"setlist: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    project = _load((path,) if path else ())
    if not project.ok or project.spec is None:
        _report(project.errors, project.sources, "never")
        sys.exit(EXIT_SPEC)
    spec = project.spec
    for flag, given, known in (("--app", app_name, [a.name for a in spec.apps]),
                               ("--env", env_name, [e.name for e in spec.environments])):
        if given is not None and given not in known:
            click.echo(f"setlist: error: {flag} {given}: no such {flag[2:]} (known: "
                       f"{', '.join(known) or 'none'})", err=True)
            sys.exit(EXIT_USAGE)
    result = project.compile()
    if not result.ok:
        _report([d for d in result.diagnostics if d.severity.value == "error"],
                project.sources, "never")
        sys.exit(EXIT_SPEC)
    shown = run_preview(result.documents, inventory, app=app_name, env=env_name)
    click.echo(RENDERERS[fmt](shown), nl=False)
    for issue in shown.issues:
        level = "error" if issue.kind in FAILURES else "warning"
        click.echo(f"setlist: {level}: {issue.message}", err=True)
    failed = [f"{item.name} ({item.file})" for item in shown.items if item.failed]
    if failed:
        click.echo(f"setlist: error: preview failed: {len(failed)} ApplicationSet"
                   f"{'s' if len(failed) != 1 else ''} cannot be expanded for this inventory: "
                   f"{', '.join(failed)}", err=True)
        sys.exit(EXIT_SPEC)
    sys.exit(EXIT_OK)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=str))
@click.option("--image", "image_names", multiple=True, metavar="NAME",
              help="Only this image (repeatable).")
@click.option("--env", "env_names", multiple=True, metavar="ENV",
              help="Only this environment (repeatable).")
@click.option("--offline", is_flag=True,
              help="Contact no registry: read only registries with a `layout`; other images "
                   "keep their locked versions.")
@_timeout_option()
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in diagnostics.")
def resolve(path: str | None, image_names: tuple[str, ...], env_names: tuple[str, ...],
            offline: bool, timeout: float | None, color: str) -> None:
    """Ask the registries which version each environment runs; update setlist.lock.

    Every image without a pin is resolved by its strategy for the environments the registry
    feeds (no promotion, or a `<- registry` rule); promoted environments keep their entries.
    setlist.lock (in the project folder) is written only when every image resolved.
    Progress goes to stderr: a bar on a terminal, one line per image otherwise.

    Exit status: 0 resolved (or up to date), 1 spec errors or an unreadable lock, 2 bad
    invocation, 3 a registry failed (setlist.lock is unchanged).
    """
    from . import lockfile
    from .resolve import write_lock

    project = _load((path,) if path else ())
    if _blocked(project, fresh=True):
        _report(project.diagnostics, project.sources, color)
        sys.exit(EXIT_SPEC)
    result = _resolved(project, image_names, env_names, offline, timeout)
    name = lockfile.LOCK_NAME
    for resolved in result.resolved:
        click.echo(resolved.line())
    try:
        write_lock(project.base, result.lock)
    except OSError as exc:
        click.echo(f"setlist: error: {name} could not be written: {exc.strerror or exc}",
                   err=True)
        sys.exit(EXIT_EXTERNAL)
    if result.changed:
        click.echo(f"{name}: {result.changed} "
                   f"{'entry' if result.changed == 1 else 'entries'} changed")
    else:
        click.echo(f"{name}: up to date")


def _known_names(spec, image_names: tuple[str, ...], env_names: tuple[str, ...]) -> None:
    """Exit 2 naming the known ones when --image or --env names something the spec lacks."""
    for flag, given, known in (("--image", image_names, [i.name for i in spec.images]),
                               ("--env", env_names, [e.name for e in spec.environments])):
        for name in given:
            if name not in known:
                click.echo(f"setlist: error: {flag} {name}: no such {flag[2:]} (known: "
                           f"{', '.join(known) or 'none'})", err=True)
                sys.exit(EXIT_USAGE)


def _committed(project, desired, options, resolver=None):  # noqa: ANN001, ANN202
    """Run setlist.apply.apply for a command; an ApplyError is printed and exits."""
    import os

    from .apply import ApplyError
    from .apply import apply as run_apply

    try:
        return run_apply(project, desired, options, environ=os.environ, resolver=resolver,
                         log=lambda text: click.echo(f"setlist: {text}", err=True))
    except ApplyError as exc:
        click.echo(f"setlist: error: {exc}", err=True)
        for detail in exc.details:
            click.echo(f"  {detail}", err=True)
        sys.exit(exc.exit_code)


def _resolved(project, image_names: tuple[str, ...] = (), env_names: tuple[str, ...] = (),
              offline: bool = False, timeout: float | None = None, lock=None):
    """Resolve the project's images (progress on stderr) starting from ``lock`` (default:
    the project's setlist.lock); exit 2 for unknown names, 1 for an unreadable lock, 3
    when a registry fails — nothing written in every case."""
    from datetime import UTC, datetime

    from . import lockfile
    from .progress import ResolveProgress
    from .resolve import resolve as run_resolve

    spec = project.spec
    _known_names(spec, image_names, env_names)
    if lock is None:
        try:
            lock = lockfile.read(project.base)
        except lockfile.LockError as exc:
            click.echo(f"setlist: error: {exc}", err=True)
            sys.exit(EXIT_SPEC)
    now = datetime.now(UTC).replace(microsecond=0)  # lock times in whole seconds
    result = run_resolve(spec, lock, now=now, base=project.base,
                         images=set(image_names) or None, envs=set(env_names) or None,
                         offline=offline, timeout=timeout or DEFAULT_TIMEOUT,
                         progress=ResolveProgress(sys.stderr))
    if not result.ok:
        for failure in result.failures:
            click.echo(f"setlist: error: {failure}", err=True)
        click.echo(f"setlist: {lockfile.LOCK_NAME} was not changed", err=True)
        sys.exit(EXIT_EXTERNAL)
    for image in sorted(result.set_aside):
        click.echo(f"setlist: note: {image}: passed over {', '.join(result.set_aside[image])}",
                   err=True)
    if result.skipped:
        click.echo(f"setlist: offline: kept the locked versions of {', '.join(result.skipped)}",
                   err=True)
    _policy_gate(project, result.lock,
                 signed=None if offline else _signature_checker(project, timeout))
    return result


def _blocked(project, *, fresh: bool) -> bool:  # noqa: ANN001
    """Whether spec errors stop a command. A command that brings fresh registry facts
    (resolve, promote, --resolve) judges policies on those instead of the old lock, so the
    policy violations `check` found with the old lock do not stop it (the gate does)."""
    if project.spec is None:
        return True
    return any(not (fresh and d.code == "SL800") for d in project.errors)


def _policy_gate(project, lock, *, signed=None, now=None) -> None:  # noqa: ANN001
    """Refuse (exit 1, nothing written) a lock that breaks an error-level policy."""
    from .policy import violations

    found = violations(project, lock, signed=signed, now=now)
    if not found:
        return
    _report(found, project.sources)
    click.echo(f"setlist: error: the new versions break {len(found)} polic"
               f"{'y rule' if len(found) == 1 else 'y rules'}; nothing was written", err=True)
    sys.exit(EXIT_SPEC)


@main.command(name="apply")
@click.argument("path", required=False, type=click.Path(path_type=str))
@click.option("--repo", "repo_url", metavar="URL|DIR",
              help="Config repository to commit to (default: the spec's gitops repo).")
@click.option("--branch", help="Branch to commit to (default: the spec's gitops branch).")
@click.option("--mode", type=click.Choice(["auto", "commit", "pull-request"]), default="auto",
              show_default=True,
              help="commit: push to the branch; pull-request: push a branch of setlist's own; "
                   "auto: pull-request when a changed environment has writeback = "
                   "pull_request.")
@click.option("--resolve", "resolve_first", is_flag=True,
              help="Resolve versions from the registries first.")
@click.option("--offline", is_flag=True, help="With --resolve: read only `layout` registries.")
@_timeout_option()
@click.option("--dry-run", is_flag=True,
              help="Show the commit that would be made; commit and push nothing.")
@click.option("--force", is_flag=True,
              help="Overwrite hand edits of generated files in the repository.")
@click.option("--author", metavar="'NAME <EMAIL>'",
              help="Commit author (default: git's configured identity).")
@click.option("--message", "template", metavar="TEMPLATE",
              help="Commit message template; variables: {summary} {changes} {images} {envs} "
                   "{spec_hash} {lock_hash} {branch} {promotion}.")
@click.option("--open-pr-command", metavar="COMMAND",
              help="Run after pushing a pull-request branch; {branch} {base} {title} "
                   "{body_file} are replaced (shell-quoted).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in diagnostics.")
def apply_cmd(path: str | None, repo_url: str | None, branch: str | None, mode: str,
              resolve_first: bool, offline: bool, timeout: float | None, dry_run: bool,
              force: bool,
              author: str | None, template: str | None, open_pr_command: str | None,
              color: str) -> None:
    """Compile PATH into the config repository and commit (or push a pull-request branch).

    The repository is cloned once into the user cache folder and reused; the lock committed
    there is the starting point, this run's lock changes (setlist.lock in the project, or
    --resolve) are merged into it per image and environment, and only generated paths and
    the lock are staged. When another writer pushed first, the run starts again from the
    new head (bounded); a shared branch is never force-pushed. A token in
    SETLIST_GIT_TOKEN is given to git through GIT_ASKPASS.

    Exit status: 0 committed, pushed or nothing to do, 1 spec errors or hand edits in the
    repository, 2 bad invocation, 3 git or a registry failed.
    """
    import os
    from pathlib import Path

    from . import lockfile
    from .apply import DEFAULT_TEMPLATE, ApplyOptions
    from .resolve import write_lock

    _needs("--offline", offline, "--resolve", resolve_first)
    project = _load((path,) if path else ())
    if _blocked(project, fresh=resolve_first):
        _report(project.diagnostics, project.sources, color)
        sys.exit(EXIT_SPEC)
    gitops = project.spec.gitops
    if gitops is None:
        click.echo("setlist: error: the spec has no gitops block naming the config "
                   "repository", err=True)
        sys.exit(EXIT_SPEC)
    url = repo_url or gitops.repo
    if os.path.isdir(url):
        url = str(Path(url).resolve())
    resolver = None
    desired = None
    if resolve_first:
        def resolver(committed):  # noqa: ANN001, ANN202
            return _resolved(project, offline=offline, timeout=timeout, lock=committed).lock
    else:
        try:
            desired = lockfile.read(project.base)
        except lockfile.LockError as exc:
            click.echo(f"setlist: error: {exc}", err=True)
            sys.exit(EXIT_SPEC)
        _policy_gate(project, desired, signed=_signature_checker(project, timeout))
    options = ApplyOptions(repo=url, branch=branch or gitops.branch, mode=mode,
                           dry_run=dry_run, force=force, author=author,
                           template=template or DEFAULT_TEMPLATE,
                           open_pr_command=open_pr_command)
    result = _committed(project, desired, options, resolver)
    if result.status == "unchanged":
        click.echo(f"{options.branch}: up to date, nothing to commit")
    elif result.status == "dry-run":
        click.echo(f"would commit to {result.branch}:")
        click.echo(result.diffstat, nl=False)
        click.echo("")
        click.echo(result.message, nl=False)
    elif result.status == "branch":
        click.echo(f"pushed {result.branch} (base {options.branch}): {len(result.paths)} "
                   f"file{'s' if len(result.paths) != 1 else ''}")
    else:
        click.echo(f"committed {result.commit[:12]} to {result.branch}: {len(result.paths)} "
                   f"file{'s' if len(result.paths) != 1 else ''}"
                   + (f" (after {result.attempts} attempts)" if result.attempts > 1 else ""))
    if result.status in ("committed", "unchanged") and result.lock is not None and \
            (result.lock.entries or lockfile.lock_path(project.base).exists()):
        try:
            write_lock(project.base, result.lock)
        except OSError as exc:
            click.echo(f"setlist: warning: the local {lockfile.LOCK_NAME} could not be "
                       f"updated: {exc.strerror or exc}", err=True)


@main.command(name="fmt")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; list the files that are not formatted and exit 1 if any.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Write nothing; print the changes as a unified diff (exit 1 only with "
                   "--check).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in diagnostics.")
def fmt_cmd(paths: tuple[str, ...], check_only: bool, show_diff: bool, color: str) -> None:
    """Format PATHS (files, or folders searched for *.setlist; default: .) in the one
    canonical layout. `-` reads standard input and writes standard output.

    A file is rewritten (atomically) only when its text changes; a file with syntax errors
    is reported and left as it is.

    Exit status: 0 formatted (or already formatted), 1 syntax errors or, with --check,
    unformatted files, 2 bad invocation or an unreadable path, 3 a file could not be
    written.
    """
    import difflib
    from pathlib import Path

    from .files import replace_file
    from .fmt import FormatError, format_source
    from .project import LoadError, discover, display_path

    def fail(message: str) -> None:
        click.echo(f"setlist: error: {message}", err=True)

    def diff_lines(text: str) -> list[str]:
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n\\ No newline at end of file\n"
        return lines

    stdin = "-" in paths
    if stdin and len(paths) > 1:
        fail("`-` (standard input) cannot be combined with other paths")
        sys.exit(EXIT_USAGE)
    if stdin:
        sources: list[tuple[str, str | None]] = [("<stdin>", None)]
    else:
        try:
            found = discover(paths or (".",), tests=True)
        except LoadError as exc:
            fail(str(exc))
            sys.exit(EXIT_USAGE)
        if not found:
            fail(f"no *.setlist files under {' '.join(paths or ('.',))}")
            sys.exit(EXIT_USAGE)
        sources = [(display_path(p), str(p)) for p in found]

    status = EXIT_OK
    changed = unchanged = broken = 0
    for name, path in sources:
        try:
            raw = sys.stdin.buffer.read() if path is None else Path(path).read_bytes()
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            fail(f"{name}: not UTF-8 text ({exc.reason})")
            status = max(status, EXIT_USAGE)
            continue
        except OSError as exc:
            fail(f"{name}: {exc.strerror or exc}")
            status = max(status, EXIT_USAGE)
            continue
        try:
            formatted = format_source(text, name)
        except FormatError as exc:
            _report(exc.diagnostics, {name: text}, color)
            broken += 1
            status = max(status, EXIT_SPEC)
            continue
        if path is None and not (check_only or show_diff):
            sys.stdout.flush()
            sys.stdout.buffer.write(formatted.encode("utf-8"))
            sys.stdout.buffer.flush()
        if formatted == text:
            unchanged += 1
            continue
        if show_diff:
            click.echo("".join(difflib.unified_diff(diff_lines(text), diff_lines(formatted),
                                                    f"a/{name}", f"b/{name}")), nl=False)
        elif check_only:
            click.echo(name)
        if check_only or show_diff or path is None:
            changed += 1
            continue
        try:
            replace_file(os.path.realpath(path), formatted.encode("utf-8"))
        except OSError as exc:
            fail(f"{name} could not be written: {exc.strerror or exc}")
            status = max(status, EXIT_EXTERNAL)
            continue
        changed += 1
        click.echo(name)

    def files(n: int) -> str:
        return f"{n} file{'s' if n != 1 else ''}"

    if broken:
        click.echo(f"setlist: {files(broken)} with syntax errors left unformatted", err=True)
    if check_only and changed:
        click.echo(f"setlist: {files(changed)} not formatted; run `setlist fmt`", err=True)
        status = max(status, EXIT_SPEC)
    elif check_only and not stdin and status == EXIT_OK:
        click.echo(f"{files(unchanged)} already formatted")
    elif not (check_only or show_diff or stdin):
        click.echo(f"formatted {files(changed)}"
                   + (f", {unchanged} already formatted" if unchanged else ""))
    sys.exit(status)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=str))
@click.option("--env", "env_names", multiple=True, metavar="ENV",
              help="Only promotions into this environment (repeatable).")
@click.option("--image", "image_names", multiple=True, metavar="NAME",
              help="Only this image (repeatable).")
@click.option("--at", "at", metavar="TIME",
              help="Decide as if it were this moment (RFC 3339, e.g. 2027-03-01T12:00Z); "
                   "default: now.")
@click.option("--hotfix", metavar="REASON",
              help="Skip the soak time (never a freeze); recorded in the lock and the "
                   "commit.")
@click.option("--dry-run", is_flag=True,
              help="Print what would be promoted and what blocks the rest; change nothing.")
@click.option("--no-resolve", is_flag=True,
              help="Leave the `<- registry` stages alone (no registry is asked).")
@_timeout_option()
@click.option("--repo", "repo_url", metavar="URL|DIR",
              help="Config repository (default: the spec's gitops repo).")
@click.option("--branch", help="Branch (default: the spec's gitops branch).")
@click.option("--author", metavar="'NAME <EMAIL>'", help="Commit author.")
@click.option("--open-pr-command", metavar="COMMAND",
              help="Run after pushing a pull-request branch (see `setlist apply`).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in diagnostics.")
def promote(path: str | None, env_names: tuple[str, ...], image_names: tuple[str, ...],
            at: str | None, hotfix: str | None, dry_run: bool, no_resolve: bool,
            timeout: float | None, repo_url: str | None,
            branch: str | None, author: str | None, open_pr_command: str | None,
            color: str) -> None:
    """Move versions along the promotion rules, through their gates, and commit.

    Starting from the lock committed in the config repository, each `TARGET <- SOURCE`
    rule gives TARGET the version SOURCE runs once the soak time since it arrived there has
    passed, outside TARGET's freeze windows, and (with `signed`) when a cosign signature
    exists; `TARGET <- registry` stages are resolved first (as `setlist resolve`; not
    with --no-resolve). Rules with `approval`, and environments with `writeback =
    pull_request`, are committed as a pull-request branch. One hop per run.

    Exit status: 0 promoted or nothing to promote, 1 spec errors, 2 bad invocation, 3 git
    or a registry failed.
    """
    import os
    from datetime import UTC, datetime
    from pathlib import Path

    from .apply import DEFAULT_TEMPLATE, ApplyOptions
    from .gitrepo import redact
    from .promote import plan_promotions, promoted_lock, table

    project = _load((path,) if path else ())
    if _blocked(project, fresh=True):
        _report(project.diagnostics, project.sources, color)
        sys.exit(EXIT_SPEC)
    spec = project.spec
    _known_names(spec, image_names, env_names)
    if hotfix is not None and not hotfix.strip():
        click.echo("setlist: error: --hotfix needs a reason", err=True)
        sys.exit(EXIT_USAGE)
    now = datetime.now(UTC).replace(microsecond=0)  # lock times in whole seconds
    if at:
        try:
            now = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            click.echo(f"setlist: error: --at {at}: not an RFC 3339 time "
                       "(e.g. 2027-03-01T12:00Z)", err=True)
            sys.exit(EXIT_USAGE)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
    if spec.gitops is None:
        click.echo("setlist: error: the spec has no gitops block", err=True)
        sys.exit(EXIT_SPEC)
    url = repo_url or spec.gitops.repo
    if os.path.isdir(url):
        url = str(Path(url).resolve())
    check_signature = _signature_checker(project, timeout)
    images = set(image_names) or None
    envs = set(env_names) or None
    planned: dict = {}

    def promoted(committed):  # noqa: ANN001, ANN202
        if not no_resolve:  # the `<- registry` stages take the newest allowed version
            committed = _resolved(project, image_names, env_names, timeout=timeout,
                                  lock=committed).lock
        moves = plan_promotions(spec, committed, now, images=images, envs=envs,
                                hotfix=hotfix is not None, signed=check_signature)
        planned["moves"] = moves
        lock = promoted_lock(committed, moves, now)
        _policy_gate(project, lock, signed=check_signature, now=now)
        return lock

    def chosen():  # noqa: ANN202
        return [m for m in planned.get("moves", ()) if m.status == "promote"]

    def trailer() -> str | None:
        moves = chosen()
        if not moves:
            return None
        text = ", ".join(f"{m.image} {m.source}->{m.env}" for m in moves)
        if hotfix is not None and any(m.hotfix for m in moves):
            text += f" (hotfix: {' '.join(hotfix.split())})"
        return redact(text)

    options = ApplyOptions(
        repo=url, branch=branch or spec.gitops.branch, dry_run=dry_run, mode="auto",
        author=author, template=DEFAULT_TEMPLATE, open_pr_command=open_pr_command,
        promotion=trailer, wants_review=lambda: any(m.approval for m in chosen()),
        lock_changes_only=True)
    result = _committed(project, None, options, promoted)
    click.echo(table(planned.get("moves", []), now), nl=False)
    if not chosen():
        click.echo("nothing to promote")
        return
    if result.status == "dry-run":
        click.echo(f"would commit to {result.branch}:")
        click.echo(result.message, nl=False)
        return
    if result.status == "branch":
        click.echo(f"pushed {result.branch} for review (base {options.branch})")
    elif result.status == "committed":
        click.echo(f"committed {result.commit[:12]} to {result.branch}")
    else:
        click.echo(f"{options.branch}: up to date, nothing to commit")


def _signature_checker(project, timeout: float | None = None):  # noqa: ANN001, ANN202
    """(image name, digest) → whether a cosign signature exists, read from the image's
    registry (or its OCI layout), giving up on a request after ``timeout`` seconds."""
    import os

    def check(image_name: str, digest: str) -> bool:
        from .credentials import connection
        from .promote import has_signature
        from .registry import RegistryError

        image = next(i for i in project.spec.images if i.name == image_name)
        client = connection(project.spec, image, os.fspath(project.base), os.environ
                            ).client(timeout or DEFAULT_TIMEOUT)
        try:
            return has_signature(client, image.repository, digest)
        except RegistryError as exc:
            click.echo(f"setlist: error: {exc}", err=True)
            sys.exit(EXIT_EXTERNAL)

    return check


@main.command(name="test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in diagnostics.")
def test_cmd(paths: tuple[str, ...], color: str) -> None:
    """Run the policy test cases in PATHS (files named *.test.setlist, or folders searched
    for them; default: .) and print expected against actual violations.

    Exit status: 0 every case passed, 1 a case failed, 2 no case found or bad invocation.
    """
    import os
    from pathlib import Path

    from .policy.testing import describe, read_case, run_case
    from .project import SKIP_DIRS, TEST_SUFFIX, display_path

    cases: list[Path] = []
    for raw in paths or (".",):
        path = Path(raw)
        if path.is_file():
            cases.append(path)
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames
                                     if d not in SKIP_DIRS and not d.startswith("."))
                cases += [Path(dirpath, n) for n in sorted(filenames) if n.endswith(TEST_SUFFIX)]
        else:
            click.echo(f"setlist: error: {raw}: no such file or directory", err=True)
            sys.exit(EXIT_USAGE)
    if not cases:
        click.echo(f"setlist: error: no policy test cases (*{TEST_SUFFIX}) found", err=True)
        sys.exit(EXIT_USAGE)
    failed = 0
    for path in sorted(set(cases), key=display_path):
        outcome = run_case(read_case(path))
        name = display_path(path)
        if outcome.passed:
            click.echo(f"PASS {name}")
            continue
        failed += 1
        click.echo(f"FAIL {name}")
        for problem in outcome.case.problems:
            click.echo(f"  {problem}")
        if outcome.errors:
            from .render import render_text

            click.echo("  the case does not check:")
            click.echo(render_text(outcome.errors, outcome.sources,
                                   color=_use_color(color, sys.stdout)), nl=False)
        for e in outcome.missing:
            click.echo(f"  expected (line {e.line}): {e}")
        for v in outcome.unexpected:
            click.echo(f"  unexpected: {describe(v)}")
        if outcome.missing or outcome.unexpected:
            click.echo("  actual:" + ("" if outcome.actual else " no violations"))
            for v in outcome.actual:
                click.echo(f"    {describe(v)}")
    total = len(set(cases))
    click.echo(f"{total} case{'s' if total != 1 else ''}, {failed} failed")
    sys.exit(EXIT_SPEC if failed else EXIT_OK)


@main.command()
@click.option("--stdio", is_flag=True, default=True, hidden=True,
              help="Speak LSP over standard input and output (the only transport).")
def lsp(stdio: bool) -> None:
    """Run the language server over stdio (for editors; see editors/ and docs/editors.md)."""
    from .lsp.server import serve

    serve()

