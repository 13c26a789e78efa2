"""Fuzz the front end: generated and mutated specs through parse → check → fmt → compile.

Each input is a small project (one file, sometimes a module beside it) made from
``(seed, index)`` alone, so any input can be made again from its number: grammar-aware
generation (every kind of declaration, policies, use/waive, promotions, comprehensions,
interpolation, regexes, durations, dates, comments, random layout), near-valid variants of
generated specs (a few tokens deleted, duplicated, swapped or replaced), and mutations of the
repository's own specs (examples, golden and bad-input cases, policy cases, the standard
library, the ```setlist blocks of the docs): byte flips, token edits, truncation, splicing,
unicode and control characters, deep nesting.

Every input runs in a worker process under a time bound and must yield diagnostics, never a
traceback or a hang. Inputs that parse must format idempotently (``fmt(fmt(x)) == fmt(x)``)
and without changing their meaning (the checked model without spans and the diagnostic
codes). Inputs that check clean are compiled, their documents emitted (and read back as
YAML) and their policies evaluated again with other facts. Failing inputs are written to
``--out`` for reproduction (``python bench/fuzz.py --replay DIR``).

    .venv/bin/python bench/fuzz.py --count 20000 --seed 1 --jobs 2 [--start N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAIN = "main.setlist"
FIXED_NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)

Files = dict[str, str]  # display path -> text: the overrides one input is loaded with


# ---------------------------------------------------------------- the corpus

@lru_cache(maxsize=1)
def corpus() -> tuple[tuple[tuple[str, str], ...], ...]:
    """The repository's specs as inputs: each a tuple of (name, text); folders whole."""
    cases: list[tuple[tuple[str, str], ...]] = []

    def add_tree(folder: Path) -> None:
        for path in sorted(folder.iterdir()):
            if path.is_dir():
                files = sorted(path.rglob("*.setlist"))
                if files:
                    cases.append(tuple((p.relative_to(path).as_posix(), p.read_text("utf-8"))
                                       for p in files))
            elif path.suffix == ".setlist":
                cases.append(((MAIN, path.read_text("utf-8")),))

    for folder in ("examples", "tests/golden", "tests/bad_inputs", "tests/policy_cases"):
        add_tree(ROOT / folder)
    for path in sorted((ROOT / "stdlib" / "std").glob("*.setlist")):
        cases.append(((MAIN, path.read_text("utf-8")),))
    fence = re.compile(r"^```setlist(?:-fragment)?[ \t]*\n(.*?)^```[ \t]*$",
                       re.MULTILINE | re.DOTALL)
    for md in sorted((ROOT / "docs").glob("*.md")):
        for mt in fence.finditer(md.read_text("utf-8")):
            cases.append(((MAIN, mt.group(1)),))
    return tuple(cases)


# ---------------------------------------------------------------- generation

ENVS = ["dev", "staging", "prod", "qa", "eu-west", "lab", "Prod", "a_b"]
APPS = ["shop", "cart", "api-gw", "billing", "x"]
IMAGES = ["api", "web", "proxy", "worker"]
REGISTRIES = ["ghcr", "internal", "hub"]
CONSTS = ["org", "wave", "fleet", "careful", "envs", "soak"]
POLICIES = ["pinned", "labelled", "soaked", "safe", "named"]
LABELS = ["env", "region", "tier", "canary", "wave", "quarantine"]
# Pools of (valid, invalid) values: a generated spec takes an invalid one now and then.
STRINGS = (['"x"', '"prod"', '"eu-west-1"', '"a\\"b"', '"tab\\there"', '"\\u{1F600}"', '"\\$"',
            '"\\${x}"', '"é ü 漢"', '"a//b"', '"\\/"'], ['""', '"\\q"', '"${"', '"${}"'])
DURATIONS = (["24h", "1h30m", "90s", "2w", "1d12h", "5m", "64h"], ["0s", "30m1h", "1h1h"])
DATES = (["2099-03-01", "2099-03-01T09:30Z", "2099-03-01T09:30:00+02:00"],
         ["2027-03-01", "2020-01-01", "2027-02-30", "2027-03-01T09:30", "2027-13-01"])
REGEXES = (["/^v?\\d+\\.\\d+\\.\\d+$/", "/^main-[0-9a-f]{7}$/", "/a\\/b/", "/./", "/^$/"],
           ["/(?=x)/", "/(a)\\1/", "/[a-/", "/x++/", "/\\Z/"])
SEMVERS = (['"^1.4"', '"~1.2.3"', '">=1.2 <2"', '"1.x"', '"*"', '"^1.4 || ^2.0"', '"1.2 - 1.4.5"',
            '">=2.0.0-0 <3"', '"=>1"'], ['""', '"1x"', '"|"'])
CRONS = (['"0 16 * * 5"', '"@daily"', '"0 0 24 12 *"', '"0 0 * * MON"'],
         ['"* * * *"', '"0 25 * * *"'])
ZONES = (['"Europe/Berlin"', '"UTC"', '"America/New_York"'], ['"Mars/Olympus"'])
VOCAB = ["import", "const", "gitops", "registry", "image", "environment", "app", "promotion",
         "policy", "use", "waive", "for", "in", "not", "and", "or", "exists", "as", "after",
         "until", "because", "freeze", "tz", "require", "deny", "where", "true", "false",
         "none", "{", "}", "[", "]", "(", ")", "=", "==", "!=", "<-", ",", ";", ":", ".", "/",
         "=~", "!~", "<", ">=", "cluster", "registry", "rest", "all", "approval", "signed",
         "deployments", "42", "2h", "2027-03-01", '"x"', "/^v/", "#", "@", "$", "'", "\\"]
UNICODE = ["\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u00a0", "\u200b", "\u2028",
           "\u2029", "\ufeff", "\u202e", "é", "漢", "😀", "\r", "\t", "\U0010ffff",
           "e\u0301", "ﬁ", "Ａ"]  # no lone surrogates: files are UTF-8


class Gen:
    """Random but valid-shaped specs as token lists, joined with random layout."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        r = rng
        # how often a choice is a mistake: none in half of the specs, so that many check clean
        self.badness = r.choice([0.0, 0.0, 0.02, 0.1])
        self.envs = r.sample(ENVS[:6], r.randint(1, 4)) + (["Prod"] if self.bad() else [])
        self.apps = r.sample(APPS, r.randint(0, 3))
        self.images = r.sample(IMAGES, r.randint(0, 3))
        self.registries = r.sample(REGISTRIES, r.randint(0, 2))
        self.consts: list[str] = []
        self.policies: list[str] = []
        self.std_sync = r.random() < .3
        self.std_policies = r.random() < .4
        self.module = r.random() < .15
        self.chosen: list[str] = []
        self.runs: dict[str, set[str]] = {}  # image -> environments an app runs it in
        self.in_const = False

    # -- small pieces
    def pick(self, seq):
        return self.r.choice(seq)

    def maybe(self, p: float = .5) -> bool:
        return self.r.random() < p

    def bad(self) -> bool:
        return self.r.random() < self.badness

    def v(self, pools: tuple[list[str], list[str]] | list[str], *extra_bad: str) -> str:
        """A value from a (valid, invalid) pool, invalid with the spec's badness."""
        valid, invalid = pools if isinstance(pools, tuple) else (pools, [])
        invalid = [*invalid, *extra_bad]
        return self.pick(invalid if invalid and (self.bad() or not valid) else valid)

    def name(self, pool: list[str], fallback: list[str]) -> str:
        if pool and not self.bad():
            return self.pick(pool)
        return self.pick(fallback)  # sometimes a name that is not declared

    def string(self) -> str:
        if self.consts and self.maybe(.2):
            return f'"pre-${{{self.pick(self.consts)}}}-post"'
        if self.maybe(.1):
            return '"${' + self.v(["42"], "lib.team", "missing", "a.b.c", "") + '}"'
        return self.v(STRINGS)

    def comma_list(self, items: list[list[str]], open_: str = "[", close: str = "]") -> list[str]:
        out = [open_]
        for i, item in enumerate(items):
            if i:
                out.append(",")
            out += item
        if items and self.maybe(.2):
            out.append(",")
        return out + [close]

    # -- expressions
    def selector(self, depth: int = 0) -> list[str]:
        r = self.r
        if depth < 3 and self.maybe(.35):
            op = self.pick(["and", "or", "and", "paren", "not"])
            if op == "paren":
                return ["("] + self.selector(depth + 1) + [")"]
            if op == "not":
                return ["not"] + self.selector(depth + 1)
            return self.selector(depth + 1) + [op] + self.selector(depth + 1)
        label = self.pick(LABELS)
        key = ["cluster", ".", label] if self.maybe(.85) else \
            ["cluster", "[", self.v(['"topology.kubernetes.io/region"'], '"bad key!"'), "]"]
        value = f'"{self.pick(self.envs + ["1", "2", "eu-west-1", "true"])}"'
        kind = r.randint(0, 9)
        if kind == 0:
            return ["exists"] + key
        if kind == 1:
            return ["not", "exists"] + key
        if kind == 2:
            values = self.values(0 if self.bad() else 1)
            return key + ["in"] + self.comma_list([[v] for v in values])
        if kind == 3:
            return key + ["not", "in"] + self.comma_list([[v] for v in self.values(1)])
        if kind == 4:
            return key + [self.v(["!="], "=~", "<")] + [value]
        if kind == 5 and "fleet" in self.consts:
            return ["fleet"]
        if kind == 6:
            return [value, "=="] + key
        if kind == 7 and depth == 0 and self.maybe(.3):
            return ["all"]
        return key + ["==", value]

    def values(self, least: int) -> list[str]:
        pool = sorted({f'"{v}"' for v in self.envs + ["1", "2", "eu-west-1"] if "." not in v})
        return self.r.sample(pool, self.r.randint(least, min(3, len(pool))))

    def rollout_step(self) -> list[str]:
        if self.bad():
            return self.selector(2)
        tests = []
        for _ in range(self.r.randint(1, 2)):
            key = ["cluster", ".", self.pick(LABELS)]
            k = self.r.randint(0, 3)
            if k == 0:
                tests.append(key + ["==", self.pick(self.values(1))])
            elif k == 1:
                tests.append(key + ["!=", self.pick(self.values(1))])
            else:
                tests.append(key + ["in" if k == 2 else "not in"]
                             + self.comma_list([[v] for v in self.values(1)]))
        return tests[0] + (["and"] + tests[1] if len(tests) > 1 else [])

    def strategy(self) -> list[str]:
        k = self.r.randint(0, 7)
        if k == 0:
            return ["semver", "(", self.v(SEMVERS), ")"]
        if k == 1:
            return ["semver", "(", "constraint", ":", self.v(SEMVERS), ")"]
        if k == 2:
            return [self.v(["newest_build", "alphabetical", "semver"], "latest")]
        if k == 3:
            return ["digest", "(", self.v(['"latest"', '"stable"'], '""'), ")"]
        if k == 4:
            return ["digest", "(", "tag", ":", '"stable"', ")"]
        return ["semver", "(", '"^1.4"', ")"]

    def sync(self) -> list[str]:
        if self.std_sync and self.maybe(.3):
            return ["sync", ".", self.v(["auto", "auto_retry", "manual_only"], "nope")]
        if "careful" in self.consts and not self.in_const and self.maybe(.3):
            return ["careful"]
        fn = self.pick(["automated", "manual", "automated"])
        args: list[list[str]] = []
        keys = ["prune", "self_heal", "allow_empty", "options", "retry"] \
            if fn == "automated" or self.bad() else ["options", "retry"]
        for key in self.r.sample(keys, self.r.randint(0, len(keys))):
            if key == "options":
                args.append([key, ":"] + self.comma_list(
                    [[o] for o in self.r.sample(['"CreateNamespace=true"',
                                                 '"ServerSideApply=true"'], self.r.randint(0, 2))]))
            elif key == "retry":
                inner = [["limit", ":", self.pick(["3", "0", "5"])],
                         ["backoff", ":", self.v(DURATIONS)],
                         ["factor", ":", "2"], ["max_backoff", ":", self.v(DURATIONS)]]
                args.append([key, ":", "retry"] + self.comma_list(
                    self.r.sample(inner, self.r.randint(0, 4)), "(", ")"))
            else:
                args.append([key, ":", self.v(["true", "false"], "none", "1")])
        if not args and self.maybe(.5):
            return [fn]
        return [fn] + self.comma_list(args, "(", ")")

    def names_list(self, pool: list[str], fallback: list[str]) -> list[str]:
        if pool and self.maybe(.2):
            self.chosen = [self.name(pool, fallback)]
            return list(self.chosen)
        chosen = self.r.sample(pool, self.r.randint(1, len(pool))) if pool else []
        self.chosen = list(chosen)
        if self.bad() and chosen:
            chosen.append(chosen[0])  # listed twice
        return self.comma_list([[n] for n in chosen])

    def labels_map(self) -> list[str]:
        entries = []
        keys = self.r.sample(["team", '"example.com/tier"', "owner"], self.r.randint(0, 3))
        for key in keys:
            if self.bad():
                key = self.pick(['"Bad Key"', '"a/b/c"', "team"])
            entries.append([key, ":", self.v(['"payments"', '"web"', '""'], '"x y"',
                                             '"line\\nbreak"', '"é"', "1", "true")])
        return self.comma_list(entries, "{", "}")

    # -- declarations
    def field(self, name: str, value: list[str]) -> list[str]:
        return [name, "="] + value + ([";"] if self.maybe(.15) else [])

    def block(self, head: list[str], fields: list[list[str]]) -> list[str]:
        self.r.shuffle(fields)
        if self.bad() and fields:
            fields.append(fields[0])  # a field set twice
        if self.bad():
            fields.append(self.field(self.pick(["bogus", "namespac", "repo"]), ['"x"']))
        return head + ["{"] + sum(fields, []) + ["}"]

    def gitops(self) -> list[str]:
        f = [self.field("repo", [self.v(['"https://github.com/example/gitops"',
                                         '"git@github.com:example/gitops.git"',
                                         '"ssh://git@example.com/x.git"'], '"not a url"')])]
        if self.maybe():
            f.append(self.field("branch", ['"main"']))
        if self.maybe(.3):
            f.append(self.field("path", [self.v(['"clusters"', '""'], '"/abs"', '"../up"')]))
        if self.maybe(.2):
            f.append(self.field("overlays", [self.v(['"apps/{app}/overlays/{env}"'],
                                                    '"overlays/{app}"', '"argocd/{app}/{env}"')]))
        if self.maybe(.1):
            f.append(self.field("namespace", ['"argocd"']))
        if self.maybe(.1):
            f.append(self.field("root_app", [self.v(['"root"'], '"Root_App"')]))
        return self.block(["gitops"], f)

    def registry(self, name: str) -> list[str]:
        f = [self.field("host", [self.v(['"ghcr.io"', '"registry.example.com:5000"',
                                         '"localhost:5000"'], '"https://x.io"', '"x.io/path"',
                                        '"h:99999"')])]
        if self.maybe():
            creds = [["docker_config"], ["env", "(", '"TOKEN"', ")"], ["anonymous"], ["none"]]
            if self.bad():
                creds = [['"user:secret"'], ["env", "(", '"1BAD"', ")"], ["docker_conf"]]
            f.append(self.field("credentials", self.pick(creds)))
        if self.maybe(.2):
            f.append(self.field("insecure", [self.pick(["true", "false"])]))
        if self.maybe(.1):
            f.append(self.field("ca_file", ['"certs/ca.pem"']))
        if self.maybe(.1):
            f.append(self.field("layout", [self.v(['"vendor/oci"'], '"/abs"', '"../x"')]))
        if self.maybe(.1):
            f.append(self.field(self.pick(["concurrency", "requests_per_second"]),
                                [self.v(["1", "8"], "0", "100000")]))
        return self.block(["registry", name], f)

    def image(self, name: str) -> list[str]:
        if self.registries and self.maybe(.6):
            repo = [self.pick(self.registries), "/", self.v(['"example/api"'], '"Up/Case"',
                                                            '"a//b"', self.string())]
        else:
            repo = [self.v(['"ghcr.io/example/api"', '"nginx"', '"bitnami/redis"',
                            '"localhost/x"'], self.string())]
        f = [self.field("repository", repo)]
        if self.maybe(.7):
            f.append(self.field("strategy", self.strategy()))
        if self.maybe(.3):
            f.append(self.field("allow_tags", [self.v(REGEXES, '"^v"')]))
        if self.maybe(.2):
            f.append(self.field("ignore_tags", self.comma_list(
                [[self.v([g], '"[a"')] for g in self.r.sample(['"*-debug"', '"*-rc*"', '"x"'],
                                                               self.r.randint(0, 3))])))
        if self.maybe(.2):
            f.append(self.field("platforms", self.comma_list(
                [[p] for p in self.r.sample(['"linux/amd64"', '"linux/arm64"', '"linux/arm/v7"'],
                                            self.r.randint(0, 3))]
                + [[self.pick(['"Linux/x86_64"', '"linux"'])]] * self.bad())))
        if self.maybe(.15):
            f.append(self.field("tag", ['"1.4.3"']))
        if self.maybe(.1):
            f.append(self.field("digest", [self.v(['"sha256:' + "a" * 64 + '"'],
                                                  '"sha256:abc"')]))
        return self.block(["image", name], f)

    def environment(self, name: str) -> list[str]:
        selector = self.maybe(.85)
        if selector:
            clusters = self.selector()
        else:
            clusters = self.comma_list([[c] for c in self.r.sample(
                ['"in-cluster"', '"https://10.0.0.1:6443"', '"x"'], self.r.randint(1, 2))])
        f = [self.field("clusters", clusters)]
        if self.maybe(.4):
            f.append(self.field("writeback", [self.v(["direct", "pull_request"], '"direct"')]))
        if self.maybe(.2):
            if self.maybe():
                f.append(self.field("updates", ["setlist"]))
            else:
                f.append(self.field("updates", ["in_cluster"] + self.comma_list(
                    self.r.sample([["method", ":", self.v(["argocd", "git"], "ftp")],
                                   ["interval", ":", self.v(DURATIONS)]],
                                  self.r.randint(0, 2)), "(", ")")))
        if self.maybe(.2) and (selector or self.bad()):
            steps = [self.rollout_step() for _ in range(self.r.randint(0, 2))]
            if self.maybe():
                steps.append(["rest"])
            f.append(self.field("rollout", self.comma_list(steps)))
        for _ in range(self.r.choice([0, 0, 0, 1, 2])):
            fr = ["freeze", self.v(CRONS), "for", self.v(DURATIONS)]
            if self.maybe():
                fr += ["tz", self.v(ZONES)]
            f.append(fr)
        if self.maybe(.1):
            f.append(self.field("preserve_resources_on_deletion", ["true"]))
        if self.maybe(.1):
            f.append(self.field("applications_sync", [self.v(['"create-update"', '"sync"'],
                                                             '"nope"')]))
        if self.maybe(.15):
            f.append(self.field("labels", self.labels_map()))
        return self.block(["environment", name], f)

    def app(self, name: str) -> list[str]:
        bases = [['"apps/shop/base"'], ["git", "(", '"https://github.com/example/shop"', ",",
                                        "path", ":", '"deploy/base"', ",", "ref", ":",
                                        '"v1.4.0"', ")"]]
        if self.bad():
            bases = [['"/abs"'], ['"../x"'], [self.string()]]
        f = [self.field("base", self.pick(bases)),
             self.field("namespace", [self.v(['"shop"', f'"{name}"'], '"Shop"', self.string())]),
             self.field("deploy", self.names_list(self.envs, ENVS))]
        deployed = self.chosen
        if self.images and self.maybe(.7):
            items = []
            for img in self.r.sample(self.images, self.r.randint(1, len(self.images))):
                self.runs.setdefault(img, set()).update(deployed)
                items.append([img, "as", f'"{img}-renamed"'] if self.maybe(.15) else [img])
            f.append(self.field("images", items[0] if len(items) == 1 and self.maybe(.3)
                                else self.comma_list(items)))
        if self.maybe(.5):
            f.append(self.field("sync", self.sync()))
        if self.maybe(.1):
            f.append(self.field("project", ['"storefront"']))
        if self.maybe(.3):
            f.append(self.field("labels", self.labels_map()))
        if self.maybe(.1):
            f.append(self.field("annotations", self.labels_map()))
        return self.block(["app", name], f)

    def promotion(self, image: str) -> list[str]:
        rules: list[list[str]] = []
        envs = sorted(self.runs.get(image, ())) if not self.bad() else list(self.envs)
        self.r.shuffle(envs)
        for i, env in enumerate(envs):
            source = "registry" if i == 0 or self.maybe(.2) else \
                self.pick(envs[:i] + [env] * self.bad())
            rule = [env, "<-", source]
            if self.maybe(.4):
                rule += ["after", self.v(DURATIONS, '"24h"', "5")]
            gates = ["approval", "signed", "approval()"] + ["review"] * self.bad()
            for gate in self.r.sample(gates, self.r.choice([0, 0, 1, 2])):
                rule += [",", gate]
            rules.append(rule)
        return ["promotion", image, "{"] + sum(rules, []) + ["}"]

    def careful(self) -> list[str]:
        self.in_const = True
        try:
            return self.sync()
        finally:
            self.in_const = False

    def const(self, name: str) -> list[str]:
        value = {
            "org": ['"example"'], "wave": ["2"], "fleet": self.selector(2),
            "careful": self.careful(), "envs": self.comma_list([[e] for e in self.envs]),
            "soak": [self.v(DURATIONS)],
        }[name]
        return ["const", name, "="] + value

    # -- policies
    def cond(self, var: str, kind: str, depth: int = 0) -> list[str]:
        if depth < 2 and self.maybe(.25):
            return self.cond(var, kind, depth + 1) + [self.pick(["and", "or"])] + \
                self.cond(var, kind, depth + 1)
        if depth < 2 and self.maybe(.1):
            return ["not", "("] + self.cond(var, kind, depth + 1) + [")"]
        valid, invalid = CONDITIONS[kind]
        t = self.v((valid + CONDITIONS["any"][0], invalid + CONDITIONS["any"][1]))
        return [t.replace("{v}", var)]

    def policy_body(self, depth: int = 0) -> list[str]:
        kind = self.pick(list(COLLECTIONS))
        var = COLLECTIONS[kind]
        body: list[str] = []
        for _ in range(self.r.randint(1, 2)):
            stmt = self.pick(["require", "deny"])
            msg = self.v([f'"${{{var}.name}} breaks the rule"', '"plain message"',
                          f'"{{${{{var}}}}}"', '"${len(apps)}"'], f'"${{{var}.nope}}"', "42")
            body += [stmt] + self.cond(var, kind) + [",", msg]
            if self.maybe(.15):
                body += [";"]
        if depth < 1 and self.maybe(.2):
            body += self.policy_body(depth + 1)
        loop = ["for", var, "in", kind]
        if self.maybe(.4):
            loop += ["where"] + self.cond(var, kind)
        return loop + ["{"] + body + ["}"]

    def policy(self, name: str) -> list[str]:
        params = []
        for p in self.r.sample(PARAMS[0], self.r.choice([0, 0, 1, 2])):
            params.append([p])
        if self.bad():
            params.append([self.pick(PARAMS[1])])
        head = ["policy", name] + (self.comma_list(params, "(", ")") if params or self.maybe(.1)
                                   else [])
        body: list[str] = []
        if self.maybe(.4):
            body += ["severity", "=", self.v(['"warning"', '"error"'], '"info"')]
        if self.maybe(.3):
            body += ["description", "=", self.string()]
        for _ in range(self.r.choice([1, 1, 2])):
            body += self.policy_body()
        if self.maybe(.1):
            body += ["require", "all", "(", "[", "p", "in", "[", '"linux/amd64"', "]",
                     "for", "p", "in", "[", '"linux/amd64"', ",", '"linux/arm64"', "]", "]",
                     ")", ",", '"needs ${len(images)}"']
        return head + ["{"] + body + ["}"]

    def use(self) -> list[str]:
        if self.std_policies and self.maybe(.6):
            return ["use"] + self.pick(STD_USES)(self)
        if self.policies:
            name = self.pick(self.policies)
            if self.maybe(.4):
                return ["use", name, "(", "severity", ":", self.v(['"warning"'], '"loud"'), ")"]
            return ["use", name]
        if self.module or self.bad():
            return ["use", self.v(["lib.safe"] if self.module else [], "missing", "std.nope")]
        return []

    def waive(self) -> list[str]:
        if not (self.std_policies or self.policies or self.bad()):
            return []
        target = ["std", ".", "no_latest_tag"] if self.std_policies and \
            (self.maybe() or not self.policies) else [self.pick(self.policies or ["missing"])]
        out = ["waive"] + target
        if self.maybe(.6):
            kind = self.v(["app", "environment", "image", "registry"], "cluster")
            pool = {"app": self.apps, "environment": self.envs, "image": self.images,
                    "registry": self.registries}.get(kind, [])
            out += ["for", kind, self.name(pool, ["nothing"])]
        return out + ["until", self.v(DATES), "because", self.v(['"ticket OPS-1"'], '""')]

    def module_text(self) -> str:
        toks = ["environment", "mod-env", "{", "clusters", "=", "cluster", ".", "env", "==",
                '"mod"', "}", "const", "team", "=", '"payments"',
                "policy", "safe", "{", "for", "a", "in", "apps", "{", "require",
                "a.namespace != \"\"", ",", '"${a.name} has a namespace"', "}", "}"]
        return self.join(toks)

    def spec(self) -> Files:
        decls: list[list[str]] = []
        files: Files = {}
        if self.std_sync:
            decls.append(["import", '"std/sync"'])
        if self.std_policies:
            decls.append(["import", '"std/policies"', "as", "std"])
        if self.module:
            decls.append(["import", '"./lib"', "as", "lib"])
            files["lib.setlist"] = self.module_text()
            self.envs.append("lib.mod-env")
        if self.bad():
            decls.append(["import", self.pick(['"std/nope"', '"lib"', '"./missing"',
                                               '"${org}"'])])
        self.consts = self.r.sample(CONSTS, self.r.randint(0, 3))
        self.policies = self.r.sample(POLICIES, self.r.choice([0, 0, 0, 1, 2]))
        for c in self.consts:
            decls.append(self.const(c))
        if self.maybe(.7):
            decls.append(self.gitops())
        for name in self.registries:
            decls.append(self.registry(name))
        for name in self.images:
            decls.append(self.image(name))
        for name in [e for e in self.envs if "." not in e]:
            decls.append(self.environment(name))
        for name in self.apps:
            decls.append(self.app(name))
        for name in self.images:
            if self.maybe(.4) and (name in self.runs or self.bad()):
                decls.append(self.promotion(name))
        for name in self.policies:
            decls.append(self.policy(name))
        for _ in range(self.r.choice([0, 0, 1, 2])):
            decls.append(self.use())
        for _ in range(self.r.choice([0, 0, 0, 1])):
            decls.append(self.waive())
        self.r.shuffle(decls)
        tokens = sum(decls, [])
        files[MAIN] = self.join(tokens)
        return files

    # -- layout
    def join(self, tokens: list[str]) -> str:
        r = self.r
        out: list[str] = []
        style = r.random()
        if r.random() < .2:
            out.append("// " + r.choice(["header", "file comment é", "///doc"]) + "\n\n")
        for tok in tokens:
            if out:
                x = r.random()
                if style < .3:
                    out.append(" " if x < .8 else "\n")
                elif x < .55:
                    out.append(" ")
                elif x < .75:
                    out.append("\n")
                elif x < .82:
                    out.append("\n\n")
                elif x < .88:
                    out.append("  // " + r.choice(["note", "x // y", "", "é😀"]) + "\n")
                elif x < .93:
                    out.append("\n// " + r.choice(["doc", "Doc line"]) + "\n")
                elif x < .97:
                    out.append("\t")
                elif x < .99:
                    out.append(" \r\n")
                else:
                    out.append("\n   \n")
            out.append(tok)
        out.append(r.choice(["\n", "", "\n\n", "  // end\n"]))
        return "".join(out)


COLLECTIONS = {"deployments": "d", "apps": "a", "environments": "e", "images": "i",
               "registries": "r", "promotions": "p"}
CONDITIONS = {  # kind -> (valid, invalid) conditions over the loop variable {v}
    "deployments": (["{v}.image.digest != none", '{v}.image.tag != "latest"',
                     '{v}.env.writeback == "pull_request"', "{v}.image.age < 30d",
                     "{v}.image.signed", '"team" in {v}.app.labels',
                     "{v}.app.name =~ /^[a-z]+$/", "len({v}.app.images) > 0",
                     '{v}.image.source == "registry"', "exists {v}.image.created",
                     "{v}.image.created < 2099-01-01", "{v}.image.since > 2020-01-01T00:00Z",
                     'startswith({v}.image.repository, "acme/")', "{v}.app.images[0] == {v}.image",
                     '{v}.name != ""'],
                    ["{v}.image.nope", "{v}.env in envs", "{v}.env == prod",
                     "all([p in {v}.image.provided_platforms for p in needed])"]),
    "apps": (["{v}.sync.automated and {v}.sync.prune", "len({v}.deploy) >= 1",
              '{v}.labels["team"] != none', "{v}.namespace == {v}.name", "{v}.base_repo == none",
              'any([e.writeback == "direct" for e in {v}.deploy])', "lower({v}.name) == {v}.name",
              '"CreateNamespace=true" in {v}.sync.options',
              '[x.name for x in {v}.images where x.tag == none] == []'],
             ["{v}.deploy[9]", "{v}.deploy.name", "{v}.labels.team"]),
    "environments": (['{v}.writeback == "direct"', '{v}.updates == "setlist"',
                      "len({v}.freezes) > 0", "any([f.duration > 1h for f in {v}.freezes])",
                      "{v}.preserve_resources_on_deletion", '{v}.labels["tier"] == "production"',
                      "{v}.clusters == []", "len({v}.apps) < 3"],
                     ["len({v}.apps) < limit", "{v}.freezes[0].cron"]),
    "images": (['{v}.strategy == "semver"', "{v}.allow_tags != none",
                '{v}.registry == none or endswith({v}.host, ".io")', "{v}.constraint =~ /^\\^/",
                "len({v}.ignore_tags) == 0", "{v}.tag == none", '{v}.reference != ""'],
               ["{v}.registry.host in hosts", "{v}.platforms == needed"]),
    "registries": (['{v}.credentials != "env"', "not {v}.insecure", "len({v}.images) > 0",
                    'endswith({v}.host, ".io")'], ["{v}.images.name"]),
    "promotions": (["{v}.soak >= 24h or {v}.from_registry", "{v}.approval", "{v}.source != none",
                    '{v}.signed and {v}.env.name == "prod"', "{v}.source == none or true"],
                   ["{v}.soak >= min"]),
    "any": (["true", "false", "1 < 2", '"a" in "abc"', "now() > 2020-01-01",
             "age(2020-01-01) > 1d", 'upper("x") == "X"', 'contains("abc", "b")',
             "[1, 2][5] == none", "2h < 1d", "len(apps) >= 0", 'all([true, 1 < 2])',
             'any([])', "none == none"],
            ["flag", "cutoff < now()", '"x" =~ pattern', "len(labels) == 0", "none", "x.y.z",
             "len(1)", "all(3)", "exists nothing", '1 == "1"', "1 < 2 < 3"]),
}
PARAMS = (["envs: list[environment] = []", "min: duration = 24h",
           'hosts: list[string] = ["ghcr.io"]', 'needed = ["linux/amd64"]', "limit: int = 3",
           "pattern: regex = /^v/", "cutoff: date = 2027-01-01", "flag: bool = true",
           "labels: map = {}"],
          ["envs", "x: list[list[int]] = [[1]]", "y: nope", 'z: int = "s"'])
STD_USES: list[Callable[[Gen], list[str]]] = [
    lambda g: ["std", ".", "no_latest_tag"],
    lambda g: ["std", ".", "min_soak", "(", g.pick(g.envs), ",", g.v(DURATIONS), ")"],
    lambda g: ["std", ".", "required_labels", "(", "[", '"team"', "]", ",", "severity", ":",
               g.pick(['"warning"', '"error"', '"loud"']), ")"],
    lambda g: ["std", ".", "digest_pinned", "("] + g.comma_list([[e] for e in g.envs]) + [")"],
    lambda g: ["std", ".", "allowed_registries", "(", "[", '"ghcr.io"', "]", ")"],
    lambda g: ["std", ".", "prod_requires_pull_request"],
    lambda g: ["std", ".", "platforms_required", "(", "[", '"linux/amd64"', "]", ")"],
    lambda g: ["std", ".", "signed_images", "(", "[", g.pick(g.envs), "]", ")"],
    lambda g: ["std", ".", "no_auto_prune", "(", "envs", ":", "[", g.pick(g.envs), "]", ")"],
    lambda g: ["std", ".", "no_auto_prune", "(", "1", ",", "2", ",", "3", ")"],
]


def near_valid(g: Gen, files: Files) -> Files:
    """A generated spec with one to three token-level mistakes."""
    r = g.r
    text = files[MAIN]
    toks = tokenize(text)
    for _ in range(r.randint(1, 3)):
        code = [i for i, t in enumerate(toks) if t.strip() and not t.startswith("//")]
        if not code:
            break
        i = r.choice(code)
        op = r.randint(0, 5)
        if op == 0:
            del toks[i]
        elif op == 1:
            toks.insert(i, toks[i])
        elif op == 2:
            j = r.choice(code)
            toks[i], toks[j] = toks[j], toks[i]
        elif op == 3:
            toks[i] = r.choice(VOCAB)
        elif op == 4 and re.fullmatch(r"[A-Za-z_][\w-]*", toks[i]):
            w = toks[i]
            k = r.randrange(len(w))
            toks[i] = w[:k] + w[k + 1:] if len(w) > 1 else w + "x"  # a typo
        else:
            toks.insert(i, r.choice([",", ";", "=", "{", "}", "(", ")", "\n", '"']))
    return {**files, MAIN: "".join(toks)}


# ---------------------------------------------------------------- mutation

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"?|//[^\n]*|/(?:[^/\\\n ]|\\.)+/|[A-Za-z_][\w-]*|\d[\w:+-]*'
                   r"|<-|==|!=|<=|>=|=~|!~|\s+|.", re.DOTALL)


def tokenize(text: str) -> list[str]:
    """A rough token split that keeps every character: ``"".join(tokenize(t)) == t``."""
    return TOKEN.findall(text)


def mutate(rng: random.Random, text: str, other: str) -> str:
    op = rng.randint(0, 11)
    if not text:
        return rng.choice(VOCAB)
    if op == 0:  # byte flips
        data = bytearray(text.encode("utf-8"))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return data.decode("utf-8", errors="replace")
    if op in (1, 2, 3):  # token deletion, duplication, swap
        toks = tokenize(text)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(toks))
            if op == 1:
                del toks[i:i + rng.choice([1, 1, 2, 5])]
            elif op == 2:
                toks[i:i] = toks[i:i + rng.choice([1, 1, 3])]
            else:
                j = rng.randrange(len(toks))
                toks[i], toks[j] = toks[j], toks[i]
            if not toks:
                break
        return "".join(toks)
    if op == 4:  # truncation
        return text[:rng.randrange(len(text))]
    if op == 5:  # splice two files
        return text[:rng.randrange(len(text) + 1)] + other[rng.randrange(len(other) + 1):]
    if op == 6:  # unicode and control characters
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice(UNICODE) + text[i:]
        return text
    if op == 7:  # deep nesting
        toks = tokenize(text)
        i = rng.randrange(len(toks))
        depth = rng.choice([10, 50, 200, 1000, 3000])
        kind = rng.randint(0, 4)
        if kind == 0:
            toks[i:i + 1] = ["(" * depth, toks[i], ")" * depth]
        elif kind == 1:
            toks[i:i + 1] = ["[" * depth, toks[i], "]" * depth]
        elif kind == 2:
            toks[i:i + 1] = ["not " * depth, toks[i]]
        elif kind == 3:
            toks[i:i + 1] = [" and ".join([toks[i]] * depth)]
        else:
            toks[i:i + 1] = ["{a:" * depth, toks[i], "}" * depth]
        return "".join(toks)
    if op == 8:  # a vocabulary token replaces or joins one
        toks = tokenize(text)
        i = rng.randrange(len(toks))
        toks[i:i + rng.randint(0, 1)] = [rng.choice(VOCAB)]
        return "".join(toks)
    if op == 9:  # line endings and whitespace
        return rng.choice([text.replace("\n", "\r\n"), text.replace("\n", "\r"),
                           text.replace("  ", "\t"), text.replace("\n", " "),
                           text.replace("\n", "\n\n\n"), "\ufeff" + text])
    if op == 10:  # duplicate a line range (declarations twice, fields twice)
        lines = text.splitlines(keepends=True)
        i = rng.randrange(len(lines))
        j = min(len(lines), i + rng.randint(1, 8))
        return "".join(lines[:j] + lines[i:j] + lines[j:])
    # one character deleted or inserted
    i = rng.randrange(len(text))
    return text[:i] + rng.choice(["", '"', "{", "}", "$", "\\", "/", "\n", "${"]) + text[i + 1:]


def make_input(seed: int, index: int) -> tuple[str, Files]:
    """The input number ``index`` of ``seed``: (how it was made, files)."""
    rng = random.Random(f"setlist-fuzz:{seed}:{index}")
    x = rng.random()
    if x < .35:
        return "generated", Gen(rng).spec()
    if x < .5:
        g = Gen(rng)
        return "near-valid", near_valid(g, g.spec())
    cases = corpus()
    case = dict(rng.choice(cases))
    other = "".join(t for _, t in rng.choice(cases))
    name = rng.choice(sorted(case))
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        case[name] = mutate(rng, case[name], other)
    return "mutated", case


# ---------------------------------------------------------------- the pipeline

class Hang(BaseException):
    """The per-input time bound ran out (a BaseException: no `except Exception` hides it)."""


@dataclass
class Outcome:
    index: int
    origin: str = ""
    parsed: bool = False
    checked: bool = False      # loaded without errors
    compiled: bool = False
    fmt_checked: bool = False
    failure: str | None = None  # traceback | hang | fmt | diagnostic
    detail: str = ""
    signature: str = ""


@lru_cache(maxsize=16)
def _parse_std(text: str, key: str):
    from setlist.parse import parse_source

    return parse_source(text, key)


def _parse(text: str, key: str):
    """The standard library's modules are parsed once per worker (as the language server's
    parse cache does); every input file is parsed afresh."""
    from setlist.parse import parse_source

    return _parse_std(text, key) if key.startswith("std/") else parse_source(text, key)


def _load(files: Files):
    from setlist.project import load

    return load((), overrides=files, parse=_parse)


def _meaning(project) -> tuple:
    """What fmt must keep: the checked model without spans and the diagnostic codes."""
    spec = _plain(project.spec.model_dump()) if project.spec is not None else None
    return spec, sorted(d.code for d in project.diagnostics)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _format(text: str, name: str, words: list[str] | None = None) -> str | None:
    """``format_source(text)``, or None when the text does not parse. This is
    ``fmt.parse_document`` without the diagnostics of a failed parse, which a fuzzer does
    not need and which cost a second, recovering parse."""
    from lark.exceptions import UnexpectedInput

    from setlist.fmt import Document, FormatError, _tokens, _units, format_document
    from setlist.parse import parser

    text = _lf(text)
    try:
        tree = parser().parse(text, start="start")
    except (UnexpectedInput, RecursionError):
        return None
    tokens = _tokens(text, tree)
    if words is not None:  # the words of every comment, in order: fmt must keep them all
        words.extend(w for t in tokens for c in t.comments for w in c.text.split())
    try:
        return format_document(Document(text=text, name=name, tree=tree, tokens=tokens,
                                        units=_units(tree, tokens)))
    except FormatError as exc:  # nested too deeply to print: a diagnostic (SL105), fine
        assert exc.diagnostics and exc.diagnostics[0].code == "SL105", exc
        return None


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "span"}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check_diagnostics(project, files: Files) -> str | None:
    from setlist.codes import CODES

    for d in project.diagnostics:
        problems = []
        if not re.fullmatch(r"SL\d{3}", d.code) or d.code not in CODES:
            problems.append("unknown code")
        if not d.message.strip():
            problems.append("empty message")
        if d.span.line < 1 or d.span.column < 1 or (d.span.end_line, d.span.end_column) < \
                (d.span.line, d.span.column):
            problems.append("bad span")
        text = files.get(d.span.file)
        if text is not None:
            lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            if d.span.line > len(lines) + 1:
                problems.append(f"line {d.span.line} past the end ({len(lines)} lines)")
        if problems:
            return f"{', '.join(problems)}: {d.span}: {d.code} {d.message!r}"
    return None


def _fmt_failure(files: Files, once: Files, words: dict[str, list[str]],
                 project) -> str | None:
    """Idempotence and meaning of `fmt` on every file; None when all is well. ``once`` is
    every file formatted, ``words`` the words of its comments; ``project`` the input
    loaded."""
    lf = {k: _lf(v) for k, v in files.items()}
    if once == lf:
        return None  # already formatted: fmt(fmt(x)) == fmt(x) == x
    for name, text in once.items():
        after: list[str] = []
        twice = _format(text, name, after)
        if twice != text:
            return f"fmt is not idempotent on {name}:\n--- fmt(x)\n{text}\n--- fmt(fmt(x))\n{twice}"
        if words[name] != after:
            return f"fmt lost or reordered comments in {name}:\n--- fmt(x)\n{text}"
    if lf != files:  # CR line endings: compare with what `setlist check` reads from disk
        project = _load(lf)
    before, after = _meaning(project), _meaning(_load(once))
    if before != after:
        what = "diagnostic codes" if before[0] == after[0] else "checked model"
        return (f"fmt changed the {what}: {before[1]} -> {after[1]}\n--- fmt(x)\n"
                + "\n".join(f"// {k}\n{v}" for k, v in once.items()))
    return None


def _compile(project) -> None:
    import yaml

    from setlist import lockfile
    from setlist.emit import dump
    from setlist.policy import violations

    result = project.compile()
    for doc in result.documents:
        text = dump(doc.documents, doc.header)
        back = list(yaml.safe_load_all(text))
        if back != doc.documents:
            raise AssertionError(f"{doc.path}: the emitted YAML reads back differently")
    violations(project, None, now=FIXED_NOW)
    violations(project, None, signed=lambda _repo, _digest: True, now=FIXED_NOW)
    # Facts as `setlist resolve` would lock them: compile and judge policies with those too.
    lock = _lock_for(project.spec)
    assert lockfile.parse(lockfile.dump(lock)) == lock, "the lock does not read back"
    project.compile(lock)
    violations(project, lock, signed=lambda _repo, digest: digest.endswith("a"),
               now=FIXED_NOW)


def _lock_for(spec):
    """A lock entry for every image in every environment an app runs it in, the values
    varied by a hash of the names (deterministic)."""
    from setlist.lockfile import Lock, LockEntry

    entries = {}
    for app in spec.apps:
        for env in app.deploy:
            for img in app.images:
                image = next((i for i in spec.images if i.name == img.image), None)
                if image is None:
                    continue
                h = sum(map(ord, f"{img.image}/{env}")) % 7
                entries[(img.image, env)] = LockEntry(
                    repository=image.repository, tag=["1.4.3", "latest", "v2.0.0-rc.1", "main",
                                                      "1.4.3", "0.0.1", "1"][h],
                    digest="sha256:" + "0123456789abcdef"[h] * 63 + "a" * (h % 2 or 1),
                    platforms=(("linux/amd64",), ("linux/amd64", "linux/arm64"), ())[h % 3],
                    created=[None, "2020-01-01T00:00:00Z", "2027-02-28T12:00:00Z"][h % 3],
                    since=[None, "2027-02-01T00:00:00Z"][h % 2],
                    source=["registry", "promotion:dev", "hotfix"][h % 3])
    return Lock(entries=entries)


def run_one(index: int, files: Files, origin: str) -> Outcome:
    """One input through every stage; the caller has set the time bound."""
    from setlist.render import render_json, render_text

    out = Outcome(index=index, origin=origin)
    stage = "check"
    _arm()
    try:
        project = _load(files)
        out.checked = project.ok
        render_text(project.diagnostics, files)
        render_json(project.diagnostics)
        bad = _check_diagnostics(project, files)
        if bad:
            out.failure, out.detail = "diagnostic", bad
            out.signature = "diagnostic: " + re.sub(r"\d+:\d+", "L:C", bad.split(": ", 1)[0])
            return out
        if out.checked and project.spec is not None:
            stage = "compile"
            _arm()
            _compile(project)
            out.compiled = True
        stage = "fmt"
        _arm()
        words: dict[str, list[str]] = {name: [] for name in files}
        once = {name: _format(text, name, words[name]) for name, text in files.items()}
        out.parsed = all(v is not None for v in once.values())
        if out.parsed:
            out.fmt_checked = True
            problem = _fmt_failure(files, once, words, project)
            if problem:
                out.failure, out.detail = "fmt", problem
                out.signature = "fmt: " + problem.split("\n", 1)[0][:80]
    except Hang:
        out.failure, out.detail = "hang", f"timed out in {stage}\n" + traceback.format_exc()
        out.signature = f"hang in {stage}"
    except RecursionError as exc:
        out.failure, out.detail = "traceback", traceback.format_exc()
        out.signature = f"{stage}: RecursionError {_where(exc)}"
    except Exception as exc:  # the whole point: any exception is a finding
        out.failure, out.detail = "traceback", traceback.format_exc()
        out.signature = f"{stage}: {type(exc).__name__} {_where(exc)}"
    return out


def _where(exc: BaseException) -> str:
    """The innermost frame of the project's own code: what tells one bug from another."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/compiler/" in f.filename or "/setlist/" in f.filename]
    if not frames:
        frames = traceback.extract_tb(exc.__traceback__)[-1:]
    f = frames[-1] if frames else None
    return f"{Path(f.filename).name}:{f.lineno}" if f else "?"


# ---------------------------------------------------------------- workers

_BOUND = 0.0  # CPU seconds per stage of an input; 0: no bound (a replay in a debugger)


def _arm() -> None:
    """Start the time bound of a stage: CPU time of this process (``ITIMER_PROF``), so that
    other work on the machine cannot make an input look hung."""
    if _BOUND:
        signal.setitimer(signal.ITIMER_PROF, _BOUND)


def _on_alarm(_signum, _frame):
    raise Hang()


def _worker(conn, seed: int, timeout: float) -> None:
    workdir = tempfile.mkdtemp(prefix="setlist-fuzz-")
    os.chdir(workdir)  # no setlist.lock, no files to import: only the overrides exist
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    _load({MAIN: "const warm = 1\n"})  # imports and parser tables: not part of any input
    global _BOUND
    _BOUND = timeout
    signal.signal(signal.SIGPROF, _on_alarm)
    while True:
        task = conn.recv()
        if task is None:
            os.chdir("/")
            shutil.rmtree(workdir, ignore_errors=True)
            return
        for index in task:
            try:
                origin, files = make_input(seed, index)
            except Exception:  # a bug of this script, not of the compiler: still say so
                conn.send(Outcome(index=index, origin="?", failure="traceback",
                                  detail=traceback.format_exc(), signature="fuzz.py generator"))
                continue
            try:
                out = run_one(index, files, origin)
            except Hang:
                out = Outcome(index=index, origin=origin, failure="hang",
                              detail="timed out", signature="hang")
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            conn.send(out)


@dataclass
class Stats:
    inputs: int = 0
    parsed: int = 0
    checked: int = 0
    compiled: int = 0
    fmt_checked: int = 0
    failures: Counter = field(default_factory=Counter)
    signatures: Counter = field(default_factory=Counter)
    origins: Counter = field(default_factory=Counter)
    failed: list[Outcome] = field(default_factory=list)

    def add(self, out: Outcome) -> None:
        self.inputs += 1
        self.parsed += out.parsed
        self.checked += out.checked
        self.compiled += out.compiled
        self.fmt_checked += out.fmt_checked
        self.origins[out.origin] += 1
        if out.failure:
            self.failures[out.failure] += 1
            self.signatures[out.signature] += 1
            self.failed.append(out)

    @property
    def clean(self) -> bool:
        return not self.failures


def run(count: int, seed: int, *, start: int = 0, jobs: int = 1, timeout: float = 5.0,
        out_dir: Path | None = None, batch: int = 25,
        progress: Callable[[Stats], None] | None = None) -> Stats:
    """Run inputs ``start`` .. ``start + count - 1`` of ``seed`` in ``jobs`` worker processes.

    Each stage of an input (check, compile, fmt) has ``timeout`` seconds of CPU time (an
    in-worker timer). A worker that sends nothing for four times that plus 5 s of wall time
    is killed and its input counted as a hang (the timer cannot interrupt every C routine)."""
    ctx = get_context("fork")
    pending: Iterator[list[int]] = (list(range(i, min(i + batch, start + count)))
                                    for i in range(start, start + count, batch))
    stats = Stats()
    workers: dict = {}  # conn -> [process, remaining indices, last heard]

    def spawn(indices: list[int]) -> None:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, seed, timeout), daemon=True)
        proc.start()
        child.close()
        parent.send(indices)
        workers[parent] = [proc, list(indices), time.monotonic()]

    def record(out: Outcome) -> None:
        stats.add(out)
        if out.failure and out_dir is not None:
            save_failure(out_dir, seed, out)
        if progress is not None:
            progress(stats)

    for _ in range(max(1, jobs)):
        indices = next(pending, None)
        if indices:
            spawn(indices)
    while workers:
        ready = wait(list(workers), timeout=0.5)
        now = time.monotonic()
        for conn in ready:
            proc, remaining, _ = workers[conn]
            try:
                out = conn.recv()
            except EOFError:  # the worker died (a crash in C code): count the input
                index = remaining.pop(0)
                record(Outcome(index=index, origin="?", failure="traceback",
                               detail=f"worker died (exit code {proc.exitcode})",
                               signature="worker died"))
                del workers[conn]
                proc.join()
                if remaining:
                    spawn(remaining)
                else:
                    indices = next(pending, None)
                    if indices:
                        spawn(indices)
                continue
            remaining.remove(out.index)
            workers[conn][2] = now
            record(out)
            if not remaining:
                indices = next(pending, None)
                if indices:
                    conn.send(indices)
                    workers[conn][1] = list(indices)
                else:
                    conn.send(None)
                    proc.join()
                    del workers[conn]
        for conn, (proc, remaining, heard) in list(workers.items()):
            if now - heard > 4 * timeout + 5:
                proc.kill()
                proc.join()
                del workers[conn]
                index = remaining.pop(0)
                record(Outcome(index=index, origin="?", failure="hang",
                               detail=f"no answer within {4 * timeout + 5:.0f} s; killed",
                               signature="hang (killed)"))
                if remaining:
                    spawn(remaining)
                else:
                    indices = next(pending, None)
                    if indices:
                        spawn(indices)
    return stats


def save_failure(out_dir: Path, seed: int, out: Outcome) -> Path:
    """The input's files, what went wrong and how to run it again."""
    try:
        _, files = make_input(seed, out.index)
    except Exception:
        files = {}
    folder = out_dir / f"{out.failure}-s{seed}-{out.index:07d}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / "input" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    (folder / "failure.txt").write_text(
        f"{out.signature}\norigin: {out.origin}\nreplay: .venv/bin/python bench/fuzz.py "
        f"--seed {seed} --start {out.index} --count 1\n\n{out.detail}\n", "utf-8")
    (folder / "files.json").write_text(json.dumps(files, ensure_ascii=True, indent=1), "utf-8")
    return folder


def replay(folder: Path) -> Outcome:
    """Run a saved failure again in this process (for a debugger)."""
    files = json.loads((folder / "files.json").read_text("utf-8"))
    return run_one(0, files, "replay")


def report(stats: Stats, seconds: float) -> str:
    rate = stats.inputs / seconds if seconds else 0.0
    lines = [
        f"inputs          {stats.inputs:>9,}  ({rate:.1f}/s, {seconds:.0f} s)",
        "  origins       " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.origins.items())),
        f"parsed          {stats.parsed:>9,}",
        f"checked clean   {stats.checked:>9,}",
        f"compiled        {stats.compiled:>9,}",
        f"fmt checked     {stats.fmt_checked:>9,}",
        f"tracebacks      {stats.failures['traceback']:>9,}",
        f"hangs           {stats.failures['hang']:>9,}",
        f"fmt violations  {stats.failures['fmt']:>9,}",
        f"bad diagnostics {stats.failures['diagnostic']:>9,}",
    ]
    for sig, n in stats.signatures.most_common(30):
        first = next(o.index for o in stats.failed if o.signature == sig)
        lines.append(f"  {n:>6}  {sig}  (first: input {first})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first input number (for chunks)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="CPU seconds per stage of an input")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz")
    ap.add_argument("--replay", type=Path, help="run one saved failure folder again")
    ap.add_argument("--show", action="store_true", help="print the inputs instead of running")
    args = ap.parse_args(argv)
    if args.replay:
        out = replay(args.replay)
        print(out.failure or "passes", out.signature, out.detail, sep="\n")
        return 1 if out.failure else 0
    if args.show:
        for i in range(args.start, args.start + args.count):
            origin, files = make_input(args.seed, i)
            for name, text in files.items():
                print(f"==== {i} {origin} {name}\n{text}")
        return 0
    begin = time.monotonic()
    last = [begin]

    def progress(stats: Stats) -> None:
        if time.monotonic() - last[0] > 60:
            last[0] = time.monotonic()
            print(f"... {stats.inputs:,} inputs, {sum(stats.failures.values())} failures",
                  file=sys.stderr, flush=True)

    stats = run(args.count, args.seed, start=args.start, jobs=args.jobs, timeout=args.timeout,
                out_dir=args.out, progress=progress)
    print(f"seed {args.seed}, inputs {args.start}..{args.start + args.count - 1}, "
          f"jobs {args.jobs}, timeout {args.timeout:g} s")
    print(report(stats, time.monotonic() - begin))
    if stats.failed:
        print(f"failing inputs written to {args.out}")
    return 0 if stats.clean else 1


if __name__ == "__main__":
    sys.exit(main())
