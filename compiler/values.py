"""Validators for literal values, run by the checker before anything reaches a cluster.

Every value here is eventually interpreted by another program (Argo CD, the image updater,
a registry, the Kubernetes API server), usually long after ``setlist`` has finished. A typo
found there costs a failed sync at 3 a.m.; found here it costs a red squiggle. So each
validator mirrors the consuming program's rules and explains a failure in the words of the
person who wrote the value, with an offset so the diagnostic can point at the character.

All functions are pure: they take the literal string and return ``None`` when it is fine
or a ``ValueProblem`` describing the first thing wrong with it.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .versions import ConstraintError, _digits, parse_constraint, parse_version


@dataclass(frozen=True)
class ValueProblem:
    """What is wrong, an optional fix, and where: ``offset`` is 0-based within the value,
    or None when the problem concerns the value as a whole."""

    message: str
    hint: str | None = None
    offset: int | None = None

    def __post_init__(self) -> None:
        # Diagnostics read as clauses (lowercase start, no final full stop), like every other
        # message of the checker; the texts below are written as sentences for readability.
        object.__setattr__(self, "message", _clause(self.message))
        if self.hint is not None:
            object.__setattr__(self, "hint", _clause(self.hint))


_PROPER = {"Go", "Go's", "RE2", "IANA", "OCI", "Kubernetes", "Argo", "Docker", "SSH", "URL",
           "URLs", "UTC", "DNS", "GOOS", "GOARCH", "HTTP", "HTTPS", "I"}


def _clause(text: str) -> str:
    first = text.split(" ", 1)[0]
    if first and first[0].isupper() and first not in _PROPER and \
            (not first.isupper() or first == "A"):
        text = text[0].lower() + text[1:]
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    return text


_P = ValueProblem  # the constructor is called ~80 times below; the short name keeps lines short



def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Case-insensitive first, because 'europe/berlin' is the commonest near miss."""
    folded = {c.lower(): c for c in choices}
    if word.lower() in folded:
        return folded[word.lower()]
    import difflib  # for near misses only: a clean check does not need it

    close = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def _guess_hint(word: str, choices: Iterable[str], fallback: str | None = None) -> str | None:
    guess = _did_you_mean(word, choices)
    return f"Did you mean '{guess}'?" if guess else fallback


# --- versions and patterns -----------------------------------------------------------------


@functools.lru_cache(maxsize=1024)  # a large spec repeats a few ranges over many images
def check_semver_constraint(text: str) -> ValueProblem | None:
    """The image updater silently skips an image whose constraint it cannot parse."""
    try:
        parse_constraint(text)
    except ConstraintError as err:
        return _P(f"{err.message}.", "Ranges look like '^1.4', '~2.3.0', '>=1.2 <2' or '1.x'.",
                  err.offset)
    return None


_RE2 = "Go's RE2 engine, which Argo CD Image Updater uses,"
_RE2_UNSUPPORTED = (  # (opener, what, plural, fix)
    ("(?<=", "a lookbehind", "lookbehinds", "match the preceding text explicitly"),
    ("(?<!", "a negative lookbehind", "lookbehinds", "restructure the pattern"),
    ("(?=", "a lookahead", "lookaheads", "match the following text explicitly"),
    ("(?!", "a negative lookahead", "lookaheads", "list the allowed alternatives instead"),
    ("(?>", "an atomic group", "atomic groups", "use a plain group '(?:...)'"),
    ("(?P=", "a named backreference", "backreferences", "match the repeated text explicitly"),
    ("(?(", "a conditional group", "conditionals", "use alternation '(a|b)' instead"),
)
_REPEAT_RE = re.compile(r"\{[0-9]+(,[0-9]*)?\}")
_FLAGS_RE = re.compile(r"\(\?([A-Za-z-]+)[:)]")


def check_regex(text: str) -> ValueProblem | None:
    """A tag filter must be valid RE2 (what the image updater runs) that Setlist can
    evaluate the same way. Valid RE2 that Python spells differently (\\z, \\Q…\\E,
    (?<name>, \\x{…}, flags in mid-pattern) passes: tag selection translates it."""
    from .tagmatch import TagPatternError, translate_regex

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(translate_regex(text), re.ASCII)
    except (TagPatternError, re.error) as first:
        problem = _regex_problem(text)  # the precise message, position and fix, when known
        if problem is not None and not (isinstance(first, TagPatternError)
                                        and "bad escape" in problem.message):
            return problem
        return _P(f"'{text}' cannot be used as a tag filter: {first}",
                  "rewrite it with the common RE2 subset: classes, groups, '|' and "
                  "quantifiers")
    return _re2_screen(text)


def _regex_problem(text: str) -> ValueProblem | None:
    """Python's own reading of the pattern first (its messages point at the character),
    then the screen for what Python accepts and RE2 rejects."""
    try:
        with warnings.catch_warnings():  # Python's "possible nested set" is not our concern
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(text)
    except re.error as err:
        return _P(f"'{text}' is not a valid regular expression: {err.msg}.",
                  _regex_error_hint(err.msg), err.pos)
    return _re2_screen(text)


def _re2_screen(text: str) -> ValueProblem | None:
    """Constructs Python's re accepts but Go's RE2 rejects; the image updater would
    otherwise fail at runtime."""
    where = f"The regular expression '{text}' uses"
    i = 0
    while i < len(text):
        ch, nxt = text[i], text[i + 1 : i + 2]
        if ch == "\\":
            if _digits(nxt) and nxt != "0":
                return _P(f"{where} a backreference ('\\{nxt}').",
                          f"{_RE2} does not support backreferences; match the text explicitly.", i)
            if nxt == "Z":
                return _P(f"{where} '\\Z'.", f"{_RE2} does not support '\\Z'; use '$' instead.", i)
            i += 2
            continue
        if ch == "[":
            i = _class_end(text, i, "^") + 1
            continue
        for opener, what, plural, fix in _RE2_UNSUPPORTED:
            if text.startswith(opener, i):
                return _P(f"{where} {what} ('{opener}').",
                          f"{_RE2} does not support {plural}; {fix}.", i)
        if (flags := _FLAGS_RE.match(text, i)) and set(flags[1]) - set("ims-"):
            bad = "".join(sorted(set(flags[1]) - set("ims-")))
            return _P(f"{where} the inline flag(s) '{bad}'.",
                      f"{_RE2} only supports the flags i, m, s and U.", i)
        if ch in "*+?" and text[i - 1 : i] != "(":
            end = i + 1
        elif ch == "{" and (m := _REPEAT_RE.match(text, i)):
            end = m.end()
        else:
            i += 1
            continue
        if text[end : end + 1] == "+":
            return _P(f"{where} a possessive quantifier ('{text[i:end + 1]}').",
                      f"{_RE2} does not support possessive quantifiers; drop the last '+'.", end)
        i = end + (text[end : end + 1] == "?")
    return None


_REGEX_ERROR_HINTS = (  # (start of Python's message, fix)
    ("unterminated character set", "close the character class with ']', or write '\\[' for a "
     "literal '['"),
    ("missing ), unterminated subpattern", "close the group with ')', or write '\\(' for a "
     "literal '('"),
    ("unbalanced parenthesis", "remove the extra ')', or write '\\)' for a literal ')'"),
    ("nothing to repeat", "put the quantifier after something to repeat, or escape it, e.g. "
     "'\\*' or '\\+', to match it literally"),
    ("multiple repeat", "use one quantifier per item, e.g. 'a+' or '(a+)?'"),
    ("bad escape", "use a known escape such as '\\d', '\\w' or '\\.', or write '\\\\' for a "
     "literal backslash"),
    ("bad character range", "write ranges low to high, e.g. '[a-z]', or put '-' last to match "
     "it literally"),
)


def _regex_error_hint(msg: str) -> str:
    for start, fix in _REGEX_ERROR_HINTS:
        if msg.startswith(start):
            return fix
    return "check the pattern against RE2 syntax: https://github.com/google/re2/wiki/Syntax"


def _class_end(text: str, start: int, negators: str) -> int:
    """Index of the ']' closing the class opened at ``start`` (-1 if none); a ']' right
    after the opening '[' or its negator is a literal, in globs and regexes alike."""
    j = start + 1
    j += text[j : j + 1] != "" and text[j] in negators
    j += text[j : j + 1] == "]"
    while j < len(text):
        if text[j] == "]":
            return j
        j += 2 if text[j] == "\\" else 1
    return -1


_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def check_glob(text: str) -> ValueProblem | None:
    """Tag globs are Go's filepath.Match patterns (what the image updater runs): '*', '?',
    '[...]' classes negated with '^', '\\' escapes; nothing else is special. A malformed
    glob, or one that needs a character no tag can hold, matches nothing, which looks
    exactly like "no new image"."""
    if not text:
        return _P("A tag glob must not be empty.", "Use '*' to match every tag.")
    where = f"The tag glob '{text}'"
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 == n:
                return _P(f"{where} ends with a lone '\\'.", "Escape it as '\\\\'.", i)
            i += 2
            continue
        if ch == "[":
            body = i + 1 + (text[i + 1:i + 2] == "^")
            close = body
            while close < n and (text[close] != "]" or close == body):
                if text[close] == "]":  # ']' first in a class: Go rejects the pattern
                    return _P(f"{where} has a class that starts with ']'.",
                              "Escape it as '\\]' to match a ']'.", close)
                close += 2 if text[close] == "\\" else 1
            if close >= n:
                return _P(f"{where} has a '[' that is never closed.",
                          "Close the class with ']' or escape the bracket as '\\['.", i)
            for m in re.finditer(r"([^\\])-([^\\])", text[body:close]):
                if m.group(1) > m.group(2):
                    return _P(f"{where} has a backwards range '{m.group()}', which matches "
                              "nothing.", f"Write it as '{m.group(2)}-{m.group(1)}'.",
                              body + m.start())
            i = close + 1
            continue
        if ch in "*?" or ch in _TAG_CHARS:
            i += 1
            continue
        if ch.isspace():
            return _P(f"{where} contains whitespace, but image tags never do.",
                      "Remove the space; to give several patterns, list them.", i)
        if ch in "{}":
            return _P(f"{where} contains '{ch}', which no image tag contains: tag globs "
                      "have no {a,b} alternatives.",
                      "List each pattern on its own, e.g. ignore_tags = [\"*-alpha\", "
                      "\"*-beta\"].", i)
        return _P(f"{where} contains '{ch}', which no image tag contains, so it matches "
                  "nothing.", "Tags hold letters, digits, '_', '.' and '-'.", i)
    from .tagmatch import _parse_glob

    if _parse_glob(text) is None:  # the matcher's own reading, as a last safety net
        return _P(f"{where} is not a valid glob.", "Use '*', '?', '[...]' and '\\'.")
    return None


_INVALID_NAME_CHARS = re.compile(r"[^-a-z0-9.]")
# Go lowercases U+0130 to "i"; Python to "i̇" (two characters).
_GO_LOWER = {0x130: "i"}


def name_normalized(name: str) -> str:
    """Argo CD's ``nameNormalized`` of a cluster name (``utils.SanitizeName``): lower case as
    Go's strings.ToLower, every character other than a-z, 0-9, '-' and '.' replaced by '-',
    cut to 253 characters, then '-' and '.' trimmed from both ends."""
    lowered = name.translate(_GO_LOWER).lower()
    return _INVALID_NAME_CHARS.sub("-", lowered)[:253].strip("-.")


# --- platforms and locations ---------------------------------------------------------------

_GOOS = ("aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux",
         "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows")
_GOARCH = ("386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le",
           "ppc64", "ppc64le", "riscv64", "s390x", "wasm")
_PLATFORM_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm/v7",
                     "armel": "arm/v6", "i386": "386", "i686": "386", "x86": "386",
                     "macos": "darwin", "osx": "darwin", "win": "windows", "win32": "windows"}
_VARIANTS = {"arm": ("v5", "v6", "v7", "v8"), "amd64": ("v1", "v2", "v3", "v4"),
             "arm64": ("v8", "v9", "v9.0") + tuple(f"v8.{n}" for n in range(10))}


def check_platform(text: str) -> ValueProblem | None:
    """Platforms select an entry of an OCI image index; a misspelt one selects nothing."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        return _P(f"'{text}' is not a platform: expected os/arch[/variant].",
                  "Platforms look like 'linux/amd64' or 'linux/arm/v7'.")
    offset = 0
    for part, known, what in ((parts[0], _GOOS, "operating system"),
                              (parts[1], _GOARCH, "architecture")):
        if part not in known:
            hint = _guess_hint(part, known, f"Known: {', '.join(known)}.")
            if alias := _PLATFORM_ALIASES.get(part.lower()):
                hint = f"OCI platforms use Go names: write '{alias}' instead of '{part}'."
            return _P(f"'{part}' in '{text}' is not a known {what}.", hint, offset)
        offset += len(part) + 1
    if len(parts) == 3:
        arch, variant = parts[1], parts[2]
        allowed = _VARIANTS.get(arch)
        if (allowed and variant not in allowed) or not re.fullmatch(r"[a-z0-9.]+", variant):
            listed = f"Variants of {arch}: {', '.join(allowed)}." if allowed else None
            return _P(f"'{variant}' is not a known variant of {arch} in '{text}'.",
                      _guess_hint(variant, allowed or (), listed), offset)
    return None


_SCP_RE = re.compile(r"(?:[\w.~-]+@)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<path>.*)")


def check_url(text: str, schemes: tuple[str, ...] = ("https", "http", "ssh", "git", "file")
              ) -> ValueProblem | None:
    """Repository URLs reach Argo CD verbatim, and it fails late and vaguely on bad ones.
    scp-like addresses ('git@host:org/repo') are accepted when 'ssh' is allowed, as git does;
    a numeric "path" ('host:5000') is a port, so that is not taken for one."""
    if not text:
        return _P("A URL must not be empty.")
    if ws := re.search(r"\s", text):
        return _P(f"The URL '{text}' contains whitespace.", None, ws.start())
    if "://" not in text:
        scp = _SCP_RE.fullmatch(text)
        if scp and "/" not in text[: scp.start("path")] and not _digits(scp["path"]):
            if "ssh" not in schemes:
                return _P(f"'{text}' is an SSH (scp-style) address, but only "
                          f"{', '.join(schemes)} URLs are allowed here.")
            if not scp["path"].strip("/"):
                return _P(f"The SSH address '{text}' has no repository path.", None, len(text))
            return None
        return _P(f"'{text}' is not a URL: it has no scheme.",
                  f"Write it as 'https://{text}'." if "https" in schemes else None, 0)
    scheme = text.split("://", 1)[0]
    if scheme.lower() not in schemes:
        return _P(f"The URL '{text}' uses scheme '{scheme}', which is not allowed here.",
                  f"Allowed: {', '.join(schemes)}.", 0)
    host_at = len(scheme) + 3
    try:
        parts = urlsplit(text)
    except ValueError:  # an unbalanced '[' or ']' around an IPv6 address
        return _P(f"The URL '{text}' has an unbalanced '[' or ']' in its host.",
                  "Only IPv6 addresses are written in brackets, e.g. 'https://[::1]:8443/repo'.",
                  host_at)
    if scheme.lower() != "file" and not parts.hostname:
        return _P(f"The URL '{text}' has no host.", None, host_at)
    try:
        _ = parts.port  # urlsplit validates the port lazily, on access
    except ValueError:
        return _P(f"The URL '{text}' has an invalid port.", "Ports are 1-65535.",
                  text.rfind(":", host_at, host_at + len(parts.netloc)))
    return None


_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAME_RULES = {  # kind -> (allowed characters, their description, full-match pattern)
    "label": (r"[a-z0-9-]", "lowercase letters, digits and '-'", re.compile(_DNS_LABEL)),
    "subdomain": (r"[a-z0-9.-]", "lowercase letters, digits, '-' and '.'",
                  re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")),
    "name": (r"[A-Za-z0-9_.-]", "letters, digits, '-', '_' and '.'",
             re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")),
}


def _fixed_name(text: str, kind: str, max_len: int) -> str:
    """A best-effort corrected name for the hint: Kubernetes users mostly trip over
    uppercase and underscores, so lowercase and map everything invalid to '-'."""
    if kind == "name":
        return re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:max_len].strip("-_.")
    fixed = re.sub(r"[^a-z0-9.-]" if kind == "subdomain" else r"[^a-z0-9-]", "-", text.lower())
    fixed = ".".join(p.strip("-") for p in fixed.split(".") if p.strip("-"))
    return fixed[:max_len].strip("-.")


def _name_problem(text: str, what: str, kind: str, max_len: int, base: int = 0
                  ) -> ValueProblem | None:
    """Shared reporting for the Kubernetes name rules, which differ only in character set."""
    chars, allowed, pattern = _NAME_RULES[kind]
    fix = _fixed_name(text, kind, max_len)
    hint = f"Try '{fix}'." if fix and fix != text else None
    if not text:
        return _P(f"{what} must not be empty.", None, base)
    if len(text) > max_len:
        return _P(f"{what} '{text}' is {len(text)} characters long; the limit is {max_len}.",
                  hint, base + max_len)
    if pattern.fullmatch(text):
        return None
    for i, ch in enumerate(text):
        if not re.fullmatch(chars, ch):
            return _P(f"{what} '{text}' contains '{ch}'; only {allowed} are allowed.",
                      hint, base + i)
    at = 0 if not text[0].isalnum() else len(text) - 1
    around = ""
    if kind == "subdomain":
        around = " (also on both sides of each '.')"
        at = next((i for i, c in enumerate(text) if c in ".-" and (
            i in (0, len(text) - 1) or "." in (text[i - 1], text[i + 1]))), at)
    return _P(f"{what} '{text}' must start and end with a letter or digit{around}.", hint,
              base + at)


def check_dns1123_label(text: str, max_len: int = 63) -> ValueProblem | None:
    """Namespaces, Application names and the like must be DNS-1123 labels; the API server
    only says so at apply time, in the middle of a sync."""
    return _name_problem(text, "The name", "label", max_len)


def check_dns1123_subdomain(text: str, max_len: int = 253) -> ValueProblem | None:
    return _name_problem(text, "The name", "subdomain", max_len)


def check_label_key(text: str) -> ValueProblem | None:
    """Keys are '[prefix/]name'; the prefix is a DNS subdomain, the name a 63-char name."""
    prefix, slash, name = text.rpartition("/")
    if slash and "/" in prefix:
        return _P(f"The label key '{text}' has more than one '/'.", None, text.index("/"))
    if slash and (problem := _name_problem(prefix, "The label key prefix", "subdomain", 253)):
        return problem
    return _name_problem(name, "The label name", "name", 63, len(prefix) + len(slash))


def check_label_value(text: str) -> ValueProblem | None:
    return _name_problem(text, "The label value", "name", 63) if text else None


_DOMAIN_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                        r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*")
_HOST_RE = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<name>[^:\[\]]*))(?::(?P<port>.*))?")


def check_host(text: str) -> ValueProblem | None:
    """Registry hosts are joined with repository paths later; a scheme or path here gives
    references like 'https://ghcr.io/org/app' that no client can pull."""
    where = f"The registry host '{text}'"
    if not text:
        return _P("A registry host must not be empty.", "For example 'ghcr.io'.")
    if "://" in text:
        scheme = text.split("://", 1)[0]
        return _P(f"{where} includes a scheme.", f"Write just the host: drop '{scheme}://'.", 0)
    if "/" in text:
        at = text.index("/")
        return _P(f"{where} includes a path.",
                  f"Drop '{text[at:]}'; the repository path is given separately.", at)
    m = _HOST_RE.fullmatch(text)
    if m is None:
        return _P(f"{where} has a malformed bracketed IPv6 address.",
                  "For example '[::1]:5000'.", 0)
    host, port = m["v6"] or m["name"] or "", m["port"]
    if m["v6"] is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return _P(f"'{host}' in '{text}' is not an IPv6 address.", None, 1)
    elif not host:
        return _P(f"{where} has no host name before the ':'.",
                  "Write IPv6 addresses in brackets, e.g. '[::1]:5000'.", 0)
    elif not _DOMAIN_RE.fullmatch(host):
        bad = next((i for i, c in enumerate(host) if not (c.isalnum() or c in ".-")), 0)
        return _P(f"'{host}' in '{text}' is not a valid host name.", None, bad)
    elif re.fullmatch(r"[0-9.]+", host) and not _is_ipv4(host):
        return _P(f"'{host}' in '{text}' is not an IPv4 address.", None, 0)
    if port is not None and not (_digits(port) and 0 < int(port) < 65536):
        hint = (f"use a port from 1 to 65535, or drop ':{port}' to use the registry's default "
                "HTTPS port 443") if port else "drop the trailing ':' or add a port, e.g. ':5000'"
        return _P(f"The port '{port}' in '{text}' is not a number from 1 to 65535.", hint,
                  m.start("port"))
    return None


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


_REPO_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPO_RE = re.compile(rf"{_REPO_COMPONENT}(?:/{_REPO_COMPONENT})*")


def check_repository_path(text: str) -> ValueProblem | None:
    """Registries reject names outside the distribution-spec grammar at push and pull."""
    where = f"The repository path '{text}'"
    if not text:
        return _P("A repository path must not be empty.")
    if len(text) > 255:
        return _P(f"The repository path is {len(text)} characters; the limit is 255.", None, 255)
    if _REPO_RE.fullmatch(text):
        return None
    cut = min((text.index(c) for c in ":@" if c in text), default=-1)
    if cut >= 0:
        what = "a tag" if text[cut] == ":" else "a digest"
        return _P(f"{where} includes {what}.", f"Drop '{text[cut:]}' and set it separately.", cut)
    lowered = text.lower()
    hint = f"Repository paths are lowercase: '{lowered}'." if _REPO_RE.fullmatch(lowered) else None
    rule = "components are lowercase letters and digits joined by '.', '_', '__' or '-'"
    pos = 0
    for component in text.split("/"):
        if not component:
            joined = "/".join(c for c in text.split("/") if c)
            if joined and _REPO_RE.fullmatch(joined.lower()):
                joined = joined.lower()
            return _P(f"{where} has an empty component (a leading, trailing or doubled '/').",
                      f"Remove the extra '/': '{joined}'." if joined else
                      "Repository paths look like 'org/app'.", pos)
        m = re.match(_REPO_COMPONENT, component)
        bad = pos + (m.end() if m else 0)
        if bad != pos + len(component):
            ch = text[bad]
            detail = f"contains '{ch}'"
            if ch in "._-":
                detail = f"has '{ch}' where a letter or digit must be"
            return _P(f"{where} {detail}; {rule}.", hint, bad)
        pos += len(component) + 1
    return _P(f"{where} is not valid; {rule}.", hint)  # unreachable in practice


def check_tag(text: str) -> ValueProblem | None:
    """Tags follow the OCI distribution grammar; '+' from semver build metadata is the usual
    offender because registries cannot store it."""
    where = f"The image tag '{text}'"
    if not text:
        return _P("An image tag must not be empty.")
    if len(text) > 128:
        return _P(f"The image tag is {len(text)} characters; the limit is 128.", None, 128)
    if text[0] in ".-":
        rest = text.lstrip(".-")
        hint = (f"drop the leading '{text[: len(text) - len(rest)]}': '{rest}'" if rest else
                "start the tag with a letter, digit or '_', e.g. 'v1.2.3'")
        return _P(f"{where} starts with '{text[0]}'; it must start with a letter, digit or '_'.",
                  hint, 0)
    for i, ch in enumerate(text):
        if not (ch.isascii() and (ch.isalnum() or ch in "._-")):
            hint = {"+": "Registries cannot store '+'; builds usually push '_' in its place.",
                    ":": "Give only the tag, without the repository and ':'."}.get(ch)
            return _P(f"{where} contains '{ch}'; only letters, digits, '_', '.' and '-' are "
                      "allowed.", hint, i)
    return None


_DIGEST_HEX = {"sha256": 64, "sha512": 128}


def check_digest(text: str) -> ValueProblem | None:
    """Digests pin images byte for byte, so a truncated one is a guaranteed pull failure."""
    where = f"The digest '{text}'"
    algorithm, colon, encoded = text.partition(":")
    if not colon:
        hint = "Digests look like 'sha256:' followed by 64 lowercase hex digits."
        if len(text) == 64 and re.fullmatch(r"[0-9a-f]+", text):
            hint = f"Write 'sha256:{text}'."
        return _P(f"{where} has no algorithm prefix.", hint, 0)
    if algorithm not in _DIGEST_HEX:
        return _P(f"{where} uses algorithm '{algorithm}'; expected sha256 or sha512.",
                  "Use the digest the registry reports, e.g. 'sha256:' and 64 hex digits.", 0)
    base, want = len(algorithm) + 1, _DIGEST_HEX[algorithm]
    for i, ch in enumerate(encoded):
        if ch not in "0123456789abcdef":
            return _P(f"{where} contains '{ch}', which is not a lowercase hex digit.",
                      "Digests use lowercase hex." if ch in "ABCDEF" else
                      "Digests contain only the hex digits 0-9 and a-f.", base + i)
    if len(encoded) != want:
        return _P(f"{where} has {len(encoded)} hex digits; {algorithm} needs {want}.",
                  f"Copy the full digest ('{algorithm}:' and {want} hex digits), e.g. from "
                  "'docker buildx imagetools inspect IMAGE' or 'crane digest IMAGE'.",
                  base + min(len(encoded), want))
    return None


# --- secrets -------------------------------------------------------------------------------

_SECRET_PATTERNS = (
    re.compile(r"(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"glpat-[A-Za-z0-9_-]{20,}"),  # GitLab
    re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}"),  # AWS access key ids
    re.compile(r"xox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT header.payload
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),  # credentials inside a URL
)
_PAIR_RE = re.compile(r"(?P<user>[A-Za-z0-9._-]{1,64}):(?P<secret>[^\s:/@]{6,})")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_like_secret(text: str) -> bool:
    """Credentials written into config end up in Git and in rendered manifests; flagging
    likely ones lets the checker insist on a secret reference instead. Heuristic by nature:
    it favours known token formats and stays quiet on digests, commit ids, versions and
    ports, which fill config files and must not drown the real findings."""
    if any(p.search(text) for p in _SECRET_PATTERNS):
        return True
    if pair := _PAIR_RE.fullmatch(text):  # user:password
        secret = pair["secret"]
        if (pair["user"].lower() not in _DIGEST_HEX and not _digits(secret)
                and parse_version(secret.lstrip("v")) is None
                and re.search(r"[A-Za-z]", secret) and re.search(r"[^A-Za-z]", secret)):
            return True
    if len(text) < 20 or not re.fullmatch(r"[A-Za-z0-9+/=_-]+", text):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", text):
        return False  # commit ids and bare digests: identifiers, not credentials
    classes = sum(bool(re.search(c, text)) for c in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes == 3 and _entropy(text) >= 3.5
