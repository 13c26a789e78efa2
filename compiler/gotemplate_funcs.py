"""The functions Argo CD gives an ApplicationSet's Go templates: which exist at all, and the
few ``setlist.gotemplate`` evaluates, implemented as Sprig implements them.
"""

from __future__ import annotations

from typing import Any


def trunc(c: int, s: str) -> str:
    """Sprig's ``trunc``: the first ``c`` bytes, or the last ``-c``; the whole string when it
    is shorter (or, for negative ``c``, not longer). Go strings are bytes: a cut inside a
    multi-byte character keeps the cut bytes, as ``surrogateescape`` represents them."""
    b = s.encode("utf-8", "surrogateescape")
    if c < 0 and len(b) + c > 0:
        b = b[len(b) + c:]
    elif 0 <= c < len(b):
        b = b[:c]
    return b.decode("utf-8", "surrogateescape")


# Sprig functions: (parameter types, implementation). Sprig puts the string last so that it
# can be piped in: `{{.x | trimAll "-"}}` is trimAll("-", .x).
SPRIG: dict[str, tuple[tuple[str, ...], Any]] = {
    "trunc": (("int", "string"), trunc),
    "trimAll": (("string", "string"), lambda cut, s: s.strip(cut)),       # strings.Trim
    "trimPrefix": (("string", "string"), lambda pre, s: s.removeprefix(pre)),
    "trimSuffix": (("string", "string"), lambda suf, s: s.removesuffix(suf)),
}
FUNCTIONS = ("index", *SPRIG)
# Every function an ApplicationSet's Go template may call: text/template's builtins, Sprig's
# (sprig.GenericFuncMap) without env, expandenv and getHostByName, and Argo CD's own
# (applicationset/utils). Go fails to parse a template calling anything else.
ARGO_CD_FUNCTIONS = frozenset("""
and call html index js len not or print printf println slice urlquery eq ge gt le lt ne
normalize slugify toYaml fromYaml fromYamlArray tpl
hello ago date date_in_zone date_modify dateInZone dateModify duration durationRound htmlDate
htmlDateInZone must_date_modify mustDateModify mustToDate now toDate unixEpoch abbrev
abbrevboth trunc trim upper lower title untitle substr repeat trimall trimAll trimSuffix
trimPrefix nospace initials randAlphaNum randAlpha randAscii randNumeric swapcase shuffle
snakecase camelcase kebabcase wrap wrapWith contains hasPrefix hasSuffix quote squote cat indent
nindent replace plural sha1sum sha256sum adler32sum toString atoi int64 int float64 seq toDecimal
split splitList splitn toStrings until untilStep add1 add sub div mod mul randInt add1f addf
subf divf mulf biggest max min maxf minf ceil floor round join sortAlpha default empty coalesce
all any compact mustCompact fromJson toJson toPrettyJson toRawJson mustFromJson mustToJson
mustToPrettyJson mustToRawJson ternary deepCopy mustDeepCopy typeOf typeIs typeIsLike kindOf
kindIs deepEqual base dir clean ext isAbs osBase osClean osDir osExt osIsAbs b64enc b64dec
b32enc b32dec tuple list dict get set unset hasKey pluck keys pick omit merge mergeOverwrite
mustMerge mustMergeOverwrite values append push mustAppend mustPush prepend mustPrepend first
mustFirst rest mustRest last mustLast initial mustInitial reverse mustReverse uniq mustUniq
without mustWithout has mustHas slice mustSlice concat dig chunk mustChunk bcrypt htpasswd
genPrivateKey derivePassword buildCustomCert genCA genCAWithKey genSelfSignedCert
genSelfSignedCertWithKey genSignedCert genSignedCertWithKey encryptAES decryptAES randBytes
uuidv4 semver semverCompare fail regexMatch mustRegexMatch regexFindAll mustRegexFindAll
regexFind mustRegexFind regexReplaceAll mustRegexReplaceAll regexReplaceAllLiteral
mustRegexReplaceAllLiteral regexSplit mustRegexSplit regexQuoteMeta urlParse urlJoin
""".split())
