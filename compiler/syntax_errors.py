"""Syntax errors in words: what was expected, after what, with a hint when the mistake is
a common one ('=' for '==', a missing '}', a gate without ','...).

Only imported when a parse fails. Positions are converted with the fragment offsets of
``setlist.parse`` so that errors in declarations and interpolations point into the file.
"""

from __future__ import annotations

import re

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .diagnostics import Diagnostic, Span, error
from .parse import _CLOSERS, _COMMENT_SCAN, _DECL_START, DECL_KEYWORDS, _Offset, parser

_WORDS = {
    "NAME": "a name", "STRING": "a string", "INT": "a number", "DURATION": "a duration",
    "DATE": "a date", "REGEX": "a regular expression", "COMPARE": "a comparison",
    "MATCH": "'=~'", "$END": "end of file", "_SEP": "';'",
}
_VALUE_START = {"NAME", "STRING", "INT", "DURATION", "DATE", "REGEX", "LSQB", "LBRACE", "LPAR",
                "TRUE", "FALSE", "NONE", "NOT", "EXISTS"}

# What a field's value is, in words, for "expected ... after 'deploy ='".
FIELD_NOUNS = {
    "deploy": "an environment name or a list of them", "images": "an image name or a list",
    "clusters": "a cluster selector such as cluster.env == \"prod\"",
    "strategy": "an update strategy such as semver(\"^1.2\")",
    "repository": "a repository such as ghcr / \"org/app\"", "rollout": "a list of selectors",
    "sync": "a sync policy such as automated()", "credentials": "docker_config or env(\"VAR\")",
}


def _describe_terminal(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        pattern = parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


_OPERATORS = {"COMPARE", "MATCH", "AND", "OR", "IN", "NOT", "SLASH", "DOT", "LPAR", "LSQB", "AS"}


def _describe_expected(expected: set[str], field: str | None) -> str:
    """Expected terminals in words, likeliest first: a value, a field name or '}', and only
    then the operators that could continue the expression (collapsed into one word)."""
    words = []
    if expected & _VALUE_START and len(expected & _VALUE_START) >= 5:
        words.append(FIELD_NOUNS.get(field or "", "a value"))
        expected = expected - _VALUE_START
    at_body_level = {"RBRACE", "_SEP"} <= expected
    if "NAME" in expected:
        words.append("a field name" if at_body_level else "a name")
        expected = expected - {"NAME"}
    for closer in ("RBRACE", "RSQB", "RPAR", "COMMA", "_SEP"):
        if closer in expected:
            words.append(_describe_terminal(closer))
            expected = expected - {closer}
    operators = expected & _OPERATORS
    if len(operators) >= 3:
        expected = expected - operators
        tail = "an operator"
    else:
        tail = None
    words += sorted(_describe_terminal(e) for e in expected)
    if tail:
        words.append(tail)
    words = list(dict.fromkeys(words))
    if not words:
        return "the end of the expression"
    if len(words) > 6:
        words = words[:6] + ["…"]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe_found(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "NAME":
        return f"the name '{tok}'"
    if tok.type == "STRING":
        return f"the string {tok}"
    text = str(tok)
    if tok.type.isupper() and text.isalpha():
        return f"the keyword '{text}'"
    return f"'{text}'"


def _context(full: str, pos: int) -> tuple[str | None, str | None]:
    """The text just before ``pos`` (for "after '...'") and the field being written."""
    before = full[:pos].rstrip()
    line = before[before.rfind("\n") + 1:]
    line = _strip_comment(line).rstrip()
    field = None
    mt = re.match(r"^\s*([A-Za-z_][\w-]*)\s*=", line)
    if mt:
        field = mt.group(1)
    # Only the end of the line matters ("after" shows at most 30 characters); searching a
    # long line from every position would take quadratic time.
    mt = re.search(r"([A-Za-z_][\w-]*\s*=|\S+)\s*$", line[-200:])
    after = mt.group(1) if mt else None
    if after and len(after) > 30:
        after = after[-30:]
    return after, field


LIST_FIELDS = {"deploy", "images", "rollout", "platforms", "ignore_tags", "options"}


def _missing_before_next(full: str, pos: int, file: str, want: str) -> Diagnostic:
    keyword = re.match(r"\w+", full[pos:])
    word = keyword.group() if keyword else ""
    line = full.count("\n", 0, pos) + 1
    return error(Span(file=file, line=line, column=1, end_line=line, end_column=1 + len(word),
                      start=pos, end=pos + len(word)), "SL100",
                 f"expected {want} before this declaration, found the keyword '{word}'",
                 "a '}' may be missing at the end of the declaration above")


def _gate_without_comma(full: str, pos: int, expected: set[str]) -> tuple[Span, str] | None:
    """`prod <- dev after 24h approval`: the gate reads as the start of the next rule, so
    the parser complains one token later. Find the bare word and point at it instead."""
    if {_describe_terminal(e) for e in expected} != {"'<-'"}:
        return None
    before = full[:pos].rstrip()
    line_start = before.rfind("\n") + 1
    mt = re.search(r"<-.*\s([A-Za-z_][\w-]*)$", before[line_start:])
    if not mt:
        return None
    start = line_start + mt.start(1)
    line = full.count("\n", 0, start) + 1
    column = start - line_start + 1
    word = mt.group(1)
    return (Span(file="", line=line, column=column, end_line=line,
                 end_column=column + len(word), start=start, end=start + len(word)), word)


def _strip_comment(line: str) -> str:
    """The line without a trailing `//` comment; `//` inside a string is not a comment."""
    for match in _COMMENT_SCAN.finditer(line):
        if match.group().startswith("//"):
            return line[:match.start()]
    return line


_POLICY_ONLY = {"FOR", "REQUIRE", "DENY"}


def _inside_policy(full: str, pos: int) -> bool:
    """Whether ``pos`` lies in a policy declaration (the last declaration keyword before it)."""
    return _inside(full, pos, "policy")


def _inside(full: str, pos: int, keyword: str) -> bool:
    last = None
    for match in _DECL_START.finditer(full, 0, pos):
        last = match
    return last is not None and full.startswith(keyword, last.start())


_NAMED_DECLS = {  # declaration keyword -> an example of its head, for "expected a name"
    "environment": "environment prod { ... }", "app": "app shop { ... }",
    "image": "image api { ... }", "registry": "registry ghcr { ... }",
    "policy": "policy pinned { ... }", "promotion": "promotion api { ... } (named after its image)",
    "const": "const team = \"shop\"",
}


def _token_hint(tok: Token, expected: set[str], after: str | None, field: str | None,
                full: str, pos: int) -> list[str]:
    """Hints for a few common slips, recognised by the token found and what was expected."""
    if expected == {"NAME"} and after in _NAMED_DECLS and tok.type != "NAME":
        return [f"give the {after} a name, e.g. {_NAMED_DECLS[after]}"]
    if expected == {"BECAUSE"}:
        reason = str(tok) if tok.type == "STRING" else '"REASON"'
        return [f"add 'because' before the reason: waive POLICY until DATE because {reason}"]
    if expected == {"STRING"} and after == "import" and tok.type == "NAME":
        path = re.match(r'[^\s"]+', full[pos:])
        return [f'put the path in double quotes: import "{path.group() if path else tok}"']
    if field and after and re.fullmatch(rf"{re.escape(field)}\s*=", after) \
            and len(expected & _VALUE_START) >= 5:
        example = re.search(r"such as (.+)$", FIELD_NOUNS.get(field, ""))
        if example:
            return [f"give '{field}' a value, e.g. {field} = {example.group(1)}"]
        return [f"give '{field}' a value after '=', or remove the field"]
    if tok.type == "RBRACE" and expected and all(e.lower() in DECL_KEYWORDS or e == "$END"
                                                 for e in expected):
        return ["this '}' closes nothing; remove it or check the braces above"]
    if tok.type == "NAME" and (glued := _glued_keyword(str(tok), expected, full, pos)):
        return [f"put a space after the keyword '{glued}': {glued} {str(tok)[len(glued):]}"]
    return []


_DECL_TERMINALS = {k.upper() for k in DECL_KEYWORDS}
_VALUE_TOKENS = {"NAME", "STRING", "INT", "DURATION", "DATE", "REGEX", "TRUE", "FALSE", "NONE"}
_KEYWORD_LIST = ", ".join(sorted(DECL_KEYWORDS))


def _fallback_hint(tok: Token, expected: set[str], after: str | None, field: str | None,
                   full: str, pos: int, want: str) -> str:
    """A hint for every syntax error no common slip explains: a value missing, two values
    in a row, a bracket left open, a stray word between declarations. LALR states are
    shared, so the expected set alone does not say where the parser is; the brackets open
    at the error do."""
    found = _describe_found(tok).removeprefix("the ")
    opened = _open_bracket(full, pos)
    # a value that could end here: what follows is a second one, not a missing first one
    complete = bool(expected & {"RBRACE", "RSQB", "RPAR", "COMMA", "_SEP", "$END"})
    if len(expected & _VALUE_START) >= 5 and not complete:
        example = re.search(r"such as (.+)$", FIELD_NOUNS.get(field or "", ""))
        if field and example and after and re.fullmatch(rf"{re.escape(field)}\s*=", after):
            return f"write the value here, e.g. {field} = {example.group(1)}"
        return ('write a value here: a name, a "string", a number, a list [a, b] or a map '
                "{key: value}")
    if expected == {"LBRACE"}:
        last = None
        for match in _DECL_START.finditer(full, 0, pos):
            last = match.group()
        example = _NAMED_DECLS.get(last or "", "app shop { ... }")
        return f"a declaration is a keyword, one name and a body in braces, e.g. {example}"
    if expected == {"NAME"}:
        if after and after.endswith("."):
            return "after '.' comes a name, e.g. cluster.env or std.no_latest_tag"
        return "write a name here: letters, digits, '_' and '-', starting with a letter"
    line = full[full.rfind("\n", 0, pos) + 1:pos]
    if opened is None and "AS" in expected and tok.type == "NAME" \
            and line.lstrip().startswith("import"):
        return f"write 'as' before the alias: as {tok}"
    if expected == {"EQUAL"}:
        return "a field is NAME = VALUE: write '=' after the field's name"
    if tok.type in _VALUE_TOKENS and (complete or expected & _DECL_TERMINALS):
        if opened == "[":
            return "two values in a row: separate the items of a list with ','"
        if opened == "(":
            return "two values in a row: separate the arguments with ','"
        if opened == "map":
            return "two values in a row: separate the entries of a map with ','"
        if opened == "{":
            return ("a field holds one value: start the next field on its own line as "
                    "NAME = VALUE, or join the values with an operator")
    if opened is None and len(expected & _DECL_TERMINALS) >= 5:
        return (f"a declaration starts with one of the keywords {_KEYWORD_LIST}; remove the "
                f"{found}, or join it to the value above with an operator")
    closers = {"[": ("RSQB", "']'"), "(": ("RPAR", "')'"), "{": ("RBRACE", "'}'"),
               "map": ("RBRACE", "'}'")}
    if opened in closers and closers[opened][0] in expected:
        return f"a closing {closers[opened][1]} may be missing, or the {found} is out of place"
    if tok.type in _VALUE_TOKENS:
        return "two values in a row: join them with an operator (==, and, or, /) or remove one"
    return f"remove the {found}, or write {want} before it"


_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|//[^\n]*|[\[\](){}]')


def _open_bracket(full: str, pos: int) -> str | None:
    """The innermost bracket still open at ``pos`` in its declaration: '[', '(', '{' for a
    block body, 'map' for a map literal, None between declarations."""
    start = 0
    for match in _DECL_START.finditer(full, 0, pos):
        start = match.start()
    stack: list[str] = []
    for match in _BRACKETS.finditer(full, start, pos):
        ch = match.group()
        if ch in "[(":
            stack.append(ch)
        elif ch == "{":
            before = full[start:match.start()].rstrip()
            stack.append("map" if before.endswith(("=", ":", ",", "(", "[", "{")) else "{")
        elif ch in ")]}" and stack:
            stack.pop()
    return stack[-1] if stack else None


# Declarations with a name, and what follows the name: `constwave = 1` is `const wave = 1`
# glued, `appsx {` is `app sx {`, but `approval shop {` is no glued `app`.
_AFTER_DECL_NAME = {"const": "=", "app": "{", "environment": "{", "image": "{",
                    "registry": "{", "promotion": "{", "policy": "{("}


def _glued_keyword(word: str, expected: set[str], full: str, pos: int) -> str | None:
    """The declaration keyword ``word`` starts with when it reads as that keyword glued to
    the declaration's name (``constwave = 1``): a word is a keyword only when it is exactly
    one, so the whole word was read as a name."""
    nxt = full[pos + len(word):].lstrip()[:1]
    for keyword, follow in _AFTER_DECL_NAME.items():
        rest = word[len(keyword):]
        if keyword.upper() in expected and word.startswith(keyword) and nxt and \
                nxt in follow and re.fullmatch(r"[A-Za-z_][\w-]*", rest):
            return keyword
    return None


def _stray_character_hint(chunk: str, pos: int, ch: str, in_promotion: bool) -> str:
    """What a character the lexer cannot start any token with was probably meant to be."""
    if ch == "-" and chunk.startswith("->", pos) and in_promotion:
        line_start = chunk.rfind("\n", 0, pos) + 1
        left = re.search(r"([\w.-]+)\s*$", chunk[line_start:pos])
        right = re.match(r"\s*([\w.-]+)", chunk[pos + 2:])
        if left and right:
            source, target = left.group(1), right.group(1)
            if target == "registry":  # 'dev -> registry': only the arrow is reversed
                source, target = target, source
            return f"promotions read TARGET <- SOURCE: write '{target} <- {source}'"
        return "promotions read TARGET <- SOURCE, e.g. prod <- staging"
    known = {"#": "comments start with '//'", "'": "strings use double quotes",
             "`": "strings use double quotes", "&": "use 'and' to combine conditions",
             "|": "use 'or' to combine conditions", "!": "use 'not' to negate a condition"}
    if ch in known:
        return known[ch]
    return f"remove the {ch!r}, or put the text in double quotes if it is part of a value"


def syntax_error(exc: UnexpectedInput, chunk: str, file: str, off: _Offset, full: str,
                  code: str = "SL100", what: str = "",
                  next_decl: int | None = None) -> Diagnostic:
    """One syntax diagnostic. ``next_decl`` is the offset of the declaration after this
    chunk, where an unexpected end of the chunk is really noticed."""
    pos = getattr(exc, "pos_in_stream", None) or 0
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        pos = len(chunk.rstrip())
        line = chunk.count("\n", 0, pos) + 1
        column = pos - (chunk.rfind("\n", 0, pos) + 1) + 1
    abs_pos = pos + off.pos
    abs_line = line + off.line
    abs_col = column + (off.column if line == 1 else 0)

    def span(width: int) -> Span:
        return Span(file=file, line=abs_line, column=abs_col, end_line=abs_line,
                    end_column=abs_col + max(width, 1), start=abs_pos,
                    end=abs_pos + max(width, 1))

    prefix = f"in {what}: " if what else ""
    if isinstance(exc, UnexpectedCharacters):
        ch = chunk[pos] if pos < len(chunk) else ""
        if ch == '"':
            end = chunk.find("\n", pos)
            width = (end if end >= 0 else len(chunk)) - pos
            return error(span(width), "SL101", prefix + "string is not closed before the end "
                         "of the line", "add the closing '\"'; strings cannot span lines")
        if ch == "/":
            return error(span(1), code, prefix + "unexpected '/'",
                         "comments start with '//'; regular expressions are written /.../")
        if what:
            return error(span(1), code, prefix + f"unexpected character {ch!r}",
                         "an interpolation holds a name or a reference, e.g. ${team}; "
                         "operators are not evaluated inside strings")
        return error(span(1), "SL102", prefix + f"unexpected character {ch!r}",
                     _stray_character_hint(chunk, pos, ch, _inside(full, abs_pos, "promotion")))
    assert isinstance(exc, (UnexpectedToken, UnexpectedEOF))
    tok = getattr(exc, "token", None)
    after, field = _context(full, abs_pos)
    expected = set(getattr(exc, "expected", None) or getattr(exc, "accepts", None) or ())
    if expected & _POLICY_ONLY and not _inside_policy(full, abs_pos):
        expected -= _POLICY_ONLY  # states are shared between block and policy bodies
    want = _describe_expected(expected, field)
    where = f" after '{after}'" if after and not what else ""
    if tok is None or tok.type == "$END":
        if what:
            return error(span(1), code, prefix + f"expected {want} after '{after}'"
                         if after else prefix + f"expected {want}",
                         "an interpolation holds a name or a reference, e.g. ${team}")
        if next_decl is not None:
            return _missing_before_next(full, next_decl, file, want)
        return error(span(1), "SL104", prefix + f"unexpected end of file: expected {want}{where}",
                     "a closing '}', ']' or ')' may be missing")
    found = _describe_found(tok)
    gate = _gate_without_comma(full, abs_pos, expected)
    if gate is not None:
        return error(gate[0].model_copy(update={"file": file}), code,
                     f"expected ',' before the gate '{gate[1]}'",
                     "separate gates with ',', e.g. prod <- staging after 24h, approval")
    if tok.type == "EQUAL" and "COMPARE" in expected:
        return error(span(1), code, prefix + f"expected '==' to compare{where}, found '='",
                     "'=' sets a field; '==' compares two values")
    hints = []
    if tok.type == "EQUAL" and "EQUAL" not in expected and "COMPARE" in expected:
        hints.append("use '==' to compare")
    if str(tok) in DECL_KEYWORDS:
        hints.append("a '}' may be missing before this declaration")
    if tok.type == "COMMA" and "_SEP" in expected:
        hints.append(f"to give several values, write a list: {field} = [a, b]"
                     if field in FIELD_NOUNS and field in LIST_FIELDS else
                     "separate fields with a new line or ';'")
    for closer, text in (("RSQB", "']'"), ("RPAR", "')'"), ("RBRACE", "'}'")):
        if tok.type in _CLOSERS and tok.type != closer and closer in expected:
            hints.append(f"a closing {text} may be missing")
            break
    if tok.type == "COLON" and "EQUAL" in expected:
        hints.append("fields are set with '=', e.g. name = value")
    elif "EQUAL" in expected and after and re.fullmatch(r"[A-Za-z_][\w-]*", after):
        same_line = "\n" not in full[len(full[:abs_pos].rstrip()):abs_pos]
        value = str(tok) if same_line and tok.type in _VALUE_START else "value"
        hints.append(f"write '{after} = {value}'")
    hints.extend(_token_hint(tok, expected, after, field, full, abs_pos))
    if not hints:
        hints.append(_fallback_hint(tok, expected, after, field, full, abs_pos, want))
    return error(span(len(str(tok))), code, prefix + f"expected {want}{where}, found {found}",
                 *hints)
