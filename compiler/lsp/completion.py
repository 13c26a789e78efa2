"""Completion by context: what may be written at the cursor, read from the text before it.

The text being typed rarely parses, so the context comes from the buffer itself (the
declaration the cursor is in, the field being set, what precedes the cursor on its line);
the names offered come from the last analysis, which may be a keystroke old. Nothing here
loads the project.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from lsprotocol import types as lsp

from .. import model as m
from ..check.blocks import SCHEMAS
from ..check.context import KINDS
from ..parse import DECL_KEYWORDS, parse_source
from .hover import BUILTINS
from .index import Index
from .positions import LineIndex
from .session import stdlib_dir

NAME = r"[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
WORD_BEFORE = re.compile(r"[A-Za-z0-9_-]*\Z")
DECL_LINE = re.compile(r"(?m)^({})\b(?![ \t]*[=:.\]\),])".format("|".join(DECL_KEYWORDS)))
FIELD_START = re.compile(rf"(?m)^[ \t]*(?:[;{{][ \t]*)?({NAME})[ \t]*=(?![=~])|[{{;][ \t]*"
                         rf"({NAME})[ \t]*=(?![=~])")
STRINGS_COMMENTS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|//[^\n]*')
WAIVE_SCOPES = ("app", "environment", "image", "registry")

# What a field's value may name or call, beyond constants.
FIELD_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("image", "strategy"): ("semver", "newest_build", "alphabetical", "digest"),
    ("registry", "credentials"): ("docker_config", "env", "anonymous", "none"),
    ("registry", "insecure"): ("true", "false"),
    ("environment", "updates"): ("setlist", "in_cluster"),
    ("environment", "writeback"): ("direct", "pull_request"),
    ("environment", "clusters"): ("cluster", "all", "not", "exists"),
    ("environment", "rollout"): ("cluster", "rest", "not", "exists"),
    ("environment", "preserve_resources_on_deletion"): ("true", "false"),
    ("app", "sync"): ("automated", "manual"),
    ("app", "base"): ("git",),
}
FIELD_REFS = {("app", "images"): "image", ("app", "deploy"): "environment",
              ("image", "repository"): "registry"}
CALLS = {"semver", "digest", "env", "in_cluster", "automated", "manual", "git", "retry"}
ITEM_KINDS = {"registry": lsp.CompletionItemKind.Module, "image": lsp.CompletionItemKind.Class,
              "environment": lsp.CompletionItemKind.Enum, "app": lsp.CompletionItemKind.Struct,
              "const": lsp.CompletionItemKind.Constant, "policy": lsp.CompletionItemKind.Function,
              "promotion": lsp.CompletionItemKind.Event}


def complete(text: str, offset: int, key: str, index: Index | None,
             labels: dict[str, set[str]], encoding: str,
             markdown: bool = True) -> list[lsp.CompletionItem]:
    """Completion items for the cursor at ``offset`` of ``text`` (the current buffer)."""
    before = text[:offset]
    line = before[before.rfind("\n") + 1:]
    word = WORD_BEFORE.search(line).group()
    lines = LineIndex(text, encoding)
    edit_range = lines.range(offset - len(word), offset)
    ctx = _Context(text=text, before=before, line=line, word=word, key=key, index=index,
                   labels=labels, edit_range=edit_range, markdown=markdown)
    items = ctx.items()
    seen: set[str] = set()
    out = []
    for item in items:
        if item.label not in seen:
            seen.add(item.label)
            out.append(item)
    return out


@dataclass
class _Context:
    text: str
    before: str
    line: str
    word: str
    key: str
    index: Index | None
    labels: dict[str, set[str]]
    edit_range: lsp.Range
    markdown: bool = True

    # the dispatcher ------------------------------------------------------------------
    def items(self) -> list[lsp.CompletionItem]:
        line = self.line
        if (found := re.search(r'\bimport\s+"([^"]*)\Z', line)) is not None:
            return self.import_paths(found.group(1))
        if (found := _label_value(line)) is not None:
            return self.label_values(found)
        if _in_string_or_comment(line):
            return []
        if (found := re.search(rf"({NAME})\.({NAME})?\Z", line)) is not None:
            return self.members(found.group(1))
        decl, start = self.enclosing()
        if decl is None or (decl not in ("use", "waive") and self.depth(start) == 0
                            and re.fullmatch(r"\s*" + re.escape(self.word), line)):
            return self.keywords() if re.fullmatch(r"[A-Za-z_-]*", line) else []
        if decl in ("use", "waive"):
            return self.policy_line(decl, line)
        if decl == "promotion":
            return self.promotion_rule(line)
        if decl == "policy":
            return self.words(("for", "require", "deny", "where", "in")) + self.names(None)
        if decl in SCHEMAS:
            return self.block(decl, start)
        return self.names(None)

    # where the cursor is -------------------------------------------------------------
    def enclosing(self) -> tuple[str | None, int]:
        """The declaration keyword of the top-level declaration holding the cursor."""
        last = _last(DECL_LINE, self.before)
        if last is None:
            return None, 0
        if last.end() == len(self.before):  # still typing the keyword itself
            return None, 0
        return last.group(1), last.start()

    def depth(self, start: int) -> int:
        code = STRINGS_COMMENTS.sub("", self.before[start:])
        return code.count("{") + code.count("[") + code.count("(") - code.count("}") \
            - code.count("]") - code.count(")")

    def current_field(self, start: int) -> str | None:
        """The field whose value the cursor is in, or None at a field name."""
        body = self.before[start:]
        last = _last(FIELD_START, body)
        if last is None:
            return None
        after = STRINGS_COMMENTS.sub("", body[last.end():])
        opened = after.count("[") + after.count("(") + after.count("{") - after.count("]") \
            - after.count(")") - after.count("}")
        on_line = "\n" not in body[last.start() + 1:] or last.group()[0] in "{;"
        if opened > 0 or (on_line and "\n" not in body[last.end():]):
            return last.group(1) or last.group(2)
        # A value may continue on the next line after an operator (`and`, `/`, `,`).
        tail = after.rstrip()
        if tail.endswith((",", "=", "/", "and", "or", "not", "in", "==", "!=")) and \
                "\n" in body[last.end():]:
            return last.group(1) or last.group(2)
        return None

    # kinds of completion ---------------------------------------------------------------
    def keywords(self) -> list[lsp.CompletionItem]:
        return [self.item(k, lsp.CompletionItemKind.Keyword, "declaration")
                for k in DECL_KEYWORDS]

    def block(self, kind: str, start: int) -> list[lsp.CompletionItem]:
        field_name = self.current_field(start)
        if field_name is None:
            if self.depth(start) != 1 or not re.fullmatch(r"\s*[A-Za-z0-9_-]*", self.line):
                return []
            return self.fields(kind, start)
        out = []
        ref_kind = FIELD_REFS.get((kind, field_name))
        if ref_kind is not None and not (ref_kind == "registry" and "/" in self.line):
            out += self.names(ref_kind)
        out += self.words(FIELD_VALUES.get((kind, field_name), ()))
        if ref_kind is None or ref_kind == "registry":
            out += self.names("const")
        return out

    def fields(self, kind: str, start: int) -> list[lsp.CompletionItem]:
        body = self.before[start:]
        present = {m.group(1) or m.group(2) for m in FIELD_START.finditer(body)}
        out = []
        for name, spec in SCHEMAS[kind].items():
            if name in present and name != self.word:
                continue
            item = self.item(name, lsp.CompletionItemKind.Field,
                             ("required: " if spec.required else "") + spec.doc)
            item.insert_text = f"{name} = "
            item.text_edit = lsp.TextEdit(range=self.edit_range, new_text=f"{name} = ")
            out.append(item)
        if kind == "environment":
            out.append(self.item("freeze", lsp.CompletionItemKind.Keyword,
                                 'freeze "CRON" for DURATION tz "ZONE"'))
        return out

    def promotion_rule(self, line: str) -> list[lsp.CompletionItem]:
        if re.search(r"<-[^,]*,[^,]*\Z", line) or re.search(r",\s*[A-Za-z_]*\Z", line):
            return self.words(("approval", "signed"))
        if re.search(r"<-\s*[A-Za-z0-9_.-]*\Z", line):
            return self.names("environment") + self.words(("registry",))
        if re.search(rf"({NAME})\s*<-\s*{NAME}\s+[A-Za-z]*\Z", line):
            return self.words(("after",))
        if re.fullmatch(r"\s*[A-Za-z0-9_-]*", line):
            return self.names("environment")
        return []

    def policy_line(self, decl: str, line: str) -> list[lsp.CompletionItem]:
        if decl == "waive":
            if (found := re.search(rf"\bfor\s+({NAME})\s+[A-Za-z0-9_-]*\Z", line)):
                return self.names(found.group(1)) if found.group(1) in WAIVE_SCOPES else []
            if re.search(r"\bfor\s+[A-Za-z]*\Z", line):
                return self.words(WAIVE_SCOPES)
            if re.search(r"\buntil\s+[\d-]*\Z", line):
                day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
                return [self.item(day, lsp.CompletionItemKind.Value, "30 days from today")]
            if re.search(r"\bwaive\s+[A-Za-z0-9_.-]+\s+[A-Za-z]*\Z", line):
                return self.words(("for", "until"))
        return self.names("policy") + self.std_members("policy")

    def members(self, alias: str) -> list[lsp.CompletionItem]:
        """After `alias.`: cluster labels, a module's members, or the standard library."""
        if alias == "cluster":
            return [self.item(k, lsp.CompletionItemKind.Property, "cluster label")
                    for k in sorted(self.labels)]
        if self.index is not None and self.key in self.index.project.files:
            target = self.index.project.files[self.key].imports.get(alias)
            if target is not None:
                return [self.item(n, ITEM_KINDS.get(kind, lsp.CompletionItemKind.Value), kind)
                        for kind in KINDS if kind != "promotion"
                        for n in sorted(self.index.module_names(target, kind))]
        return self.std_module_members(alias)

    def std_module_members(self, alias: str) -> list[lsp.CompletionItem]:
        """Members of the std module called ``alias`` (or of every std module after
        `std.`), with the import that makes them usable."""
        modules = std_modules()
        if alias in modules:
            chosen = {alias: modules[alias]}
            line = f'import "std/{alias}"\n'
        elif alias == "std":
            chosen = modules
            line = None
        else:
            return []
        out = []
        for module, decls in sorted(chosen.items()):
            for kind, name, doc in decls:
                item = self.item(name, ITEM_KINDS.get(kind, lsp.CompletionItemKind.Value),
                                 f"{kind} from std/{module}", doc)
                edit = line or f'import "std/{module}" as std\n'
                if self.imports_nothing_as(alias):
                    item.additional_text_edits = [lsp.TextEdit(
                        range=self.import_range(), new_text=edit)]
                out.append(item)
        return out

    def std_members(self, kind: str) -> list[lsp.CompletionItem]:
        """Std members of ``kind`` as ``alias.name`` for every std module this file imports."""
        out = []
        if self.index is None or self.key not in self.index.project.files:
            return out
        for alias, target in sorted(self.index.project.files[self.key].imports.items()):
            for name in sorted(self.index.module_names(target, kind)):
                out.append(self.item(f"{alias}.{name}", ITEM_KINDS[kind], f"{kind} in {target}"))
        return out

    def import_paths(self, typed: str) -> list[lsp.CompletionItem]:
        del typed
        return [self.item(f"std/{name}", lsp.CompletionItemKind.Module, "standard library")
                for name in sorted(std_modules())]

    def label_values(self, label: str) -> list[lsp.CompletionItem]:
        return [self.item(v, lsp.CompletionItemKind.Value, f"value of cluster label {label}")
                for v in sorted(self.labels.get(label, ()))]

    # helpers --------------------------------------------------------------------------
    def names(self, kind: str | None) -> list[lsp.CompletionItem]:
        if self.index is None:
            return []
        kinds: Iterable[str] = (kind,) if kind else ("const",)
        out = []
        for k in kinds:
            for name, entry in sorted(self.index.names(self.key, k).items()):
                out.append(self.item(name, ITEM_KINDS.get(k, lsp.CompletionItemKind.Value),
                                     k, entry.decl.doc))
        return out

    def words(self, words: Iterable[str]) -> list[lsp.CompletionItem]:
        out = []
        for w in words:
            kind = lsp.CompletionItemKind.Function if w in CALLS else \
                lsp.CompletionItemKind.Keyword
            out.append(self.item(w, kind, "built-in", BUILTINS.get(w)))
        return out

    def item(self, label: str, kind: lsp.CompletionItemKind, detail: str = "",
             doc: str | None = None) -> lsp.CompletionItem:
        return lsp.CompletionItem(
            label=label, kind=kind, detail=detail or None,
            documentation=(lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=doc)
                           if self.markdown else doc) if doc else None,
            text_edit=lsp.TextEdit(range=self.edit_range, new_text=label))

    def imports_nothing_as(self, alias: str) -> bool:
        return not _imports_alias(self.text, alias)

    def import_range(self) -> lsp.Range:
        """Where a new import goes: after the last import at the top, else line 0."""
        line = 0
        for number, text in enumerate(self.text.split("\n")):
            if text.startswith("import "):
                line = number + 1
        return lsp.Range(start=lsp.Position(line=line, character=0),
                         end=lsp.Position(line=line, character=0))


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 - the last match is wanted
        pass
    return found


def _imports_alias(text: str, alias: str) -> bool:
    for found in re.finditer(r'(?m)^import\s+"([^"]*)"(?:\s+as\s+(\S+))?', text):
        path, given = found.group(1), found.group(2)
        name = given or path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".setlist")
        if name == alias:
            return True
    return False


def _in_string_or_comment(line: str) -> bool:
    """Whether the end of ``line`` (the text before the cursor) is inside a string or a
    comment, where names are not completed."""
    code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', line)
    return '"' in code.replace('""', "") or "//" in code


def _label_value(line: str) -> str | None:
    eq = re.search(rf'cluster(?:\.({NAME})|\["([^"]+)"\])\s*(?:==|!=)\s*"([^"]*)\Z', line)
    if eq:
        return eq.group(1) or eq.group(2)
    listed = re.search(rf'cluster(?:\.({NAME})|\["([^"]+)"\])\s+(?:not\s+)?in\s*\[[^\]]*"'
                       r'([^"]*)\Z', line)
    if listed and listed.group(0).count('"') % 2 == 1:
        return listed.group(1) or listed.group(2)
    return None


@cache
def std_modules() -> dict[str, list[tuple[str, str, str | None]]]:
    """Every std module's declarations: module -> [(kind, name, doc)], read once."""
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    for path in sorted(stdlib_dir().glob("*.setlist")):
        module, _ = parse_source(path.read_text("utf-8"), "std/" + path.name)
        found[path.stem] = [(d.block if isinstance(d, m.Block) else d.decl, d.name, d.doc)
                            for d in module.decls if d.name and not isinstance(d, m.Import)]
    return found
