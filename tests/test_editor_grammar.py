"""The VS Code extension's TextMate grammar agrees with the Lark grammar.

Every spec in the repository (examples, the standard library, the golden cases, the
```setlist blocks of docs/) and a fixture of tricky spots is tokenized by the real
vscode-textmate + vscode-oniguruma (editors/vscode/test/tokenize.js). The Lark parser built
from grammar/setlist.lark is the oracle: each token it reads (keywords in the positions where
the contextual lexer takes them as keywords, names, strings, regular expressions, numbers,
durations, dates, operators, comments) must be one TextMate token, or a run of them, with
the matching scope. The package manifest is checked against the files it points at.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from lark import Lark, Token, UnexpectedInput

from conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"
MANIFEST = VSCODE / "package.json"
FIXTURE = VSCODE / "test" / "fixtures" / "tricky.setlist"
TOKENIZE = VSCODE / "test" / "tokenize.js"
DEV_MODULES = ("vscode-textmate", "vscode-oniguruma")
BLOCK_RE = re.compile(r"^```setlist(?:-fragment)?[ \t]*\n(.*?)^```[ \t]*$",
                      re.MULTILINE | re.DOTALL)


# ---- the corpus --------------------------------------------------------------------------

def _spec_files() -> list[Path]:
    files = [FIXTURE]
    for folder in ("examples", "stdlib/std", "tests/golden", "tests/bad_inputs"):
        files += sorted((ROOT / folder).rglob("*.setlist"))
    return files


def _doc_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text("utf-8")
        for match in BLOCK_RE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"docs/{page.name}:{line}", match.group(1)))
    return blocks


SPECS = {path.relative_to(ROOT).as_posix(): path.read_text("utf-8") for path in _spec_files()}
SPECS.update(_doc_blocks())


# ---- the tokenizer -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def vscode_dev_modules() -> Path:
    """editors/vscode/node_modules with the pinned devDependencies, installed with `npm ci`
    once when missing or of another version (node_modules is git-ignored)."""
    if shutil.which("node") is None:
        unavailable("node is needed for the editor grammar tests "
                    "(scripts/install-services.sh installs it)")
    pins = json.loads(MANIFEST.read_text("utf-8"))["devDependencies"]

    def installed() -> bool:
        for name in DEV_MODULES:
            meta = VSCODE / "node_modules" / name / "package.json"
            if not meta.is_file() or json.loads(meta.read_text("utf-8"))["version"] != pins[name]:
                return False
        return True

    if not installed():
        if shutil.which("npm") is None:
            unavailable("npm is needed to install the grammar test's dependencies "
                        "(scripts/install-services.sh installs it)")
        run = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                             cwd=VSCODE, capture_output=True, text=True, timeout=600)
        if run.returncode != 0 or not installed():
            unavailable(f"`npm ci` in editors/vscode failed: {run.stderr.strip()[-2000:]}")
    return VSCODE / "node_modules"


@dataclass(frozen=True)
class TmToken:
    start: int  # offsets in the file's text (code points, as Lark counts them)
    end: int
    text: str
    scopes: tuple[str, ...]

    def has(self, prefix: str) -> bool:
        return any(scope.startswith(prefix) for scope in self.scopes)

    @property
    def inner(self) -> str:
        return self.scopes[-1]


def _tokenize(paths: dict[str, Path]) -> dict[str, list[TmToken]]:
    run = subprocess.run(["node", str(TOKENIZE), *map(str, paths.values())],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    raw = json.loads(run.stdout)
    out = {}
    for key, path in paths.items():
        text = path.read_text("utf-8")
        tokens: list[TmToken] = []
        offset = 0
        for line, line_tokens in zip(text.split("\n"), raw[str(path)], strict=True):
            assert "".join(t["text"] for t in line_tokens) == line
            position = offset
            for t in line_tokens:
                tokens.append(TmToken(position, position + len(t["text"]), t["text"],
                                      tuple(t["scopes"])))
                position += len(t["text"])
            offset += len(line) + 1
        out[key] = tokens
    return out


@pytest.fixture(scope="session")
def tokens(vscode_dev_modules, tmp_path_factory) -> dict[str, list[TmToken]]:
    """The TextMate tokens of every spec of the corpus, from one run of tokenize.js."""
    folder = tmp_path_factory.mktemp("editor-grammar")
    paths = {}
    for number, (key, text) in enumerate(sorted(SPECS.items())):
        paths[key] = folder / f"{number:03d}.setlist"
        paths[key].write_text(text, encoding="utf-8")
    return _tokenize(paths)


# ---- the oracle --------------------------------------------------------------------------

@cache
def _lark() -> tuple[Lark, list[Token]]:
    comments: list[Token] = []

    def keep(token: Token) -> Token:
        comments.append(token)
        return token

    from setlist.parse import WholeWords  # keywords are whole words, as Setlist reads them

    grammar = (ROOT / "grammar" / "setlist.lark").read_text("utf-8")
    parser = Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=False,
                  lexer_callbacks={"COMMENT": keep}, postlex=WholeWords())
    return parser, comments


def lark_tokens(text: str) -> tuple[list[Token], int | None]:
    """The tokens the parser reads, comments included, up to the first syntax error (and
    where that is): after an error the contextual lexer's reading is not meaningful."""
    parser, comments = _lark()
    comments.clear()
    seen: list[Token] = []
    error = None
    interactive = parser.parse_interactive(text)
    try:
        for token in interactive.iter_parse():
            seen.append(token)
        interactive.feed_eof()
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        error = token.start_pos if isinstance(token, Token) and token.start_pos is not None \
            else max(getattr(exc, "pos_in_stream", None) or 0, 0)
    found = seen + comments
    if error is not None:
        found = [t for t in found if t.end_pos <= error]
    return sorted(found, key=lambda t: t.start_pos), error


LITERAL_SCOPES = {
    "COMMENT": "comment.line.double-slash",
    "STRING": "string.quoted.double",
    "REGEX": "string.regexp",
    "INT": "constant.numeric.integer",
    "DURATION": "constant.numeric.duration",
    "DATE": "constant.numeric.date",
    "COMPARE": "keyword.operator.comparison",
    "MATCH": "keyword.operator.match",
    "GITOPS": "keyword.declaration.gitops",
    "SLASH": "keyword.operator.join",
    "EQUAL": "keyword.operator.assignment",
    "__ANON_0": "keyword.operator.arrow",  # "<-"
}
NAME_SCOPES = ("variable.", "entity.name.", "entity.other.attribute-name.", "support.")
NOT_A_NAME = ("keyword.", "string.", "comment.", "constant.", "invalid.")


def expected_scope(token: Token) -> str:
    if token.type in LITERAL_SCOPES:
        return LITERAL_SCOPES[token.type]
    if token.value in ("true", "false", "none"):
        return "constant.language"
    if token.value.isalpha():
        return "keyword."
    return "punctuation."


def mismatches(text: str, tm: list[TmToken]) -> list[str]:
    """What the TextMate tokens get wrong against the Lark tokens, as readable lines."""
    problems = []
    lark, _ = lark_tokens(text)
    for token in lark:
        inside = [t for t in tm if t.start < token.end_pos and t.end > token.start_pos]
        line = f"{token.line}:{token.column} {token.type} {token.value!r}"
        split = [t for t in inside if t.start < token.start_pos or t.end > token.end_pos]
        if split:
            problems.append(f"{line}: TextMate token {split[0].text!r} crosses its bounds")
            continue
        if token.type == "NAME":
            bad = [t for t in inside if not t.inner.startswith(NAME_SCOPES)
                   or any(t.has(prefix) for prefix in NOT_A_NAME)]
        else:
            want = expected_scope(token)
            bad = [t for t in inside if not t.has(want)]
            if token.type == "SLASH":
                bad += [t for t in inside if t.has("string.regexp")]
        if bad:
            problems.append(f"{line}: {bad[0].text!r} is scoped {' '.join(bad[0].scopes)}")
    return problems


# ---- the corpus against the oracle -------------------------------------------------------

@pytest.mark.parametrize("key", sorted(SPECS))
def test_tokens_are_scoped_as_the_parser_reads_them(key, tokens):
    problems = mismatches(SPECS[key], tokens[key])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", sorted(SPECS))
def test_every_token_has_a_scope(key, tokens):
    bare = [t for t in tokens[key] if t.text.strip() and len(t.scopes) < 2]
    assert not bare, [t.text for t in bare]
    _, error = lark_tokens(SPECS[key])
    if error is None:  # a spec without syntax errors has nothing the grammar calls invalid
        invalid = [t.text for t in tokens[key] if t.has("invalid.illegal.character")
                   or t.has("invalid.illegal.numeric")]
        assert not invalid


def test_the_corpus_covers_the_language(tokens):
    """The oracle above can only vouch for what the corpus contains: every terminal of the
    grammar and every keyword occurs in a part that parses."""
    parser, _ = _lark()
    kinds = {t.type for key in SPECS for t in lark_tokens(SPECS[key])[0]}
    terminals = {t.name for t in parser.terminals if not t.name.startswith("__IGNORE")}
    assert not terminals - kinds, terminals - kinds


def test_files_with_syntax_errors_are_in_the_corpus():
    """Highlighting must survive broken specs; the golden parse_errors case is one."""
    broken = [key for key, text in SPECS.items() if lark_tokens(text)[1] is not None]
    assert any("parse_errors" in key for key in broken)


# ---- tricky spots ------------------------------------------------------------------------

def _fixture_tokens(tokens) -> list[TmToken]:
    return tokens[FIXTURE.relative_to(ROOT).as_posix()]


def covering(tokens, fragment: str, *, occurrence: int = 0, inside: str = "") -> list[TmToken]:
    """The TextMate tokens of the fixture that cover `fragment` (its n-th occurrence, within
    the first occurrence of `inside` when given)."""
    text = FIXTURE.read_text("utf-8")
    base = text.index(inside) if inside else 0
    start = base - 1
    for _ in range(occurrence + 1):
        start = text.index(fragment, start + 1)
    end = start + len(fragment)
    found = [t for t in _fixture_tokens(tokens) if t.start < end and t.end > start]
    assert found, fragment
    return found


def scopes(tokens, fragment: str, **where) -> set[str]:
    """The scopes shared by every token covering the fragment."""
    found = covering(tokens, fragment, **where)
    return set.intersection(*(set(t.scopes) for t in found))


def inner(tokens, fragment: str, **where) -> str:
    """The innermost scope of the (first) token covering the fragment."""
    return covering(tokens, fragment, **where)[0].inner


def test_fixture_parses():
    assert lark_tokens(FIXTURE.read_text("utf-8"))[1] is None


def test_comment_after_code(tokens):
    comment = covering(tokens, '// a comment after code, with "quotes" and /slashes/')
    assert all(t.has("comment.line.double-slash") for t in comment)
    assert not any(t.has("string") for t in comment)
    assert "comment.line.double-slash.setlist" in scopes(tokens, "// join, then a comment")


def test_double_slash_inside_a_string_is_text(tokens):
    for fragment in ('"http://not-a-comment"', '"say \\"hi\\" // still a string"'):
        found = covering(tokens, fragment)
        assert all(t.has("string.quoted.double") for t in found), fragment
        assert not any(t.has("comment") for t in found), fragment


def test_escapes_in_strings(tokens):
    quote = covering(tokens, '\\"', inside="say")
    assert [t.text for t in quote] == ['\\"']
    assert quote[0].has("constant.character.escape")
    assert scopes(tokens, "\\u{1F600}") >= {"constant.character.escape.setlist"}
    dollar = covering(tokens, "\\$")
    assert [t.text for t in dollar] == ["\\$"] and dollar[0].has("constant.character.escape")
    interpolation = scopes(tokens, "${org}")
    assert "meta.interpolation.setlist" in interpolation
    assert "string.quoted.double.setlist" in interpolation


def test_join_is_not_a_regular_expression(tokens):
    for inside in ('ghcr / "myorg/api"', 'reg-lib.ghcr / "myorg/web"'):
        found = covering(tokens, inside)
        assert not any(t.has("string.regexp") for t in found), inside
        slash = [t for t in found if t.text == "/"]
        assert len(slash) == 1 and slash[0].inner == "keyword.operator.join.setlist"
        assert scopes(tokens, '"myorg/', inside=inside) >= {"string.quoted.double.setlist"}


def test_regular_expressions(tokens):
    for fragment in ("/^v\\d+$/", "/^release\\/\\d+$/", "/^a$/", "/^b\\/c$/", "/^v\\d/"):
        found = covering(tokens, fragment)
        assert all(t.has("string.regexp") for t in found), fragment
        assert found[0].text == "/" and found[-1].text == "/", fragment
    slash = covering(tokens, "\\/", inside="release")
    assert [t.text for t in slash] == ["\\/"]
    assert slash[0].has("constant.character.escape")


def test_names_with_hyphens_are_one_token(tokens):
    for fragment, scope in (("api-v2", "entity.name.type.image.setlist"),
                            ("eu-west-2h", "entity.name.type.environment.setlist"),
                            ("reg-lib", "entity.name.namespace.setlist"),
                            ("region-name", "variable.other.member.setlist")):
        found = covering(tokens, fragment)
        assert [t.text for t in found] == [fragment]
        assert found[0].inner == scope


def test_durations_dates_and_names(tokens):
    assert inner(tokens, "2h", inside="const h2") == "constant.numeric.duration.setlist"
    assert inner(tokens, "h2", inside="const later") == "variable.other.setlist"
    assert [t.text for t in covering(tokens, "1w2d")] == ["1w2d"]
    assert inner(tokens, "1w2d") == "constant.numeric.duration.setlist"
    assert inner(tokens, "2h", inside="for 2h") == "constant.numeric.duration.setlist"
    date = covering(tokens, "2027-03-01T09:30:00+02:00")
    assert [t.inner for t in date] == ["constant.numeric.date.setlist"]
    assert inner(tokens, "180") == "constant.numeric.integer.setlist"


def test_keywords_only_where_the_grammar_has_them(tokens):
    # `registry` is the promotion source there, and `app` the kind of a waived entity.
    assert not covering(tokens, "registry", inside="<- registry")[0].has("keyword")
    assert not covering(tokens, "app", inside="for app shop")[0].has("keyword")
    assert covering(tokens, "for", inside="waive pinned for")[0].has("keyword")
    assert covering(tokens, "after", inside="after 24h")[0].has("keyword")
    for word in ("not", "exists", "in", "where", "require", "deny", "until", "because", "use",
                 "tz", "freeze", "as", "and", "or"):
        found = [t for t in _fixture_tokens(tokens) if t.text == word]
        assert found and all(t.has("keyword") for t in found), word


def test_list_comprehension(tokens):
    comprehension = "[p in i.platforms for p in names where p =~ /^linux\\//]"
    assert inner(tokens, "for", inside="for p in") == "keyword.control.for.setlist"
    assert inner(tokens, "p", inside="for p in names") == "variable.other.loop.setlist"
    assert inner(tokens, "in", inside="in names") == "keyword.control.in.setlist"
    assert inner(tokens, "where", inside=comprehension) == "keyword.control.where.setlist"
    regex = covering(tokens, "/^linux\\//")
    assert all(t.has("string.regexp") for t in regex)


def test_fields_calls_and_declarations(tokens):
    assert inner(tokens, "repository") == "entity.other.attribute-name.setlist"
    assert inner(tokens, "digest", inside='digest("stable")') == "support.function.builtin.setlist"
    assert inner(tokens, "pinned", inside="use pinned(") == "entity.name.function.setlist"
    assert inner(tokens, "limits") == "entity.name.function.setlist"
    assert inner(tokens, "severity") == "variable.parameter.setlist"
    assert inner(tokens, "string", inside="severity: string") == "support.type.setlist"
    assert inner(tokens, "tier", inside="labels") == "support.type.property-name.setlist"
    assert inner(tokens, "method") == "variable.parameter.setlist"
    assert inner(tokens, "pinned", inside="policy pinned") == "entity.name.function.policy.setlist"


# ---- the package -------------------------------------------------------------------------

def _manifest() -> dict:
    return json.loads(MANIFEST.read_text("utf-8"))


def test_manifest_points_at_existing_files():
    manifest = _manifest()
    assert (VSCODE / manifest["main"]).is_file()
    (language,) = manifest["contributes"]["languages"]
    (grammar_entry,) = manifest["contributes"]["grammars"]
    assert language["id"] == grammar_entry["language"] == "setlist"
    assert language["extensions"] == [".setlist"]
    assert f"onLanguage:{language['id']}" in manifest["activationEvents"]
    grammar = json.loads((VSCODE / grammar_entry["path"]).read_text("utf-8"))
    assert grammar["scopeName"] == grammar_entry["scopeName"] == "source.setlist"
    configuration = json.loads((VSCODE / language["configuration"]).read_text("utf-8"))
    assert configuration["comments"]["lineComment"] == "//"
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["setlist.path"]["default"] == "setlist"
    assert {"setlist.inventory", "setlist.trace.server"} <= settings.keys()


def test_grammar_is_generated():
    """setlist.tmLanguage.json is the output of generate.py (edit the generator, not the JSON)."""
    run = subprocess.run([sys.executable, str(VSCODE / "syntaxes" / "generate.py")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == (VSCODE / "syntaxes" / "setlist.tmLanguage.json").read_text("utf-8"), \
        "regenerate: python3 editors/vscode/syntaxes/generate.py > " \
        "editors/vscode/syntaxes/setlist.tmLanguage.json"


def test_grammar_includes_resolve():
    grammar = json.loads((VSCODE / "syntaxes" / "setlist.tmLanguage.json").read_text("utf-8"))
    text = json.dumps(grammar)
    used = set(re.findall(r'"include": "#([^"]+)"', text))
    assert used <= grammar["repository"].keys(), used - grammar["repository"].keys()
    assert grammar["repository"].keys() <= used, "unused rules in the repository"


def test_lockfile_matches_manifest():
    manifest = _manifest()
    lock = json.loads((VSCODE / "package-lock.json").read_text("utf-8"))
    root = lock["packages"][""]
    assert (lock["name"], lock["version"]) == (manifest["name"], manifest["version"])
    for field in ("dependencies", "devDependencies"):
        assert root.get(field) == manifest.get(field), field
        for name, version in manifest[field].items():
            assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_commands_are_registered():
    source = (VSCODE / "extension.js").read_text("utf-8")
    for command in _manifest()["contributes"]["commands"]:
        assert f"'{command['command']}'" in source, command["command"]
    for setting in ("setlist.path", "setlist.inventory"):
        assert f"'{setting.split('.')[1]}'" in source, setting


def test_extension_is_valid_javascript():
    if shutil.which("node") is None:
        unavailable("node is needed to check extension.js (scripts/install-services.sh)")
    for script in ("extension.js", "test/tokenize.js"):
        run = subprocess.run(["node", "--check", str(VSCODE / script)], capture_output=True,
                             text=True, timeout=60)
        assert run.returncode == 0, run.stderr


def test_language_configuration():
    config = json.loads((VSCODE / "language-configuration.json").read_text("utf-8"))
    assert config["brackets"] == [["{", "}"], ["[", "]"], ["(", ")"]]
    assert {"open": '"', "close": '"', "notIn": ["string", "comment"]} in \
        config["autoClosingPairs"]
    word = re.compile(config["wordPattern"])
    for name in ("api", "eu-west", "shop_v2", "_x"):
        assert word.fullmatch(name), name
    assert word.match("eu-west-").group() == "eu-west"
    assert word.fullmatch("2h") is None
    rules = config["indentationRules"]
    increase, decrease = re.compile(rules["increaseIndentPattern"]), \
        re.compile(rules["decreaseIndentPattern"])
    for line in ("app shop {", "  sync = automated(", "  deploy = [", "gitops {  // the repo"):
        assert increase.search(line), line
    for line in ("  x = 1 // {", "  labels = { a: \"b\" }", "  deploy = [dev]"):
        assert not increase.search(line), line
    for line in ("}", "  )", "]"):
        assert decrease.search(line), line


def test_extension_starts_and_restarts_the_server():
    """extension.js against stand-ins of the VS Code API and the language client
    (test/activate.js): what it starts, with which options, and when it restarts."""
    if shutil.which("node") is None:
        unavailable("node is needed to run extension.js (scripts/install-services.sh)")
    run = subprocess.run(["node", str(VSCODE / "test" / "activate.js")], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    log = json.loads(run.stdout)
    created = [e for e in log if e["event"] == "create"]
    first = created[0]
    assert first["id"] == "setlist"  # the client reads `setlist.trace.server` by its id
    assert first["server"] == {"command": "setlist", "args": ["lsp"],
                               "options": {"cwd": "/work/space"}}
    assert first["initializationOptions"] == {"inventory": None}
    assert {s["language"] for s in first["documentSelector"]} == {"setlist"}
    assert first["watching"] is None  # the server registers its own file watchers
    # The order of events, with the clients numbered as they were created.
    steps = [(e["event"], e.get("client") or e.get("changed") or e.get("ids")) for e in log]
    assert steps == [
        ("create", 1), ("start", 1),
        ("commands", ["setlist.restartServer"]),
        ("configuration", ["editor.fontSize"]),  # not the server's: no restart
        ("configuration", ["setlist.path", "setlist.inventory"]),
        ("stop", 1), ("create", 2), ("start", 2),
        ("stop", 2), ("create", 3), ("start", 3),  # setlist.restartServer
        ("configuration", ["setlist.path"]),
        ("stop", 3), ("create", 4), ("error", None),  # the executable is missing
        ("configuration", ["setlist.inventory"]),
        ("create", 5), ("start", 5),
        ("stop", 5),  # deactivate
    ]
    assert created[1]["server"]["command"] == "/work/space/.venv/bin/setlist"
    assert created[1]["initializationOptions"] == {"inventory": "/work/space/clusters.yaml"}
    assert created[4]["initializationOptions"] == {"inventory": "/etc/setlist/clusters.yaml"}
    (error,) = [e["message"] for e in log if e["event"] == "error"]
    assert "/nowhere/missing/setlist lsp" in error and "setlist.path" in error
