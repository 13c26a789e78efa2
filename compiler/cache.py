"""The compile cache: what a compile of these exact inputs produced, and what is on disk.

Two records, both under ``$XDG_CACHE_HOME/setlist/compile/`` (like the parser tables), both
safe to delete at any time (the next compile is a full one and gives the same bytes):

- a **run** record per set of inputs: keyed by a hash of this setlist's own code (every
  module, the grammar and the standard library, so an upgrade or a local edit of setlist
  never reuses a result), the working folder, the paths given, the text of every root spec
  file and the lock file. It holds each output document's path, owner and SHA-256, the
  diagnostics to print, and the other files the load read (imports outside the given
  paths), whose texts are checked again before the record is used.
- an **output** record per output folder: for each file setlist wrote or found unchanged,
  the SHA-256 of its bytes and its ``lstat`` (size, mtime, ctime, inode), taken after the
  write. A file whose ``lstat`` still matches is known to hold those bytes without reading
  it, as Git's index knows a file is clean. Like Git, a file changed within the
  filesystem's timestamp granularity of the record is treated as unknown ("racy") and read.

Of each kind at most :data:`MAX_RUNS` / :data:`MAX_OUTPUTS` are kept: when there are more,
the older half (by modification time; a replayed run record counts as new) goes.

``setlist compile`` with nothing changed (same inputs, every output file and folder as
recorded) then needs neither parse, check, compile nor render: it prints the recorded
diagnostics and the summary. Anything else runs the full compile; the output record then
only spares reading and hashing the files it vouches for.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = 2
# Records kept at most, of each kind: the older half goes when there are more. A run
# record is written for every new set of inputs, an output record for every output folder.
MAX_RUNS = 32
MAX_OUTPUTS = 32
MANIFEST = ".setlist/manifest.json"  # where the write stage keeps its manifest, below OUTPUT
LOCK_NAME = "setlist.lock"           # lockfile.LOCK_NAME, without importing the lock's model
# A file modified later than this before the record was taken may have been changed again
# within the same timestamp tick without its mtime/ctime moving: it is read, not trusted.
RACY_NS = 50_000_000
COARSE_RACY_NS = 2_000_000_000  # filesystems with whole-second timestamps

Stat = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
FolderStat = tuple[int, int]       # mode, inode: the same folder, not a link put in its place


def base_folder() -> str | None:
    """``$XDG_CACHE_HOME/setlist`` (parser tables, compile records), or None when caching
    is off (SETLIST_NO_CACHE) or the folder cannot be written."""
    if os.environ.get("SETLIST_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "setlist")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def folder() -> str | None:
    """The compile cache's folder, or None when caching is off or impossible."""
    base = base_folder()
    if base is None:
        return None
    path = os.path.join(base, "compile")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path


_FINGERPRINT: list[str] = []


def fingerprint() -> str:
    """A hash of the code that turns specs into files: every file of the setlist package,
    its grammar and standard library, and the versions of Python and of the libraries the
    output depends on. Hashing content, not a version string, keeps an editable install
    from reusing results of code that has since changed."""
    if _FINGERPRINT:
        return _FINGERPRINT[0]
    from importlib.util import find_spec

    from .packaged import folder as package_folder

    digest = hashlib.sha256(f"{FORMAT}\0{sys.version}\0".encode())
    # The libraries the output depends on, by where they are installed and when: found
    # without importing them (importing pydantic alone costs more than a cached compile).
    for name in ("lark", "pydantic", "pydantic_core", "ruamel.yaml"):
        found = find_spec(name)
        origin = found.origin if found is not None else None
        try:
            st = os.stat(origin) if origin else None
        except OSError:
            st = None
        digest.update(f"{name}={origin}:{st and (st.st_size, st.st_mtime_ns)}\0".encode())
    for package in ("setlist", "setlist.grammar", "setlist.stdlib"):
        root = Path(package_folder(package))
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames
                                 if d != "__pycache__" and "." not in d)
            for name in sorted(filenames):
                if name.endswith((".py", ".lark", ".setlist", ".tmpl")):
                    path = os.path.join(dirpath, name)
                    digest.update(f"{os.path.relpath(path, root)}\0".encode())
                    with open(path, "rb") as handle:
                        digest.update(hashlib.sha256(handle.read()).digest())
    _FINGERPRINT.append(digest.hexdigest())
    return _FINGERPRINT[0]


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _load(path: str) -> object | None:
    try:
        with open(path, "rb") as handle:
            data = marshal.loads(handle.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _store(path: str, data: dict, most: int) -> None:
    """Write a record; then, when the folder holds more than ``most`` records of its kind
    (``run-``, ``out-``), remove the older half of them."""
    from .files import replace_file, trim_folder

    data = {"format": FORMAT, **data}
    try:
        replace_file(path, marshal.dumps(data, 4))
    except OSError:  # a cache that cannot be written is simply not used
        return
    name = os.path.basename(path)
    trim_folder(os.path.dirname(path), name[:name.index("-") + 1], ".bin", most)


# ---------------------------------------------------------------- run records


@dataclass
class Inputs:
    """What a compile reads, gathered before loading: the key of its run record."""

    key: str
    texts: dict[str, str]   # root spec files (display path -> text)
    lock: bytes | None      # the lock file's bytes, None when there is none


def inputs(paths: tuple[str, ...], roots: Iterable[Path], lock: bytes | None) -> Inputs:
    from .project import _read, display_path

    digest = hashlib.sha256(fingerprint().encode())
    digest.update(f"\0{os.getcwd()}\0".encode())
    for raw in paths:
        digest.update(f"arg:{raw}\0".encode())
    texts: dict[str, str] = {}
    for path in roots:
        key = display_path(path)
        texts[key] = text = _read(path)
        digest.update(f"file:{key}\0{_text_hash(text)}\0".encode())
    digest.update(b"lock:" + (hashlib.sha256(lock).digest() if lock is not None else b"-"))
    return Inputs(key=digest.hexdigest(), texts=texts, lock=lock)


@dataclass
class Run:
    documents: list[tuple[str, str, str]]    # (path, owner, sha256), sorted by path
    diagnostics: bytes                       # pickled list of Diagnostic
    extra: dict[str, str]                    # other files read: display path -> text hash

    def digest(self) -> str:
        text = "\n".join("\t".join(d) for d in self.documents)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _run_path(base: str, key: str) -> str:
    return os.path.join(base, f"run-{key[:32]}.bin")


def recall_run(inp: Inputs) -> tuple[Run, dict[str, str]] | None:
    """The run record for these inputs, with the texts of the other files it read (checked
    to be unchanged), or None."""
    base = folder()
    if base is None:
        return None
    path = _run_path(base, inp.key)
    data = _load(path)
    if data is None or data.get("key") != inp.key:
        return None
    from .project import STD_PREFIX, _std_text

    extra_texts: dict[str, str] = {}
    for key, digest in data["extra"].items():
        if key.startswith(STD_PREFIX) and not os.path.exists(key):
            text = _std_text(key)  # part of the fingerprint
        else:
            try:
                text = Path(key).read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                return None
        if text is None or _text_hash(text) != digest:
            return None
        extra_texts[key] = text
    run = Run(documents=[tuple(d) for d in data["documents"]],
              diagnostics=data["diagnostics"], extra=data["extra"])
    with contextlib.suppress(OSError):
        os.utime(path)  # used now: trimming keeps the records used last
    return run, extra_texts


def remember_run(inp: Inputs, documents: list[tuple[str, str, str]], diagnostics: list,
                 sources: dict[str, str]) -> Run | None:
    import pickle

    base = folder()
    if base is None:
        return None
    extra = {k: _text_hash(t) for k, t in sources.items() if k not in inp.texts}
    run = Run(documents=sorted(documents), diagnostics=pickle.dumps(diagnostics, 5),
              extra=extra)
    _store(_run_path(base, inp.key), {"key": inp.key, "documents": run.documents,
                                      "diagnostics": run.diagnostics, "extra": extra},
           MAX_RUNS)
    return run


# ---------------------------------------------------------------- output records


def _stat(path: str) -> Stat | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _folder_stat(path: str) -> FolderStat | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_mode, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _output_path(base: str, root: Path) -> str:
    real = os.path.realpath(root)
    return os.path.join(base, f"out-{hashlib.sha256(real.encode()).hexdigest()[:32]}.bin")


@dataclass
class Output:
    """What an output folder held when it was last recorded."""

    files: dict[str, tuple[str, Stat]]   # rel path -> (sha256, lstat)
    folders: dict[str, FolderStat]       # rel folder -> (mode, inode)
    taken_ns: int
    run_digest: str                      # Run.digest() of the documents it holds
    # The per-app memo (setlist.compile.Memo): app key -> (path, owner, sha256) of each
    # file the app's documents were written to.
    apps: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    def trusted(self, root: Path) -> dict[str, str]:
        """Rel path -> sha256 of every recorded file still exactly as recorded."""
        out = {}
        prefix = os.path.join(root, "")
        for rel, (digest, recorded) in self.files.items():
            if _fresh(recorded, self.taken_ns) and _stat(prefix + rel) == recorded:
                out[rel] = digest
        return out

    def holds(self, root: Path, run: Run, manifest_rel: str) -> bool:
        """Whether ``root`` still holds exactly what ``run`` produces, with nothing else
        recorded (so a compile would change nothing), judged from lstat alone."""
        if self.run_digest != run.digest():
            return False
        prefix = os.path.join(root, "")
        for rel, recorded in self.folders.items():
            if _folder_stat(prefix + rel) != recorded:
                return False
        if manifest_rel not in self.files:
            return False
        expected = {path: digest for path, _owner, digest in run.documents}
        if len(expected) + 1 != len(self.files):
            return False
        for rel, (digest, recorded) in self.files.items():
            if rel != manifest_rel and expected.get(rel) != digest:
                return False
            if not _fresh(recorded, self.taken_ns) or _stat(prefix + rel) != recorded:
                return False
        return True


def _fresh(recorded: Stat, taken_ns: int) -> bool:
    mtime = recorded[1]
    margin = COARSE_RACY_NS if mtime % 1_000_000_000 == 0 else RACY_NS
    return max(mtime, recorded[2]) < taken_ns - margin


def recall_output(root: Path) -> Output | None:
    base = folder()
    if base is None:
        return None
    data = _load(_output_path(base, root))
    if data is None or data.get("root") != os.path.realpath(root):
        return None
    return Output(files={k: (v[0], tuple(v[1])) for k, v in data["files"].items()},
                  folders={k: tuple(v) for k, v in data["folders"].items()},
                  taken_ns=data["taken_ns"], run_digest=data["run_digest"],
                  apps={k: [tuple(d) for d in v] for k, v in data["apps"].items()})


def remember_output(root: Path, files: dict[str, str], run: Run | None, *,
                    apps: dict[str, list[tuple[str, str, str]]] | None = None,
                    previous: Output | None = None, kept: Iterable[str] = ()) -> None:
    """Record ``files`` (rel path -> sha256 of what is on disk now) and their folders.
    With ``run``: the output holds exactly that run's documents and its manifest. ``apps``:
    the per-app memo. ``kept``: files this run neither wrote nor read because ``previous``
    vouched for them (their lstat matched it when the run began): their recorded lstat is
    kept rather than taken again. Folders are always looked at afresh."""
    base = folder()
    if base is None:
        return
    taken = time.time_ns()
    join = os.path.join
    stats = {}
    reused = previous.files if previous is not None else {}
    kept = set(kept)
    folders: dict[str, FolderStat] = {}
    prefix = join(root, "")
    for rel, digest in files.items():
        old = reused.get(rel) if rel in kept else None
        if old is not None and old[0] == digest:
            stats[rel] = old
        else:
            st = _stat(prefix + rel)
            if st is None:
                continue
            stats[rel] = (digest, st)
        parent = rel.rpartition("/")[0]  # relative paths of the output, '/'-separated
        while parent and parent not in folders:
            folder_stat = _folder_stat(prefix + parent)
            if folder_stat is None:  # a link or no folder: record nothing
                return
            folders[parent] = folder_stat
            parent = parent.rpartition("/")[0]
    _store(_output_path(base, root), {
        "root": os.path.realpath(root), "files": stats, "folders": folders,
        "taken_ns": taken, "run_digest": run.digest() if run is not None else "",
        "apps": apps or {}}, MAX_OUTPUTS)
