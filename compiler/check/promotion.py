"""Check pass: promotion rules form, per image, a tree rooted at the registry."""

from __future__ import annotations

from .. import model as m
from .. import spec as s
from ..diagnostics import Related
from .context import Context, did_you_mean
from .evaluate import Evaluator

GATES = ("approval", "signed")


def check_promotions(ctx: Context, ev: Evaluator, spec_parts: dict) -> list[s.Promotion]:
    apps: list[s.App] = spec_parts["apps"]
    # With an app or environment that failed to check, "nobody runs X in Y" may be untrue.
    complete = not spec_parts["incomplete"] & {"app", "environment"}
    out: list[s.Promotion] = []
    for key in sorted(ctx.project.files):
        for decl in ctx.project.files[key].module.decls:
            if isinstance(decl, m.Promotion):
                promotion = _check_one(ctx, ev, decl, key, apps, complete)
                if promotion is not None:
                    out.append(promotion)
    covered = {p.image: {st.env for st in p.stages} for p in out} if complete else {}
    for app in apps:
        for img in app.images:
            if img.image not in covered:
                continue
            for env in app.deploy:
                if env not in covered[img.image]:
                    ctx.error(img.span, "SL504",
                              f"app '{app.name}' runs image '{img.image}' in '{env}', but the "
                              f"promotion of '{img.image}' has no rule for '{env}'",
                              f"add a rule such as '{env} <- registry' to promotion "
                              f"{img.image}")
    return out


def _check_one(ctx: Context, ev: Evaluator, decl: m.Promotion, file: str,
               apps: list[s.App], complete: bool) -> s.Promotion | None:
    entry, _ = ev.ref(_ref(decl.name, decl.name_span or decl.span), file, "image")
    if entry is None:
        return None
    image = entry.decl.name
    targets = {env for app in apps if any(i.image == image for i in app.images)
               for env in app.deploy}
    stages: dict[str, s.Stage] = {}
    rules: dict[str, m.PromotionRule] = {}
    ok = True
    for rule in decl.rules:
        env_entry, _ = ev.ref(_ref(rule.stage, rule.stage_span), file, "environment")
        source = "registry"
        if rule.source != "registry":
            src, _ = ev.ref(_ref(rule.source, rule.source_span), file, "environment")
            source = src.decl.name if src is not None else None
        if env_entry is None or source is None:
            ok = False
            continue
        stage = env_entry.decl.name
        if stage in rules:
            ctx.error(rule.stage_span, "SL501",
                      f"'{stage}' already has an upstream in this promotion",
                      "each environment is fed by exactly one rule",
                      related=(Related(span=rules[stage].span, message="first rule"),))
            ok = False
            continue
        if stage not in targets and complete:
            runners = sorted(a.name for a in apps if any(i.image == image for i in a.images))
            ctx.error(rule.stage_span, "SL500",
                      f"no app runs image '{image}' in '{stage}'",
                      (f"apps running '{image}': " + ", ".join(runners)) if runners else
                      f"no app lists '{image}' in its images")
        if source == stage:
            ctx.error(rule.source_span, "SL502", f"'{stage}' cannot promote from itself",
                      "take versions from registry or from another environment")
            ok = False
            continue
        after = 0
        if rule.after is not None:
            after = ev.want_duration(rule.after, file)
            if after is None:
                ok = False
                continue
        approval = signed = False
        for gate in rule.gates:
            name = ev.call_name(gate, file)
            if name == "approval":
                # `approval` and `approval()` are the same gate: a pull request to merge.
                ok = ev.want_call(gate, file, "approval", {}) is not None and ok
                approval = True
            elif name == "signed":
                # A cosign signature must exist for the digest being promoted.
                ok = ev.want_call(gate, file, "signed", {}) is not None and ok
                signed = True
            else:
                what = f"'{name}'" if name else "this"
                ctx.error(gate.span, "SL302", f"{what} is not a promotion gate",
                          did_you_mean(name or "", GATES) or
                          "known gates: approval, signed")
                ok = False
        rules[stage] = rule
        stages[stage] = s.Stage(env=stage, source=source, after_seconds=after,
                                approval=approval, signed=signed, span=rule.span)
    ok = _graph(ctx, stages, rules) and ok
    if not ok:
        return None
    return s.Promotion(image=image, stages=tuple(stages.values()), span=decl.span)


def _ref(text: str, span) -> m.Expr:
    """A rule's `env` or `module.env` as the expression the resolver takes."""
    if "." not in text:
        return m.Name(span=span, name=text)
    alias, _, member = text.partition(".")
    alias_span = span.model_copy(update={"end_column": span.column + len(alias),
                                         "end": span.start + len(alias)})
    return m.Attr(span=span, value=m.Name(span=alias_span, name=alias), attr=member,
                  attr_span=span.model_copy(update={"column": span.column + len(alias) + 1,
                                                    "start": span.start + len(alias) + 1}))


def _graph(ctx: Context, stages: dict[str, s.Stage],
           rules: dict[str, m.PromotionRule]) -> bool:
    ok = True
    reported: set[str] = set()
    for env in stages:
        chain = [env]
        current = env
        while True:
            source = stages[current].source
            if source == "registry":
                break
            if source in chain:
                cycle = chain[chain.index(source):] + [source]
                if not reported & set(cycle):
                    ctx.error(rules[env].span, "SL502",
                              "promotion cycle: " + " <- ".join(cycle),
                              "one environment in the chain must take versions from registry")
                reported.update(cycle)
                ok = False
                break
            if source not in stages:
                if env not in reported:
                    rule = rules[current]
                    ctx.error(rule.source_span, "SL503",
                              f"'{source}' has no promotion rule, so '{env}' never receives "
                              "a version",
                              f"add '{source} <- registry' (or another upstream) to this "
                              "promotion")
                    reported.add(env)
                ok = False
                break
            chain.append(source)
            current = source
    return ok
