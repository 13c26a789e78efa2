"""The catalogue of diagnostic codes: one source for `setlist explain`, SARIF rule metadata
and docs/diagnostics.md (generated from here by ``python -m setlist.codes``).

Codes are grouped by the stage that reports them:
SL1xx syntax, SL2xx names and imports, SL3xx blocks, fields and types, SL4xx value syntax,
SL5xx promotion graphs, SL6xx cluster selectors, SL7xx compile and resolve, SL8xx policies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    title: str
    explanation: str


def _c(code: str, title: str, explanation: str) -> Code:
    return Code(code, title, explanation.strip())


CODES: dict[str, Code] = {c.code: c for c in [
    # ---- syntax -------------------------------------------------------------------------
    _c("SL100", "syntax error", """
The parser met a token it did not expect. The message says what it expected instead, in
words, and the caret points at the first token it could not use.

    environment prod {
      clusters = cluster.env == "prod"
      writeback pull_request        // expected '=' after the field name
    }

Fields inside a block are separated by whitespace or `;` (not `,`); `=` sets a field and
`==` compares. After an error the file is re-parsed declaration by declaration (each
declaration keyword at the start of a line begins a new one), so several syntax errors
can be reported in one run and intact declarations are still checked.
"""),
    _c("SL101", "unterminated string", """
A string literal was opened with `"` but the line ended before the closing quote.
Strings cannot span lines; use `\\n` for a newline inside a string.
"""),
    _c("SL102", "unexpected character", """
The file holds a character that cannot start any token of the language, such as `@`,
`#` or `$` outside a string. Comments start with `//`; `#` does not start a comment.
"""),
    _c("SL103", "bad string escape or interpolation", """
Inside strings, `\\` starts an escape (`\\"`, `\\\\`, `\\n`, `\\t`, `\\r`, `\\$`, `\\/`,
`\\u{1F600}`) and `${` starts an interpolation that must hold one expression and end with
the first `}`:

    const team = "payments"
    app api { namespace = "${team}-api" ... }

An interpolation may name a constant (or `alias.constant` of an imported module) whose
value is a string or a number. Write `\\${` for a literal `${`.
"""),
    _c("SL104", "unexpected end of file", """
The file ended inside a block, list, map or call. Usually a closing `}`, `]` or `)` is
missing; the declaration that is still open when the file ends is the one to look at.
"""),
    _c("SL105", "nesting too deep", """
An expression is nested so deeply (hundreds of levels of lists, `not`, or a chain of
hundreds of `and`/`or`) that it cannot be read or checked. Split it: give parts of it
names with `const`, or select clusters with fewer, broader labels.
"""),
    # ---- names and imports --------------------------------------------------------------
    _c("SL200", "unknown name", """
A name refers to nothing declared in this project, its imports or the built-ins, or
`alias.name` uses an alias that this file does not import. The hint suggests the closest
declared name of the expected kind. Names are case-sensitive.
"""),
    _c("SL201", "duplicate declaration", """
Two declarations of the same kind share a name. Apps, environments, images, registries,
promotions, policies and constants each have one namespace per scope (all root files
together form one scope, each imported module its own); the related location points at
the first declaration. Apps, environments, images and registries must also be unique
across modules, because the names they generate would collide.
"""),
    _c("SL202", "wrong kind of reference", """
A name refers to a declaration of another kind than the place requires, e.g. an image where
an environment is expected in `deploy = [...]`.
"""),
    _c("SL203", "unknown module member", """
`alias.name` names something the imported module does not declare.
"""),
    _c("SL204", "import not found", """
The path of an `import` does not name an existing file. Relative paths (`./x.setlist`,
`../shared/envs.setlist`) are resolved from the importing file's folder; the `.setlist`
extension may be left out. `std/...` names a module of the standard library.
"""),
    _c("SL205", "import cycle", """
Modules import each other in a cycle. The message lists the chain; move the shared
declarations into a module that both import.
"""),
    _c("SL206", "duplicate import alias", """
Two imports in one file use the same alias. Give one of them another name with `as`.
"""),
    _c("SL207", "unused import", """
An imported module is never referred to. Remove the import or use one of its declarations.
"""),
    _c("SL208", "constant cycle", """
Constants refer to each other in a cycle, so none of them has a value.
"""),
    _c("SL209", "generated names collide", """
Every generated document is named `<app>-<env>` (the ApplicationSet or Application, its
file, its overlay). Two different app and environment pairs can spell the same name — app
`shop` in `prod-eu` and app `shop-prod` in `eu` are both `shop-prod-eu` — and one would
overwrite the other. Rename one of the apps or environments.
"""),
    # ---- blocks, fields, types ----------------------------------------------------------
    _c("SL300", "unknown field", """
The block does not have a field of this name. The hint suggests the closest known field
or lists all of them; docs/language.md has a table of every block's fields. A `freeze`
statement is only allowed in an `environment`.
"""),
    _c("SL301", "missing required field", """
A required field of the block is not set, e.g. an `image` without `repository` or an
`app` without `deploy`.
"""),
    _c("SL302", "wrong type", """
The value has another type than the field or argument expects (a string where a duration
is expected, a list where a single name is expected, ...), or it is not one of the
allowed words (an unknown update strategy, sync policy, write-back mode, promotion gate or
waiver scope). The message names what was expected and what was found.
"""),
    _c("SL303", "duplicate field", """
A field is set twice in one block; the second one would silently win, so it is an error.
"""),
    _c("SL304", "bad call", """
A call passes arguments its function does not take: too many positional arguments, an
unknown named argument, one given twice, or a required argument is missing. Most built-in
functions take named arguments only, e.g. `automated(prune: true)`.
"""),
    _c("SL305", "literal credential", """
Credentials must never be written into the spec (it is committed to Git). Use
`credentials = docker_config` to read the docker config.json (and its credential
helpers), or `credentials = env("REGISTRY_TOKEN")` to read a variable at run time.
"""),
    _c("SL306", "duplicate block", """
A block that may appear only once in a project (such as `gitops`) appears again.
"""),
    _c("SL307", "expression not allowed here", """
The expression is valid in another place but not here. Each of these has one home:

- a cluster selector (`cluster.env == "prod"`, `exists cluster.canary`, and `and`, `or`,
  `not` of them): an environment's `clusters =` and the steps of its `rollout =`;
- `rest`: the last step of an environment's `rollout = [...]`;
- `NAME as "alias"`: an item of an app's `images = [...]` list.

Elsewhere the place wants another kind of value; the message says which.
"""),
    _c("SL308", "duplicate list item", """
A list names one item twice: an environment in `deploy`, an image in `images`, a glob in
`ignore_tags`, a platform in `platforms`, a sync option, or a value of `in [...]` in a
cluster selector.
"""),
    # ---- value syntax -------------------------------------------------------------------
    _c("SL400", "invalid version constraint", """
Version constraints use the Masterminds semver v3 syntax that Argo CD Image Updater uses:
`^1.2`, `~1.2.3`, `1.x`, `>=1.2 <2` (or `>=1.2, <2`), `1.2 - 1.4`, alternatives with `||`.
Pre-release versions are only considered when the constraint has a pre-release part, e.g.
`2.x-0`. An empty constraint is an error; write `*` to allow any version.
"""),
    _c("SL401", "invalid regular expression", """
Tag filters are regular expressions in Go's RE2 syntax (what Argo CD Image Updater runs).
Backreferences and lookaround are not available in RE2.
"""),
    _c("SL402", "invalid glob", """
Tag globs are Go's `filepath.Match` patterns, as Argo CD Image Updater runs them: `*` for
any run of characters, `?` for one character, `[...]` for a character class (`[^...]`
negated; `!` is an ordinary member), and `\\` to escape the next character. There are no
`{a,b}` alternatives: list several globs instead. A glob that is malformed, or that needs a
character no tag can hold (tags are letters, digits, `_`, `.` and `-`), matches nothing.
"""),
    _c("SL403", "invalid duration", """
Durations are numbers with a unit (`w`, `d`, `h`, `m`, `s`), written without quotes and
combined from the largest unit down, each unit at most once: `90s`, `15m`, `2h`, `1h30m`,
`7d`, `2w`. A freeze window must last longer than `0s`.
"""),
    _c("SL404", "invalid date", """
Dates are written `YYYY-MM-DD` and must exist in the calendar, optionally with a time and
a zone: `2027-03-01T12:00Z`, `2027-03-01T12:00:00+02:00`.
"""),
    _c("SL405", "invalid cron expression", """
Freeze windows start on a standard five-field cron schedule (minute hour day-of-month
month day-of-week), the format Argo CD sync windows use, e.g. `"0 16 * * 5"`. Month and
weekday names (`JAN`, `MON`) and descriptors such as `@daily` are accepted; Sunday is 0.
"""),
    _c("SL406", "unknown time zone", """
Time zones are IANA names such as `Europe/Berlin`, `America/New_York` or `UTC`.
"""),
    _c("SL407", "invalid platform", """
Platforms are written `os/arch` or `os/arch/variant`, as in OCI image indexes:
`linux/amd64`, `linux/arm64`, `linux/arm/v7`.
"""),
    _c("SL408", "invalid URL", """
The value must be a URL with a scheme and a host (`https://host/path`,
`ssh://git@host/path`; schemes https, http, ssh, git and file) or the scp-like form
`git@host:org/repo.git`.
"""),
    _c("SL409", "invalid Kubernetes name", """
Names that end up in Kubernetes objects must follow Kubernetes naming rules. App and
environment names and namespaces are DNS-1123 labels: at most 63 lowercase letters,
digits and '-', starting and ending with a letter or digit. Projects and static cluster
names are DNS-1123 subdomains (also '.'). Identifiers in Setlist may use '_' and upper
case, but not these ones.
"""),
    _c("SL410", "generated name too long", """
Setlist generates Kubernetes names such as `<app>-<env>` for ApplicationSets and
Applications. These must stay within 63 characters; shorten the app or environment name.
"""),
    _c("SL411", "invalid label", """
Label keys are an optional DNS subdomain prefix and a name of at most 63 characters
(`topology.kubernetes.io/region`); label values are at most 63 characters of letters,
digits, '-', '_' and '.', starting and ending with a letter or digit.
"""),
    _c("SL412", "invalid registry host or repository", """
A registry host is a host name with an optional port (`ghcr.io`, `localhost:5000`), with
no scheme or path. A repository path uses lowercase letters, digits and separators
(`myorg/api`), as the OCI distribution spec requires.
"""),
    _c("SL413", "invalid tag or digest", """
Image tags are up to 128 letters, digits, '_', '.' and '-', not starting with '.' or
'-'; digests are `sha256:` followed by 64, or `sha512:` followed by 128, lowercase
hexadecimal digits.
"""),
    _c("SL414", "number out of range", """
The number is outside what the field accepts: a registry's `concurrency` (requests in
flight at once) is 1 to 64, and `requests_per_second` is 1 to 10000.
"""),
    _c("SL415", "cluster names cut to the same label", """
Every generated Application is labelled `setlist.dev/cluster` with its cluster's
normalised name (`nameNormalized`: lower case, other characters than letters, digits,
'-' and '.' replaced by '-'). Label values hold at most 63 characters, so a longer name is
cut to its first 63 (and a '-' or '.' left at the end is dropped); the Application name
keeps the whole cluster name. When two clusters listed by one environment differ only
after their first 63 characters, their Applications get the same label and a selector on
it (`kubectl get applications -l setlist.dev/cluster=...`) cannot tell them apart.

    environment prod {
      clusters = ["https://0123456789abcdef0123456789abcdef.gr7.eu-west-1.eks.amazonaws.com",
                  "https://0123456789abcdef0123456789abcdef.gr7.eu-west-1.eks.amazonaws.com:8443"]
    }

Register one of the clusters in Argo CD under a shorter name and list it by that name.
`setlist preview` reports the same for the clusters of an inventory (`label-collision`).
"""),
    # ---- promotion ----------------------------------------------------------------------
    _c("SL500", "promotion stage is not a deployment target", """
Every stage of a promotion must be an environment that at least one app deploying the
promoted image deploys to; otherwise the promotion would move versions nobody runs.
"""),
    _c("SL501", "stage promoted twice", """
Each stage has exactly one upstream (`registry` or another environment). A second rule
for the same stage is an error; the related location points at the first.
"""),
    _c("SL502", "promotion cycle", """
The promotion rules form a cycle (`staging <- prod`, `prod <- staging`), so no version
could ever enter them.
"""),
    _c("SL503", "stage unreachable from the registry", """
A stage's chain of upstreams never reaches `registry`, so no version would ever arrive.
"""),
    _c("SL504", "environment without promotion", """
An app deploys the image to an environment that the image's promotion rules do not cover;
that environment would never receive a version. Add a rule for it.
"""),
    _c("SL505", "pinned image updated in the cluster", """
An image with a `tag` or `digest` pin is deployed to an environment with
`updates = in_cluster(...)`. There Argo CD Image Updater chooses the version and writes it
(to the Application, or to the overlay in Git), so the pin and Image Updater would both
write the image's version and undo each other's changes. Remove the pin and constrain what
Image Updater may choose with the image's `strategy`, `allow_tags` and `ignore_tags`, or let
Setlist update those environments (`updates = setlist`, the default). The related locations
point at the environments' `updates`.
"""),
    _c("SL506", "promotion into or out of an in-cluster environment", """
An environment with `updates = in_cluster(...)` gets its versions from Argo CD Image
Updater, which follows the image's strategy in the registry. A promotion stage
`env <- other` into such an environment would be a second source of versions, and a stage
`other <- env` out of it has nothing to promote: the versions Image Updater chooses are
never known to Setlist. `env <- registry` is allowed (it says what Image Updater does).
"""),
    # ---- selectors ----------------------------------------------------------------------
    _c("SL600", "selector can never match", """
The cluster selector contradicts itself (`cluster.env == "a" and cluster.env == "b"`,
`exists cluster.x and not exists cluster.x`), so no cluster is ever selected.
"""),
    _c("SL601", "invalid selector", """
A cluster selector compares a cluster label with a string (`cluster.env == "prod"`,
`!=`), tests membership (`cluster.region in ["eu-west-1"]`, `not in`), or existence
(`exists cluster.canary`), combined with `and`, `or`, `not` and parentheses; `all`
selects every cluster. `=~`, `!~`, `<` and friends cannot be used, `in` needs at least one
value, and `not all` is an error. Rollout steps are stricter: only `==`, `!=`, `in` and
`not in` joined by `and`, or `rest`.
"""),
    # ---- compile ----------------------------------------------------------------------
    _c("SL700", "no version for an image", """
An app runs the image in an environment, but no version is known for it there: the image
has no `tag`/`digest` pin and `setlist.lock` has no entry. The overlay then lists the image
without `newTag`, so the tag written in the base stays in effect. The warning sits on the
image declaration and names every such environment, with the apps that deploy it as
related locations. Run `setlist resolve` (or `setlist compile --resolve`) to lock the
versions of environments the registry feeds; for environments fed by promotion, a version
arrives when one is promoted. Meanwhile a `tag` in the image block pins one.
"""),
    _c("SL701", "selector needs too many generators", """
Argo CD rejects an ApplicationSet whose generators produce two Applications with the same
name, so a selector with `or` becomes several cluster generators that cannot overlap: the
second selects what it says minus what the first selects, and so on. A selector whose
disjoint form needs more than 16 generators is refused; simplify it, or give the clusters
a label that says directly which ones are meant.
"""),
    _c("SL702", "rollout cannot be expressed", """
RollingSync leaves out every Application that no step selects, so `rest` becomes the steps
that select what the earlier steps do not. When earlier steps combine many label tests,
that complement needs too many steps; give each step a single label test.
"""),
    _c("SL703", "no gitops block", """
Compiling writes Argo CD Applications that point at the config repository, so the spec
needs a `gitops { repo = "..." }` block naming it.
"""),
    _c("SL705", "locked version no longer allowed", """
`setlist.lock` records which version each image runs in each environment. When the image's
settings change so that they would not choose that version any more (another repository,
a tag outside the new semver constraint, a tag the new `allow_tags`/`ignore_tags` exclude,
another tag for `digest(...)`), compiling the locked version would deploy what the spec now
forbids, so compile stops. Run `setlist resolve` (or `setlist compile --resolve`) to lock a
version the new settings allow, or pin a version in the image block.
"""),
    _c("SL706", "unreadable lockfile", """
`setlist.lock` exists but cannot be read: not YAML, another format version, or entries with
unknown or missing fields. Fix it or delete it; pinned versions in the spec work without it.
"""),
    _c("SL707", "update interval not expressible", """
`in_cluster(interval: ...)` asks Argo CD Image Updater to look for new versions at that
interval, but an `ImageUpdater` resource has no interval of its own: the controller checks
every resource at the interval it was started with (`--interval`, or the
`IMAGE_UPDATER_INTERVAL` variable; default `2m`). The generated resources are unaffected;
set the controller's interval where Image Updater is installed, and remove `interval` from
the spec to silence this.
"""),
    _c("SL708", "Image Updater cannot open pull requests", """
An environment with `updates = in_cluster(method: git)` and `writeback = pull_request` asks
Argo CD Image Updater to propose its changes as pull requests. Image Updater opens them
itself only on GitHub and GitLab (told here by the repository's host name: github.com,
gitlab.com, or a host named `github.*` / `gitlab.*`) and only with token credentials, which
an SSH URL does not use. Otherwise it pushes each change to a branch of its own,
`image-updater-<app>-<env>-<hash>` (`branch: "main:image-updater-..."` in the resource),
and leaves opening the pull request to you or your forge's automation.
"""),
    # ---- policies ------------------------------------------------------------------------
    _c("SL800", "policy violation", """
A `policy` rule is broken: a `require` condition is false or a `deny` condition is true for
the object the diagnostic points at (an app's entry in `deploy` for a deployment, else the
declaration). The message is the policy's own, followed by the policy's name as it was
turned on; the related note points at the rule.

    use std.digest_pinned([prod])
    app shop { ... deploy = [dev, prod] }   // error: shop runs api in prod without a digest

Policies are error-level unless the policy sets `severity = "warning"` or its `use` passes
`severity: "warning"`. A rule that depends on a fact nobody knows yet (no lock entry, a
signature not asked for) is undecided: `check` stays quiet and `resolve`, `apply` and
`promote` decide with fresh registry facts, refusing to write when an error-level policy
is broken. To accept a violation for a while, waive it with a date and a reason:

    waive std.digest_pinned for app legacy until 2027-03-01 because "vendor image, OPS-123"

See docs/policies.md.
"""),
    _c("SL801", "expired waiver", """
The date of a `waive ... until DATE` has passed, so the policy applies again and the waiver
is an error of its own, so that it does not linger unnoticed. A date holds through that
whole day (UTC); a date with a time ends at that moment. Fix what the waiver covered and
remove it, or give it a later date and say in `because` why it is still needed.
"""),
    _c("SL802", "unused waiver", """
A waiver matches no violation: the policy is met for the scope it names, the policy is not
turned on (no `use` line names it), or the scope names something the policy never looks at.
Remove the waiver. A waiver whose policy is undecided for lack of registry facts is not
reported.
"""),
    _c("SL804", "policy cannot be evaluated", """
Evaluating a policy failed for a reason its types could not catch: a regular expression
given as a string that does not compile, a comparison between values of different kinds
that a constant hid, or a `for` over something that is not a list. The policy is skipped
for this run; fix the expression the diagnostic points at.
"""),
    _c("SL805", "policy never applies", """
A policy declared in the project has parameters without defaults and no `use` line gives
them, so it never runs. Turn it on with arguments, e.g. `use min_replicas(count: 2)`, or
give every parameter a default.
"""),
]}


def explain(code: str) -> str | None:
    entry = CODES.get(code.upper())
    if entry is None:
        return None
    return f"{entry.code}: {entry.title}\n\n{entry.explanation}\n"


def markdown() -> str:
    """docs/diagnostics.md, generated so that docs and `setlist explain` never disagree."""
    lines = [
        "# Diagnostics",
        "",
        "<!-- Generated by `python -m setlist.codes > docs/diagnostics.md`; do not edit. -->",
        "",
        "Every diagnostic has a code; `setlist explain CODE` prints the same text as below.",
        "",
    ]
    for entry in CODES.values():
        lines += [f"## {entry.code}: {entry.title}", "", entry.explanation, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
