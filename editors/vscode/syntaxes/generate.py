r"""Writes setlist.tmLanguage.json, the TextMate grammar of Setlist, to standard output.

The grammar is written here rather than in the JSON itself because its regular expressions
share pieces (what a name is, where a word ends, what starts a declaration) that are easier
to keep right once, with raw strings and comments. After a change:

    python3 editors/vscode/syntaxes/generate.py > editors/vscode/syntaxes/setlist.tmLanguage.json

tests/test_editor_grammar.py fails when the two differ, and checks the grammar against
grammar/setlist.lark by tokenizing every spec of the repository.

The hard part of the language for a line-based highlighter is '/': a regular expression
(/^v\d+$/) where an expression starts, the join operator (ghcr / "org/api") after a value.
After '=', '=~', '!~', comparisons, ',', ':', and keywords that start an expression, a
short-lived state (value_start) lets a regular expression match; '(' and '[' allow one right
after them (regex-first). Everywhere else '/' is the join.
"""

from __future__ import annotations

import json
import sys

NAME_RE = r"[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
B = r"(?<![A-Za-z0-9_-])"                     # a word starts here
E = r"(?![A-Za-z0-9_]|-+[A-Za-z0-9_])"       # ... and ends here (a name may contain '-')
NAME = B + NAME_RE
REGEX_BODY = r"(/)((?:[^/\\\n]|\\.)+)(/)"
DECLARATION_KEYWORDS = ("import", "const", "gitops", "registry", "image", "environment", "app",
                        "promotion", "policy", "use", "waive")
DECLARATION_SCOPES = {"import": "keyword.control.import.setlist"}
# A line that starts a declaration: ends every block and bracket, so that one missing '}' or
# ')' does not swallow the rest of the file. (Inside an expression a keyword followed by a name
# would be a syntax error anyway.)
DECL_SHAPE = (r"(?=^\s*(?:(?:registry|image|environment|app|promotion|policy|const|use|waive)"
              r"\s+[A-Za-z_]|gitops\s*\{|import\s+\"))")


def kw(*words: str) -> str:
    """Any of the words as a whole word (not the start or end of a name such as `in-house`)."""
    return B + "(?:" + "|".join(words) + ")" + E


def value_start(begin: str, captures: dict) -> dict:
    """After an operator, ',' or a keyword an expression starts: only here is '/' a regular
    expression rather than the join operator. The state ends at the next non-blank that is
    neither a comment nor a regular expression (patterns win ties: applyEndPatternLast)."""
    return {
        "begin": begin,
        "beginCaptures": captures,
        "end": r"(?=\S)",
        "applyEndPatternLast": 1,
        "patterns": [{"include": "#comment"}, {"include": "#regex"}],
    }


def cap(*names: str) -> dict:
    """Captures 1, 2, ... named in order (an empty name leaves a group unnamed)."""
    return {str(i + 1): {"name": n} for i, n in enumerate(names) if n}


REGEX_CAPTURES = {
    "1": {"name": "punctuation.definition.string.begin.setlist"},
    "2": {"patterns": [{"include": "#regex-escape"}]},
    "3": {"name": "punctuation.definition.string.end.setlist"},
}

REPOSITORY = {
    # ------------------------------------------------------------------ lexical
    "comment": {
        "name": "comment.line.double-slash.setlist",
        "match": r"(//+)[^\n]*",
        "captures": {"1": {"name": "punctuation.definition.comment.setlist"}},
    },
    "string": {
        "name": "string.quoted.double.setlist",
        "begin": r"\"",
        "beginCaptures": {"0": {"name": "punctuation.definition.string.begin.setlist"}},
        "end": r"(\")|$",
        "endCaptures": {"1": {"name": "punctuation.definition.string.end.setlist"}},
        "patterns": [
            {"name": "constant.character.escape.setlist",
             "match": r"\\(?:[\"\\nrt$/]|u\{[0-9A-Fa-f]{1,6}\})"},
            {"name": "invalid.illegal.escape.setlist", "match": r"\\."},
            {"include": "#interpolation"},
        ],
    },
    "interpolation": {
        "name": "meta.interpolation.setlist",
        "begin": r"\$\{",
        "beginCaptures": {"0": {"name": "punctuation.section.interpolation.begin.setlist"}},
        "end": r"(\})|(?=\")|$",
        "endCaptures": {"1": {"name": "punctuation.section.interpolation.end.setlist"}},
        "patterns": [
            {"match": r"(\.)\s*(" + NAME_RE + ")",
             "captures": cap("punctuation.accessor.setlist", "variable.other.member.setlist")},
            {"name": "constant.numeric.integer.setlist", "match": r"\d+"},
            {"name": "variable.other.constant.setlist", "match": NAME},
        ],
    },
    "regex": {
        "name": "string.regexp.setlist",
        "match": REGEX_BODY,
        "captures": REGEX_CAPTURES,
    },
    # A regular expression right after an opening bracket on the same line, or first on a
    # line inside brackets (a list of patterns written one a line).
    "regex-first": {
        "begin": r"(?:\G|^)\s*((/))(?=(?:[^/\\\n]|\\.)+/)",
        "beginCaptures": {"1": {"name": "string.regexp.setlist"},
                          "2": {"name": "punctuation.definition.string.begin.setlist"}},
        "end": r"((/))",
        "endCaptures": {"1": {"name": "string.regexp.setlist"},
                        "2": {"name": "punctuation.definition.string.end.setlist"}},
        "contentName": "string.regexp.setlist",
        "patterns": [{"include": "#regex-escape"}],
    },
    "regex-escape": {
        "patterns": [
            {"name": "constant.character.escape.slash.setlist", "match": r"\\/"},
            {"name": "constant.character.escape.regexp.setlist", "match": r"\\."},
        ],
    },
    "number": {
        "patterns": [
            {"name": "constant.numeric.date.setlist",
             "match": r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?)?"},
            {"name": "constant.numeric.duration.setlist",
             "match": r"\d+[wdhms](?:\d+[wdhms])*(?![A-Za-z0-9_])"},
            {"name": "constant.numeric.integer.setlist", "match": r"\d+(?![A-Za-z_])"},
            {"name": "invalid.illegal.numeric.setlist", "match": r"\d+[A-Za-z0-9_]*"},
        ],
    },
    "constant": {
        "patterns": [
            {"name": "constant.language.boolean.true.setlist", "match": kw("true")},
            {"name": "constant.language.boolean.false.setlist", "match": kw("false")},
            {"name": "constant.language.none.setlist", "match": kw("none")},
        ],
    },
    # ------------------------------------------------------------------ expressions
    "operator": {
        "patterns": [
            value_start(r"(=~|!~)|(==|!=|<=|>=|<(?!-)|>)|(=)",
                        cap("keyword.operator.match.setlist",
                            "keyword.operator.comparison.setlist",
                            "keyword.operator.assignment.setlist")),
            value_start(r"(,)|(:)", cap("punctuation.separator.comma.setlist",
                                        "punctuation.separator.colon.setlist")),
            value_start("(" + kw("and", "or") + ")|(" + kw("not") + ")|(" + kw("in") + ")",
                        cap("keyword.operator.logical.setlist",
                            "keyword.operator.logical.not.setlist",
                            "keyword.operator.in.setlist")),
            {"name": "keyword.operator.exists.setlist", "match": kw("exists")},
            {"name": "keyword.operator.as.setlist", "match": kw("as")},
            {"name": "keyword.operator.arrow.setlist", "match": r"<-"},
            {"name": "keyword.operator.join.setlist", "match": r"/(?!/)"},
            {"name": "punctuation.terminator.statement.setlist", "match": r";"},
        ],
    },
    "call": {
        "name": "meta.function-call.setlist",
        "begin": "(?:(" + B + r"(?:semver|digest|env|in_cluster|automated|manual|retry|git"
                 r"|approval|signed|newest_build|alphabetical)" + E + ")|(" + NAME
                 + r"))\s*(\()",
        "beginCaptures": cap("support.function.builtin.setlist", "entity.name.function.setlist",
                             "punctuation.section.arguments.begin.setlist"),
        "end": r"(\))|" + DECL_SHAPE,
        "endCaptures": cap("punctuation.section.arguments.end.setlist"),
        "patterns": [
            {"include": "#regex-first"},
            {"include": "#comment"},
            {"match": "(" + NAME + r")(?=\s*:)",
             "captures": cap("variable.parameter.setlist")},
            {"include": "#expression"},
        ],
    },
    "parens": {
        "begin": r"\(",
        "beginCaptures": {"0": {"name": "punctuation.section.parens.begin.setlist"}},
        "end": r"(\))|" + DECL_SHAPE,
        "endCaptures": cap("punctuation.section.parens.end.setlist"),
        "patterns": [{"include": "#regex-first"}, {"include": "#expression"}],
    },
    # A list, an index, or a comprehension `[EXPR for NAME in EXPR where EXPR]`.
    "list": {
        "begin": r"\[",
        "beginCaptures": {"0": {"name": "punctuation.section.brackets.begin.setlist"}},
        "end": r"(\])|" + DECL_SHAPE,
        "endCaptures": cap("punctuation.section.brackets.end.setlist"),
        "patterns": [
            {"include": "#regex-first"},
            value_start("(" + kw("for") + r")\s+(" + NAME + r")\s+(" + kw("in") + ")",
                        cap("keyword.control.for.setlist", "variable.other.loop.setlist",
                            "keyword.control.in.setlist")),
            value_start("(" + kw("where") + ")", cap("keyword.control.where.setlist")),
            {"include": "#expression"},
        ],
    },
    "map": {
        "name": "meta.mapping.setlist",
        "begin": r"\{",
        "beginCaptures": {"0": {"name": "punctuation.section.mapping.begin.setlist"}},
        "end": r"(\})|" + DECL_SHAPE,
        "endCaptures": cap("punctuation.section.mapping.end.setlist"),
        "patterns": [
            {"include": "#comment"},
            {"match": "(" + NAME + r")(?=\s*:)",
             "captures": cap("support.type.property-name.setlist")},
            {"include": "#expression"},
        ],
    },
    "name": {
        "patterns": [
            {"match": r"(\.)\s*(" + NAME_RE + r")(?![A-Za-z0-9_]|-+[A-Za-z0-9_]|\s*\()",
             "captures": cap("punctuation.accessor.setlist", "variable.other.member.setlist")},
            {"name": "punctuation.accessor.setlist", "match": r"\."},
            {"name": "variable.language.cluster.setlist", "match": kw("cluster")},
            {"name": "support.function.builtin.setlist",
             "match": kw("semver", "digest", "env", "in_cluster", "automated", "manual", "retry",
                         "git", "approval", "signed", "newest_build", "alphabetical")},
            {"name": "support.constant.builtin.setlist",
             "match": kw("docker_config", "anonymous", "setlist", "direct", "pull_request",
                         "all", "rest", "registry", "argocd")},
            {"name": "variable.other.setlist", "match": NAME},
        ],
    },
    "invalid": {"name": "invalid.illegal.character.setlist", "match": r"[^\s]"},
    "expression": {
        "patterns": [
            {"include": "#comment"},
            {"include": "#string"},
            {"include": "#number"},
            {"include": "#operator"},
            {"include": "#constant"},
            {"include": "#call"},
            {"include": "#name"},
            {"include": "#parens"},
            {"include": "#list"},
            {"include": "#map"},
            {"include": "#invalid"},
        ],
    },
    # ------------------------------------------------------------------ blocks
    "field": {
        "match": "(" + NAME + r")(?=\s*=(?![=~]))",
        "captures": cap("entity.other.attribute-name.setlist"),
    },
    "body": {
        "name": "meta.block.setlist",
        "begin": r"\{",
        "beginCaptures": {"0": {"name": "punctuation.section.block.begin.setlist"}},
        "end": r"(\})|" + DECL_SHAPE,
        "endCaptures": cap("punctuation.section.block.end.setlist"),
        "patterns": [
            {"include": "#comment"},
            {"include": "#field"},
            value_start("(" + kw("freeze") + ")|(" + kw("for") + ")|(" + kw("tz") + ")",
                        cap("keyword.other.freeze.setlist", "keyword.other.for.setlist",
                            "keyword.other.tz.setlist")),
            {"include": "#expression"},
        ],
    },
    "promotion-body": {
        "name": "meta.block.promotion.setlist",
        "begin": r"\{",
        "beginCaptures": {"0": {"name": "punctuation.section.block.begin.setlist"}},
        "end": r"(\})|" + DECL_SHAPE,
        "endCaptures": cap("punctuation.section.block.end.setlist"),
        "patterns": [
            {"include": "#comment"},
            value_start("(" + kw("after") + ")", cap("keyword.other.after.setlist")),
            {"include": "#expression"},
        ],
    },
    "policy-body": {
        "name": "meta.block.policy.setlist",
        "begin": r"\{",
        "beginCaptures": {"0": {"name": "punctuation.section.block.begin.setlist"}},
        "end": r"(\})|" + DECL_SHAPE,
        "endCaptures": cap("punctuation.section.block.end.setlist"),
        "patterns": [
            {"include": "#comment"},
            {"include": "#for"},
            value_start("(" + kw("require") + ")|(" + kw("deny") + ")",
                        cap("keyword.control.require.setlist", "keyword.control.deny.setlist")),
            {"include": "#field"},
            {"include": "#expression"},
        ],
    },
    "for": {
        "name": "meta.for.setlist",
        "begin": "(" + kw("for") + r")\s+(" + NAME + r")\s+(" + kw("in") + ")",
        "beginCaptures": cap("keyword.control.for.setlist", "variable.other.loop.setlist",
                             "keyword.control.in.setlist"),
        "end": r"(?<=\})|" + DECL_SHAPE,
        "patterns": [
            {"include": "#comment"},
            value_start("(" + kw("where") + ")", cap("keyword.control.where.setlist")),
            {"include": "#policy-body"},
            {"include": "#expression"},
        ],
    },
    "params": {
        "name": "meta.parameters.setlist",
        "begin": r"\(",
        "beginCaptures": {"0": {"name": "punctuation.section.parameters.begin.setlist"}},
        "end": r"(\))|" + DECL_SHAPE,
        "endCaptures": cap("punctuation.section.parameters.end.setlist"),
        "patterns": [
            {"include": "#comment"},
            {"begin": "(" + NAME + r")\s*(:)",
             "beginCaptures": cap("variable.parameter.setlist",
                                  "punctuation.separator.colon.setlist"),
             "end": r"(?=[^\sA-Za-z0-9_\[\]-])|$",
             "patterns": [
                 {"name": "support.type.setlist", "match": NAME},
                 {"name": "punctuation.section.brackets.begin.setlist", "match": r"\["},
                 {"name": "punctuation.section.brackets.end.setlist", "match": r"\]"},
             ]},
            {"match": "(" + NAME + r")(?=\s*(?:[,)]|=(?![=~])|$))",
             "captures": cap("variable.parameter.setlist")},
            {"include": "#expression"},
        ],
    },
}


def declaration(keyword: str, name_scope: str, body: list[dict], opens: str = r"\{") -> dict:
    """`KEYWORD NAME {...}`: the region ends after the body, or at anything else than the
    body's opening bracket (a declaration missing its body)."""
    return {
        "name": f"meta.declaration.{keyword}.setlist",
        "begin": "(" + kw(keyword) + r")\s+(" + NAME + ")",
        "beginCaptures": cap(f"keyword.declaration.{keyword}.setlist", name_scope),
        "end": r"(?<=\})|(?=[^\s/" + opens + r"]|/(?!/))",
        "patterns": [{"include": "#comment"}] + body,
    }


TOP = [
    {"include": "#comment"},
    {"match": "(" + kw("import") + r")(?=\s*\")",
     "captures": cap("keyword.control.import.setlist")},
    {"match": "(" + kw("as") + r")\s+(" + NAME + ")",
     "captures": cap("keyword.control.as.setlist", "entity.name.namespace.setlist")},
    {"match": "(" + kw("const") + r")\s+(" + NAME + ")",
     "captures": cap("keyword.declaration.const.setlist", "entity.name.constant.setlist")},
    {
        "name": "meta.declaration.gitops.setlist",
        "begin": "(" + kw("gitops") + r")(?=\s*(?:\{|//|$))",
        "beginCaptures": cap("keyword.declaration.gitops.setlist"),
        "end": r"(?<=\})|(?=[^\s/{]|/(?!/))",
        "patterns": [{"include": "#comment"}, {"include": "#body"}],
    },
    declaration("registry", "entity.name.type.registry.setlist", [{"include": "#body"}]),
    declaration("image", "entity.name.type.image.setlist", [{"include": "#body"}]),
    declaration("environment", "entity.name.type.environment.setlist", [{"include": "#body"}]),
    declaration("app", "entity.name.type.app.setlist", [{"include": "#body"}]),
    {
        "name": "meta.declaration.promotion.setlist",
        "begin": "(" + kw("promotion") + r")\s+(" + NAME + r"(?:\s*\.\s*" + NAME_RE + ")*)",
        "beginCaptures": {
            "1": {"name": "keyword.declaration.promotion.setlist"},
            "2": {"patterns": [
                {"name": "punctuation.accessor.setlist", "match": r"\."},
                {"name": "entity.name.type.promotion.setlist", "match": NAME},
            ]},
        },
        "end": r"(?<=\})|(?=[^\s/{]|/(?!/))",
        "patterns": [{"include": "#comment"}, {"include": "#promotion-body"}],
    },
    declaration("policy", "entity.name.function.policy.setlist",
                [{"include": "#params"}, {"include": "#policy-body"}], opens=r"{("),
    {"match": "(" + kw("use") + r")\s+(?=" + NAME_RE + ")",
     "captures": cap("keyword.declaration.use.setlist")},
    {
        # `waive POLICY [for KIND NAME] until DATE because "REASON"` may span lines: the
        # region keeps `for KIND` from being read as the start of a declaration. It ends
        # after the reason, or where a line starts a declaration that opens a body (or a
        # keyword that starts one), which `image nothing until ...` does not.
        "name": "meta.declaration.waive.setlist",
        "begin": "(" + kw("waive") + r")(?=\s|$)",
        "beginCaptures": cap("keyword.declaration.waive.setlist"),
        "end": (r"(?<=\")|(?=^\s*(?:(?:registry|image|environment|app|promotion|policy)\s+"
                + NAME_RE + r"\s*[{(]|(?:const|use|waive)\s+[A-Za-z_]|gitops\s*\{"
                r"|import\s+\"))"),
        "patterns": [
            {"include": "#comment"},
            {"match": "(" + kw("for") + r")(?:\s+(" + kw("app", "environment", "image",
                                                       "registry") + r"))?",
             "captures": cap("keyword.other.for.setlist", "support.type.kind.setlist")},
            {"match": "^\\s*(" + kw("app", "environment", "image", "registry") + r")(?=\s)",
             "captures": cap("support.type.kind.setlist")},
            {"match": "(" + kw("until") + r")", "captures": cap("keyword.other.until.setlist")},
            {"match": "(" + kw("because") + r")",
             "captures": cap("keyword.other.because.setlist")},
            {"include": "#expression"},
        ],
    },
    {"match": "(" + kw("for") + r")\s+(" + NAME + r")\s+(" + NAME + ")",
     "captures": cap("keyword.other.for.setlist", "support.type.kind.setlist",
                     "variable.other.setlist")},
    # A declaration keyword without the rest of its declaration yet (being typed, or broken).
    {"match": "|".join("(" + kw(word) + ")" for word in DECLARATION_KEYWORDS),
     "captures": cap(*(DECLARATION_SCOPES.get(word, f"keyword.declaration.{word}.setlist")
                       for word in DECLARATION_KEYWORDS))},
    {"match": "(" + kw("until") + r")(?=\s*\d)", "captures": cap("keyword.other.until.setlist")},
    {"match": "(" + kw("because") + r")(?=\s*\")",
     "captures": cap("keyword.other.because.setlist")},
    {"include": "#expression"},
]

GRAMMAR = {
    "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
    "name": "Setlist",
    "scopeName": "source.setlist",
    "fileTypes": ["setlist"],
    "comment": ("Setlist, after grammar/setlist.lark. Generated by generate.py in this folder; "
                "edit that and run it (tests/test_editor_grammar.py checks both)."),
    "patterns": TOP,
    "repository": REPOSITORY,
}


def main() -> None:
    json.dump(GRAMMAR, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
