"""The checked, typed spec: what the checker hands to resolve, policy and compile.

Everything here has been validated: names resolve, values have their types and syntax,
references point at declarations of the right kind. Every entity keeps the span of the
declaration it came from, so later stages can still point at the source.

The classes are ``Record``s: declared and used like the pydantic models they were, but
without importing pydantic, which with building its validators took a third of a cold
`setlist check` of a small project. A record takes values of exactly its fields' types as
they are (a list for a tuple becomes a tuple); anything else (a missing field, a value of
another type, text to convert) is handed to pydantic, imported only then, so that the
errors and conversions stay pydantic's.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from .diagnostics import Span

# ---------------------------------------------------------------- records

_REQUIRED: Any = object()  # the default of a field that has none
_BAD: Any = object()       # what a field's check returns for a value it does not take as is

Check = Callable[[Any], Any]


class _Fresh:
    """A mutable default (``{}``): each record gets a copy of it, as from pydantic."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Record:
    """A frozen value with typed fields, declared as annotations with defaults.

    Built with keywords, compared and hashed by value, read through attributes and
    ``model_dump``, changed only through ``model_copy``; assigning to a field raises
    pydantic's frozen-instance error, as it did when the records were pydantic models.
    """

    # Unknown keywords: "ignore" them, as pydantic does by default, or "forbid" them.
    _extra: ClassVar[str] = "ignore"
    # field -> default (_REQUIRED when it has none), in declaration order, a base's first
    _defaults: ClassVar[dict[str, Any]] = {}
    # field -> the class whose annotation declares it (annotations are text until used)
    _owners: ClassVar[dict[str, type]] = {}
    # (field, check, default) per field, built when the first record of the class is
    _plan: ClassVar[tuple[tuple[str, Check, Any], ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        defaults, owners = dict(cls._defaults), dict(cls._owners)
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if not str(annotation).startswith("ClassVar"):
                defaults[name] = cls.__dict__.get(name, _REQUIRED)
                owners[name] = cls
        cls._defaults, cls._owners, cls._plan = defaults, owners, None

    def __init__(self, /, **data: Any) -> None:
        cls = type(self)
        values = {}
        for name, check, default in cls._plan or cls._planned():
            if name in data:
                value = check(data[name])
                if value is _BAD:
                    break
            elif default is _REQUIRED:
                break
            else:
                value = default if type(default) is not _Fresh else default.value.copy()
            values[name] = value
        else:
            if cls._extra == "ignore" or data.keys() <= values.keys():
                object.__setattr__(self, "__dict__", values)
                return
        object.__setattr__(self, "__dict__", _by_pydantic(cls, data))

    @classmethod
    def _planned(cls) -> tuple[tuple[str, Check, Any], ...]:
        cls._plan = tuple(
            (name, _check(_annotation(cls, name)),
             _Fresh(default) if type(default) in (dict, list, set) else default)
            for name, default in cls._defaults.items())
        return cls._plan

    @classmethod
    def model_validate(cls, obj: Any) -> Any:
        """``obj``, a mapping of field names to values (or a record of this class), as a
        record."""
        if type(obj) is cls:
            return obj
        if type(obj) is dict and all(type(k) is str for k in obj):
            return cls(**obj)
        out = object.__new__(cls)
        object.__setattr__(out, "__dict__", _by_pydantic(cls, obj, whole=True))
        return out

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Any:
        """A copy with ``update``'s fields replaced, unchecked (as pydantic's)."""
        values = dict(self.__dict__)
        if deep:
            import copy

            values = {k: v if update and k in update else copy.deepcopy(v)
                      for k, v in values.items()}
        if update:
            values.update(update)
        out = object.__new__(type(self))
        object.__setattr__(out, "__dict__", values)
        return out

    def model_dump(self, *, exclude: set[str] | None = None) -> dict[str, Any]:
        """The fields as plain data: records and spans become dicts, tuples stay tuples."""
        return {k: _dump(v) for k, v in self.__dict__.items()
                if exclude is None or k not in exclude}

    def model_dump_json(self) -> str:
        """The fields as compact JSON, written as pydantic writes it."""
        import json

        return json.dumps(self.model_dump(), separators=(",", ":"), ensure_ascii=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):  # private attributes, as pydantic allows them
            object.__setattr__(self, name, value)
            return
        raise _frozen(type(self), name, value)

    def __delattr__(self, name: str) -> None:
        raise _frozen(type(self), name, None)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """Field names and values, so that ``dict(record)`` works."""
        yield from self.__dict__.items()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._text(', ')})"

    def __str__(self) -> str:
        return self._text(" ")

    def _text(self, sep: str) -> str:
        return sep.join(f"{k}={v!r}" for k, v in self.__dict__.items())

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """How pydantic validates a field holding this record (see ``_by_pydantic``)."""
        from pydantic_core import core_schema

        def validate(value: Any) -> Any:
            if type(value) is cls:
                return value
            if isinstance(value, Mapping):
                return cls.model_validate(dict(value))
            raise ValueError(f"Input should be a valid dictionary or instance of "
                             f"{cls.__name__}")

        return core_schema.no_info_plain_validator_function(validate)


def _annotation(cls: type[Record], name: str) -> Any:
    owner = cls._owners[name]
    annotation = owner.__dict__["__annotations__"][name]
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(sys.modules[owner.__module__]))
    return annotation


def _check(annotation: Any) -> Check:
    """A function returning a value of exactly ``annotation``'s type as the field holds it
    (a list for a tuple as a tuple), and _BAD for anything else."""
    origin = get_origin(annotation)
    if origin is Literal:
        allowed = frozenset(get_args(annotation))
        kinds = frozenset(type(a) for a in allowed)
        return lambda v: v if type(v) in kinds and v in allowed else _BAD
    if origin is Union or origin is types.UnionType:
        options = get_args(annotation)
        if all(_plain(o) for o in options):
            exact = frozenset(options)
            return lambda v: v if type(v) in exact else _BAD
        return _first_of(tuple(_check(o) for o in options))
    if origin is tuple:
        args = get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return _tuple_of(args[0])
        return _fixed_tuple(tuple(_check(a) for a in args))
    if origin is Mapping or origin is dict:
        key_check, value_check = (_check(a) for a in get_args(annotation))
        return _mapping(key_check, value_check)
    if annotation is None:
        return lambda v: v if v is None else _BAD
    if _plain(annotation):
        return lambda v: v if type(v) is annotation else _BAD
    raise TypeError(f"a record field cannot be of type {annotation!r}")


def _plain(annotation: Any) -> bool:
    return isinstance(annotation, type) and get_origin(annotation) is None


def _first_of(checks: tuple[Check, ...]) -> Check:
    def check(v: Any) -> Any:
        for option in checks:
            out = option(v)
            if out is not _BAD:
                return out
        return _BAD
    return check


def _tuple_of(item: Any) -> Check:
    if _plain(item):
        def check_plain(v: Any) -> Any:
            if type(v) is not tuple and type(v) is not list:
                return _BAD
            for x in v:
                if type(x) is not item:
                    return _BAD
            return tuple(v)
        return check_plain
    check = _check(item)

    def check_items(v: Any) -> Any:
        if type(v) is not tuple and type(v) is not list:
            return _BAD
        out = tuple([check(x) for x in v])
        return _BAD if any(x is _BAD for x in out) else out
    return check_items


def _fixed_tuple(checks: tuple[Check, ...]) -> Check:
    def check(v: Any) -> Any:
        if (type(v) is not tuple and type(v) is not list) or len(v) != len(checks):
            return _BAD
        out = tuple([c(x) for c, x in zip(checks, v, strict=True)])
        return _BAD if any(x is _BAD for x in out) else out
    return check


def _mapping(key_check: Check, value_check: Check) -> Check:
    def check(v: Any) -> Any:
        if type(v) is not dict:
            return _BAD
        out = {}
        for key, value in v.items():
            key, value = key_check(key), value_check(value)
            if key is _BAD or value is _BAD:
                return _BAD
            out[key] = value
        return out
    return check


def content_text(value: Any) -> str:
    """A text that names ``value`` (a record, or plain data holding records) by content:
    equal for equal values, different for different ones, spans left out. Two
    declarations that differ only in where they sit in their files (a line added above
    them) give the same text; the per-app memo of the compile stage keys on it."""
    out: list[str] = []
    _content(value, out.append)
    return "".join(out)


def _content(value: Any, put: Callable[[str], Any]) -> None:
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None or cls is float:
        put(repr(value))
    elif cls is Span:
        put("@")
    elif cls is tuple or cls is list:
        put("[")
        for item in value:
            _content(item, put)
            put(",")
        put("]")
    elif cls is dict:
        put("{")
        for key, item in value.items():
            _content(key, put)
            put(":")
            _content(item, put)
            put(",")
        put("}")
    elif isinstance(value, Record):
        put(cls.__name__)
        put("(")
        for key, item in value.__dict__.items():
            put(key)
            put("=")
            _content(item, put)
            put(",")
        put(")")
    else:
        raise TypeError(f"no content text for a {cls.__name__}")


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.model_dump()
    if type(value) is tuple:
        return tuple([_dump(v) for v in value])
    if type(value) is list:
        return [_dump(v) for v in value]
    if type(value) is dict:
        return {k: _dump(v) for k, v in value.items()}
    if type(value) is Span:
        return dict(value.__dict__)
    return value


def _frozen(cls: type, name: str, value: Any) -> Exception:
    from pydantic_core import ValidationError

    return ValidationError.from_exception_data(
        cls.__name__, [{"type": "frozen_instance", "loc": (name,), "input": value}])


_TWINS: dict[type, Any] = {}


def _by_pydantic(cls: type[Record], data: Any, whole: bool = False) -> dict[str, Any]:
    """The field values of a ``cls`` from keywords (``data``), or from any object when
    ``whole``, validated by a pydantic model of the same fields: what pydantic converts is
    converted, and what it refuses raises its ``ValidationError``, as before records."""
    twin = _TWINS.get(cls)
    if twin is None:
        from pydantic import ConfigDict, create_model

        fields = {name: (_annotation(cls, name), ... if default is _REQUIRED else default)
                  for name, default in cls._defaults.items()}
        twin = _TWINS[cls] = create_model(
            cls.__name__, __config__=ConfigDict(frozen=True, extra=cls._extra),
            __module__=cls.__module__, **fields)
    model = twin.model_validate(data) if whole else twin(**data)
    return {name: getattr(model, name) for name in cls._defaults}


# ---------------------------------------------------------------- the spec


class SpecNode(Record):
    """Every node keeps the span of the source that stated it; ``None`` only where the
    spec said nothing and the value is Setlist's default (a default sync policy, say)."""

    span: Span | None = None


# ---------------------------------------------------------------- cluster selectors

LabelOp = Literal["==", "!=", "in", "not in", "exists", "not exists"]


class LabelTest(SpecNode):
    """One test on a cluster label, already in Argo CD terms (not pushed into the test)."""

    kind: Literal["test"] = "test"
    key: str
    op: LabelOp
    values: tuple[str, ...] = ()
    span: Span


class SelAnd(SpecNode):
    kind: Literal["and"] = "and"
    terms: tuple[Selector, ...]


class SelOr(SpecNode):
    kind: Literal["or"] = "or"
    terms: tuple[Selector, ...]


class SelAll(SpecNode):
    """Every cluster Argo CD knows, including the local one (an empty selector)."""

    kind: Literal["all"] = "all"


Selector = LabelTest | SelAnd | SelOr | SelAll


class StaticCluster(SpecNode):
    """A destination named in the spec: by cluster name, or by API server URL."""

    name: str | None = None
    server: str | None = None
    span: Span


class RestStep(SpecNode):
    kind: Literal["rest"] = "rest"


# ---------------------------------------------------------------- blocks


class GitOps(SpecNode):
    repo: str
    branch: str = "main"
    path: str = ""                                   # prefix of all output in the repository
    namespace: str = "argocd"                        # where Argo CD (and its CRs) live
    argocd_dir: str = "argocd"
    overlays: str = "apps/{app}/overlays/{env}"
    root_app: str = "setlist-root"
    span: Span


class Credentials(SpecNode):
    source: Literal["anonymous", "docker_config", "env"] = "anonymous"
    variable: str | None = None


class Registry(SpecNode):
    name: str
    host: str
    credentials: Credentials = Credentials()
    insecure: bool = False
    ca_file: str | None = None
    layout: str | None = None  # an OCI image layout folder, relative to the project folder
    concurrency: int | None = None          # requests in flight at once (default 8)
    requests_per_second: int | None = None  # a rate limit while resolving (default none)
    span: Span
    doc: str | None = None


class Strategy(SpecNode):
    kind: Literal["semver", "newest_build", "alphabetical", "digest"]
    # semver: the Masterminds constraint; None means '*' — every release, no pre-releases —
    # as Image Updater (v1.3.0 and later) does when an image has no constraint.
    constraint: str | None = None
    tag: str | None = None         # digest


class Image(SpecNode):
    name: str
    registry: str | None  # a declared registry's name; None for a bare host in repository
    host: str
    repository: str
    strategy: Strategy
    allow_tags: str | None = None       # regex (RE2)
    ignore_tags: tuple[str, ...] = ()   # globs
    platforms: tuple[str, ...] = ()
    tag: str | None = None              # pinned until resolution replaces pins
    digest: str | None = None
    span: Span
    doc: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.host}/{self.repository}"


class Freeze(SpecNode):
    cron: str
    duration_seconds: int
    timezone: str = "UTC"
    span: Span


class UpdateMethod(SpecNode):
    """How versions reach the environment: Setlist's own commits, or Image Updater."""

    kind: Literal["setlist", "in_cluster"] = "setlist"
    write_method: Literal["argocd", "git"] = "argocd"
    interval_seconds: int | None = None


class Environment(SpecNode):
    name: str
    selector: Selector | None = None
    static_clusters: tuple[StaticCluster, ...] = ()
    updates: UpdateMethod = UpdateMethod()
    writeback: Literal["direct", "pull_request"] = "direct"
    freezes: tuple[Freeze, ...] = ()
    rollout: tuple[LabelTest | SelAnd | SelOr | SelAll | RestStep, ...] = ()
    preserve_resources_on_deletion: bool = False
    applications_sync: Literal["create-only", "create-update", "create-delete", "sync"] | None = \
        None
    labels: tuple[tuple[str, str], ...] = ()
    span: Span
    doc: str | None = None


class Retry(SpecNode):
    limit: int = 5
    backoff_seconds: int = 5
    factor: int = 2
    max_seconds: int = 180


class SyncPolicy(SpecNode):
    automated: bool = False
    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False
    options: tuple[str, ...] = ()
    retry: Retry | None = None


class AppImage(SpecNode):
    image: str
    alias: str | None = None  # the name the base's manifests use, when not the repository
    span: Span


class Base(SpecNode):
    """Where the app's Kustomize base lives: a folder of the gitops repo, or another repo."""

    path: str
    repo: str | None = None  # None: the gitops repository itself
    ref: str | None = None   # branch, tag or commit of ``repo``


class App(SpecNode):
    name: str
    base: Base
    namespace: str
    project: str
    images: tuple[AppImage, ...] = ()
    deploy: tuple[str, ...]
    sync: SyncPolicy = SyncPolicy()
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    span: Span
    doc: str | None = None


class Stage(SpecNode):
    env: str
    source: str  # "registry" or an environment name
    after_seconds: int = 0
    approval: bool = False
    signed: bool = False  # a cosign signature must exist for the promoted digest
    span: Span


class Promotion(SpecNode):
    image: str
    stages: tuple[Stage, ...]
    span: Span


class Spec(SpecNode):
    """The whole checked project. Tuples keep a deterministic (declaration) order."""

    gitops: GitOps | None = None
    registries: tuple[Registry, ...] = ()
    images: tuple[Image, ...] = ()
    environments: tuple[Environment, ...] = ()
    apps: tuple[App, ...] = ()
    promotions: tuple[Promotion, ...] = ()

    def app(self, name: str) -> App | None:
        return next((a for a in self.apps if a.name == name), None)

    def environment(self, name: str) -> Environment | None:
        return next((e for e in self.environments if e.name == name), None)

    def image(self, name: str) -> Image | None:
        return next((i for i in self.images if i.name == name), None)

