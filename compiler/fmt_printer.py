"""The formatter's printer: the file, its declarations and the statements of their
bodies, laid out on the token stream (``fmt_stream``) with expressions from
``fmt_exprs``; each declaration is rendered on its own (``fmt_layout``).
"""

from __future__ import annotations

from lark import Tree

from .fmt_exprs import Expressions
from .fmt_layout import Suffix, render


class Printer(Expressions):
    """Walks the tree and the token stream in step. Comments in the gap before an item of a
    list, block or file are laid out as lines of their own (or at the end of the previous
    item's line); anywhere else a comment goes to the end of the line it ends up on."""

    # file -----------------------------------------------------------------------------
    def file(self, tree: Tree) -> str:
        out: list[str] = []
        prev_single = False
        for k, decl in enumerate(tree.children):
            lead = self.gap()  # own-line only: a trailing one went to the previous declaration
            tok = self.peek()
            blank = lead[0].blank_before if lead else tok.blank_before
            # The documentation run directly above keeps its lines' trailing whitespace,
            # which the parser keeps in the text of the documentation (all but the last).
            doc = len(lead) if lead and not tok.blank_before else 0
            while 1 < doc and not lead[doc - 1].blank_before:
                doc -= 1
            pieces: list[str] = []
            for j, c in enumerate(lead):
                pieces += ["\n\n" if j and c.blank_before else "\n" if j else "",
                           c.text if doc and doc - 1 <= j < len(lead) - 1 else c.text.rstrip()]
            if lead:
                pieces.append("\n\n" if tok.blank_before else "\n")
            layout = [getattr(self, decl.data)(decl)]
            after = self.gaps[self.i]
            if after and not after[0].own_line:
                layout.append(Suffix(after.pop(0).text))
            text = render(layout)
            single = "\n" not in text
            if k:
                out.append("\n" if not blank and prev_single and single else "\n\n")
            out += [*pieces, text]
            prev_single = single
        for c in self.gap():
            if out:
                out.append("\n\n" if c.blank_before else "\n")
            out.append(c.text.rstrip())
        if self.peek().kind != "$END":
            raise AssertionError(f"formatter stopped at offset {self.peek().start}")
        return "".join(out) + "\n" if out else ""

    def statements(self, items: list) -> object:
        """Fields, rules or statements of a block, one a line, ``=`` or ``<-`` aligned in
        each run of neighbours not parted by an empty line, a comment or another kind."""
        widths = [self.label(n) for n in items]
        runs: list[list[int]] = []
        for k, node in enumerate(items):
            if widths[k] is None:
                continue
            idx = self.at[node.meta.start_pos]
            if (k and widths[k - 1] is not None and not self.toks[idx].blank_before
                    and not any(c.own_line for c in self.gaps[idx])):
                runs[-1].append(k)
            else:
                runs.append([k])
        pads = [0] * len(items)
        for run in runs:
            for k in run:
                pads[k] = max(widths[j] for j in run)
        return self.seq(items, lambda n, k: self.statement(n, pads[k]), "}", sep=";",
                        broken=True)

    @staticmethod
    def label(node: Tree) -> int | None:
        if node.data == "field":
            return len(node.children[0])
        if node.data == "promotion_rule":
            return len(".".join(node.children[0].children))
        return None

    # declarations ------------------------------------------------------------------------
    def import_decl(self, t: Tree) -> list:
        path, *alias = t.children
        out = [self.take("import"), " ", self.take(path)]
        if alias:
            out += [" ", self.take("as"), " ", self.take(alias[0])]
        return out

    def const_decl(self, t: Tree) -> list:
        name, value = t.children
        return [self.take("const"), " ", self.take(name), " ", self.take("="), " ",
                self.expr(value)]

    def block(self, t: Tree) -> list:
        name, body = t.children
        head = [self.take(name)] if t.data == "gitops_decl" else \
            [self.take(t.data.removesuffix("_decl")), " ", self.take(name)]
        return [*head, " ", self.take("{"), self.statements(body.children)]

    gitops_decl = registry_decl = image_decl = environment_decl = app_decl = block

    def promotion_decl(self, t: Tree) -> list:
        name, *rules = t.children
        return [self.take("promotion"), " ", self.dotted(name), " ", self.take("{"),
                self.statements(rules)]

    def policy_decl(self, t: Tree) -> list:
        name, *rest = t.children
        out = [self.take("policy"), " ", self.take(name)]
        if rest and rest[0].data == "params":
            out += [self.take("("), self.seq(rest.pop(0).children, self.param, ")")]
        return [*out, " ", self.take("{"), self.statements(rest)]

    def use_decl(self, t: Tree) -> list:
        return [self.take("use"), " ", self.expr(t.children[0])]

    def waive_decl(self, t: Tree) -> list:
        target, *rest = t.children
        out = [self.take("waive"), " ", self.expr(target)]
        if len(rest) == 4:
            kind, name, *rest = rest
            out += [" ", self.take("for"), " ", self.take(kind), " ", self.take(name)]
        until, reason = rest
        return [*out, " ", self.take("until"), " ", self.take(until), " ",
                self.take("because"), " ", self.take(reason)]

    # statements ----------------------------------------------------------------------------
    def statement(self, t: Tree, pad: int = 0) -> list:
        kind = t.data
        if kind == "field":
            name, value = t.children
            return [self.take(name), " " * (pad - len(name) + 1), self.take("="), " ",
                    self.expr(value)]
        if kind == "promotion_rule":
            stage, source, *rest = t.children
            out = [self.dotted(stage), " " * (pad - self.label(t) + 1), self.take("<-"), " ",
                   self.dotted(source)]
            if rest and self.peek().kind == "KEYWORD" and self.peek().text == "after":
                out += [" ", self.take("after"), " ", self.expr(rest.pop(0))]
            for gate in rest:
                out += [self.take(","), " ", self.expr(gate)]
            return out
        if kind == "freeze":
            cron, duration, *tz = t.children
            out = [self.take("freeze"), " ", self.expr(cron), " ", self.take("for"), " ",
                   self.expr(duration)]
            if tz:
                out += [" ", self.take("tz"), " ", self.expr(tz[0])]
            return out
        if kind == "for_stmt":
            var, iterable, *rest = t.children
            out = [self.take("for"), " ", self.take(var), " ", self.take("in"), " ",
                   self.expr(iterable)]
            if self.peek().kind == "KEYWORD" and self.peek().text == "where":
                out += [" ", self.take("where"), " ", self.expr(rest.pop(0))]
            return [*out, " ", self.take("{"), self.statements(rest)]
        condition, message = t.children  # require_stmt, deny_stmt
        return [self.take(kind.removesuffix("_stmt")), " ", self.expr(condition),
                self.take(","), " ", self.expr(message)]

    def param(self, t: Tree, _k: int = 0) -> list:
        name, *rest = t.children
        out = [self.take(name)]
        for part in rest:
            if isinstance(part, Tree) and part.data == "type_ref":
                out += [self.take(":"), " ", self.type_ref(part)]
            else:
                out += [" ", self.take("="), " ", self.expr(part)]
        return out

    def type_ref(self, t: Tree) -> list:
        name, *inner = t.children
        out = [self.take(name)]
        if inner:
            out += [self.take("["), self.type_ref(inner[0]), self.take("]")]
        return out

    def dotted(self, t: Tree) -> list:
        first, *rest = t.children
        out = [self.take(first)]
        for part in rest:
            out += [self.take("."), self.take(part)]
        return out
