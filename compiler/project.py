"""The session object: loads source files and their imports, runs the stages, holds results.

The CLI and the language server both go through ``load``/``Project``; neither runs a stage on
its own. Sources may be given as overrides (unsaved editor buffers) instead of disk files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .gcpause import gc_paused

if TYPE_CHECKING:
    from . import model as m
    from .diagnostics import Diagnostic
    from .spec import Spec

# The syntax tree, diagnostics, parser and spec are imported where they are used: finding
# and reading spec files (discover, display_path) must stay cheap for the compile cache,
# which may answer a compile without loading anything.

STD_PREFIX = "std/"
# Prefix of the target recorded for an import that failed (SL204): names no loaded file.
UNRESOLVED = "<unresolved>"
TEST_SUFFIX = ".test.setlist"
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"}


class LoadError(Exception):
    """A path given on the command line cannot be read (a bad invocation, exit 2)."""


@dataclass
class SourceFile:
    key: str                 # display path: relative to cwd when below it; "std/x.setlist"
    text: str
    module: m.Module
    is_root: bool = True
    # alias -> key of the imported file; UNRESOLVED + path when the import failed (SL204)
    imports: dict[str, str] = field(default_factory=dict)
    import_decls: dict[str, m.Import] = field(default_factory=dict)


@dataclass
class Project:
    files: dict[str, SourceFile]
    diagnostics: list[Diagnostic]
    spec: Spec | None = None
    policies: object | None = None  # setlist.policy.PolicySet, set by the checker

    @property
    def sources(self) -> dict[str, str]:
        return {k: f.text for k, f in self.files.items()}

    @property
    def errors(self) -> list[Diagnostic]:
        from .diagnostics import Severity

        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        from .diagnostics import Severity

        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    # The folder the project was loaded from; generated headers name spec files relative to
    # it, so that the output does not depend on where `setlist` was run.
    base: str = "."

    @property
    def roots(self) -> list[SourceFile]:
        return [f for f in self.files.values() if f.is_root]

    def spec_sources(self) -> tuple[str, ...]:
        names = []
        for source in self.roots:
            rel = os.path.relpath(source.key, self.base) if not os.path.isabs(source.key) or \
                os.path.isabs(self.base) else source.key
            names.append(Path(rel).as_posix())
        return tuple(sorted(names))

    def plan(self, lock=None):
        """The resolved plan and its diagnostics: versions from pins in the spec, else from
        ``lock`` (a ``setlist.lockfile.Lock``) when given, else from `setlist.lock` in the
        project folder when there is one."""
        from . import lockfile
        from .diagnostics import Span, error
        from .plan import NOWHERE, build_plan

        assert self.spec is not None
        roots = sorted(f.key for f in self.roots)
        anchor = Span(file=roots[0], line=1, column=1, end_line=1, end_column=1) if roots \
            else NOWHERE
        if lock is not None:
            return build_plan(self.spec, lock, self.spec_sources(), anchor)
        try:
            lock = lockfile.read(self.base)
        except lockfile.LockError as exc:
            where = Span(file=str(lockfile.lock_path(self.base).as_posix()), line=1, column=1,
                         end_line=1, end_column=1)
            plan, diags = build_plan(self.spec, None, self.spec_sources(), anchor)
            return plan, diags + [error(where, "SL706", str(exc),
                                        "fix the file or delete it; pins in the spec still "
                                        "work without it")]
        return build_plan(self.spec, lock, self.spec_sources(), anchor)

    @gc_paused()
    def compile(self, lock=None, memo=None):
        """Run the compile stage on the checked spec: a ``setlist.compile.CompileResult``;
        versions come from ``lock`` when given (see :meth:`plan`). ``memo``: a
        ``setlist.compile.Memo`` (an incremental compile into a recorded output)."""
        from .compile import compile_plan

        plan, diags = self.plan(lock)
        result = compile_plan(plan, memo)
        result.diagnostics[:0] = diags
        return result


def display_path(path: Path) -> str:
    absolute = path.absolute()
    try:
        rel = os.path.relpath(absolute)
    except ValueError:  # another drive
        return absolute.as_posix()
    if rel.startswith(".."):
        return absolute.as_posix()
    return Path(rel).as_posix()


def discover(paths: Iterable[str | os.PathLike], *, tests: bool = False) -> list[Path]:
    """Expand files and directories into the sorted list of *.setlist files they name;
    policy test cases (*.test.setlist) only with ``tests`` (they are specs of their own)."""
    found: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames
                                     if d not in SKIP_DIRS and not d.startswith("."))
                for name in sorted(filenames):
                    # policy test cases (`setlist test`) are specs of their own
                    if name.endswith(".setlist") and (tests or not name.endswith(TEST_SUFFIX)):
                        p = Path(dirpath, name)
                        found.setdefault(display_path(p), p)
        elif path.is_file():
            found.setdefault(display_path(path), path)
        else:
            raise LoadError(f"{raw}: no such file or directory")
    return [found[k] for k in sorted(found)]


def _std_text(key: str) -> str | None:
    name = key[len(STD_PREFIX):]
    from .packaged import std_folder

    try:
        with open(os.path.join(std_folder(), name), encoding="utf-8") as handle:
            return handle.read()
    except (OSError, ValueError):  # no such module, a name too long, a NUL in the name
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{display_path(path)}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise LoadError(f"{display_path(path)}: {exc.strerror}") from None


@gc_paused()
def load(paths: Iterable[str | os.PathLike] = (".",), *,
         overrides: Mapping[str, str] | None = None,
         parse: Callable[[str, str], tuple[m.Module, list[Diagnostic]]] | None = None,
         ) -> Project:
    """Load, parse and check a project: the public entry point (``setlist.load``).

    ``overrides`` maps display paths to text that replaces (or adds) a file's content.
    ``parse`` replaces ``parse_source`` (same contract): a long-lived session such as the
    language server passes a caching one so that unchanged files are not parsed again.
    Raises ``LoadError`` only for given paths that do not exist or cannot be read; everything
    else (imports included) is a diagnostic.
    """
    from . import model as m
    from .diagnostics import Span, error, sort_diagnostics
    from .parse import parse_source

    # Override keys name files like paths on the command line do ("./a.setlist", absolute
    # paths): normalise them to display paths so that they replace the file they name.
    overrides = {_override_key(k): t for k, t in (overrides or {}).items()}
    paths = tuple(paths)
    files: dict[str, SourceFile] = {}
    diags: list[Diagnostic] = []
    root_keys = [display_path(p) for p in discover(paths)] if paths else []
    disk_keys = set(root_keys)
    for key in sorted(overrides):
        if key not in root_keys and not key.startswith(STD_PREFIX):
            root_keys.append(key)
    root_keys.sort()

    pending = list(root_keys)
    std_keys: set[str] = set()  # files reached through a std import (read from the package)
    failed_decls: dict[tuple[str, str], m.Import] = {}  # (file, alias) of failed imports
    unreadable: dict[str, str] = {}  # imported files that exist but cannot be read -> why
    texts: dict[str, str] = {}
    while pending:
        key = pending.pop(0)
        if key in files:
            continue
        if key in overrides:
            text = overrides[key]
        elif key in std_keys and key not in disk_keys:
            # A project folder may hold a folder named std/ of its own: its files are read
            # from disk, only std imports come from the standard library.
            text = _std_text(key) or ""
        else:
            try:
                text = _read(Path(key))
            except LoadError as exc:
                if key in root_keys:
                    raise  # named on the command line: a bad invocation
                # An imported file that cannot be read is a problem of the spec: report it at
                # every import naming it, like a missing file.
                unreadable[key] = str(exc).split(": ", 1)[-1]
                for importer in files.values():
                    for alias, target in list(importer.imports.items()):
                        if target == key and alias in importer.import_decls:
                            _unreadable_import(importer, alias, unreadable[key], failed_decls,
                                               diags)
                continue
        texts[key] = text
        module, parse_diags = (parse or parse_source)(text, key)
        diags.extend(parse_diags)
        source = SourceFile(key=key, text=text, module=module)
        files[key] = source
        for decl in module.decls:
            if isinstance(decl, m.Import):
                in_std = key in std_keys and key not in disk_keys
                target = _resolve_import(source, decl, overrides, diags, in_std=in_std)
                if target is None:
                    # Keep the alias, bound to no file, so that its uses are not reported
                    # again as unknown modules: the import itself already is (SL204).
                    raw = decl.path.text if decl.path.is_plain else ""
                    alias = decl.name or (_default_alias(raw) if raw else None)
                    if alias and alias not in source.imports:
                        source.imports[alias] = UNRESOLVED + raw
                        failed_decls[(key, alias)] = decl
                    continue
                if in_std or decl.path.text.startswith(STD_PREFIX):
                    std_keys.add(target)
                alias = decl.name or _default_alias(target)
                if alias in source.imports:
                    first = source.import_decls.get(alias) or failed_decls[(key, alias)]
                    diags.append(error(decl.name_span or decl.span, "SL206",
                                       f"the alias '{alias}' is already used by another import",
                                       "give this import another name with 'as'",
                                       related=(_related(first.span, "first import"),)))
                    continue
                source.imports[alias] = target
                source.import_decls[alias] = decl
                if target in unreadable:
                    _unreadable_import(source, alias, unreadable[target], failed_decls, diags)
                elif target not in files:
                    pending.append(target)

    imported = {t for f in files.values() for t in f.imports.values()
                if t != f.key and t in files}
    for key, source in files.items():
        source.is_root = key in root_keys and key not in imported
    diags.extend(_import_cycles(files))

    project = Project(files=files, diagnostics=diags, base=_base_of(paths))
    from .check import check  # the checker is imported late to keep `--help` fast

    try:
        check(project)
    except RecursionError:  # an expression nested deeper than the checker can follow
        anchor = sorted(k for k in root_keys if k in files) or sorted(files)
        project.spec = None
        project.diagnostics.append(error(
            Span(file=anchor[0], line=1, column=1, end_line=1, end_column=1), "SL105",
            "the spec nests expressions too deeply to be checked",
            "split long chains of and/or or deeply nested lists into constants"))
    project.diagnostics = sort_diagnostics(project.diagnostics)
    return project


def _base_of(paths: Iterable[str | os.PathLike]) -> str:
    """The folder headers name spec files from: the common folder of every given path, so
    that the order of the paths on the command line changes nothing."""
    folders = []
    for raw in paths:
        path = Path(raw)
        if path.exists():
            folders.append(os.path.abspath(path if path.is_dir() else path.parent))
    if not folders:
        return "."
    return display_path(Path(os.path.commonpath(folders)))


def _related(span, message):
    from .diagnostics import Related

    return Related(span=span, message=message)


def _default_alias(key: str) -> str:
    return Path(key).stem


def _unreadable_import(source: SourceFile, alias: str, reason: str,
                       failed_decls: dict[tuple[str, str], m.Import],
                       diags: list[Diagnostic]) -> None:
    """Report an import of an unreadable file and treat it as failed (like a missing one)."""
    from .diagnostics import error

    decl = source.import_decls.pop(alias)
    failed_decls[(source.key, alias)] = decl
    diags.append(error(decl.path.span, "SL204",
                       f"cannot read {source.imports[alias]}: {reason}",
                       "save the file as UTF-8 text" if "UTF-8" in reason else ""))


def _override_key(key: str | os.PathLike) -> str:
    key = os.fspath(key)
    if key.startswith(STD_PREFIX):
        return key
    return display_path(Path(key))


def _resolve_import(source: SourceFile, decl: m.Import, overrides: Mapping[str, str],
                    diags: list[Diagnostic], *, in_std: bool = False) -> str | None:
    from .diagnostics import error

    raw = decl.path.text
    if not decl.path.is_plain or not raw:
        diags.append(error(decl.path.span, "SL204", "an import path must be a plain string",
                           'e.g. import "./envs.setlist" or import "std/sync"'))
        return None
    target = raw if raw.endswith(".setlist") else raw + ".setlist"
    if raw.startswith(STD_PREFIX):
        if _std_text(target) is None:
            from .packaged import std_folder

            known = sorted(STD_PREFIX + name.removesuffix(".setlist")
                           for name in os.listdir(std_folder()) if name.endswith(".setlist"))
            diags.append(error(decl.path.span, "SL204",
                               f"the standard library has no module '{raw}'",
                               "available: " + ", ".join(known)))
            return None
        return target
    if in_std:
        key = (Path(source.key).parent / target).as_posix()
        return key
    if not raw.startswith(("./", "../")):
        diags.append(error(decl.path.span, "SL204",
                           f"import path '{raw}' is neither relative nor a std module",
                           f'write "./{raw}" for a file next to this one'))
        return None
    base = Path(source.key).parent
    key = display_path(Path(os.path.normpath(base / target)))
    if key in overrides or _is_file(key):
        return key
    diags.append(error(decl.path.span, "SL204", f"cannot find '{raw}' (looked for {key})",
                       "paths are relative to the importing file's folder"))
    return None


def _is_file(key: str) -> bool:
    """Whether an import names a file; a path the system cannot even look up (too long, a
    NUL in it) names none, and is reported like a missing file."""
    try:
        return Path(key).is_file()
    except (OSError, ValueError):
        return False


def _import_cycles(files: dict[str, SourceFile]) -> list[Diagnostic]:
    """Report each cycle once, at the import that closes it (in sorted file order)."""
    from .diagnostics import error

    diags: list[Diagnostic] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []
    reported: set[frozenset[str]] = set()

    def visit(key: str) -> None:
        state[key] = 1
        stack.append(key)
        source = files[key]
        for alias in sorted(source.imports):
            target = source.imports[alias]
            if target not in files:
                continue
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                members = frozenset(cycle)
                if members not in reported:
                    reported.add(members)
                    decl = source.import_decls[alias]
                    diags.append(error(decl.path.span, "SL205",
                                       "import cycle: " + " → ".join(cycle),
                                       "move what both files need into a third module"))
            elif state.get(target) is None:
                visit(target)
        stack.pop()
        state[key] = 2

    for key in sorted(files):
        if state.get(key) is None:
            visit(key)
    return diags
