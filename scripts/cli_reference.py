"""Print docs/cli-reference.md: every `setlist` command and subcommand as click defines it
(usage line, help text, options with their defaults), so that the page cannot drift from the
program. `make docs` writes it; tests/test_init.py checks that the committed page is current.

    .venv/bin/python scripts/cli_reference.py > docs/cli-reference.md
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator

import click

from setlist.cli import main

HEADER = """\
# Command reference (generated)

Generated from the commands themselves by `scripts/cli_reference.py` (`make docs`); do not
edit it by hand. [cli.md](cli.md) explains each command at length, with examples. Every
command also takes `-h`/`--help`, and all share the exit codes `0` success, `1` the spec has
errors, `2` bad invocation, `3` an external system failed.
"""


def commands(group: click.Group, ctx: click.Context) -> Iterator[tuple[click.Command,
                                                                        click.Context]]:
    """The group's visible commands, sorted by name, each followed by its subcommands."""
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = click.Context(command, info_name=name, parent=ctx)
        yield command, sub
        if isinstance(command, click.Group):
            yield from commands(command, sub)


def help_text(command: click.Command) -> str:
    text = inspect.cleandoc(command.help or "").split("\f", 1)[0]
    # click's "\b" marks a paragraph it must not rewrap; Markdown keeps line breaks in a
    # block only as separate lines, so the marker is simply dropped.
    return "\n".join(line for line in text.splitlines() if line.strip() != "\b").strip()


def markdown(text: str) -> str:
    """Help text as Markdown: `*` outside code spans is literal (`*.setlist`), not emphasis."""
    parts = text.split("`")
    return "`".join(part if i % 2 else part.replace("*", "\\*") for i, part in enumerate(parts))


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def values(param: click.Parameter, ctx: click.Context) -> str:
    kind = param.type
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    if isinstance(kind, click.Choice):
        return ", ".join(f"`{choice}`" for choice in kind.choices)
    if param.metavar:
        return f"`{param.metavar}`"
    try:  # click 8.2 passes the context; 8.1 does not
        metavar = param.make_metavar(ctx)
    except TypeError:
        metavar = param.make_metavar()  # type: ignore[call-arg]
    return f"`{metavar}`"


def default(param: click.Option) -> str:
    # The info dict gives None for "no default" whatever click's own marker for it is.
    value = param.to_info_dict().get("default")
    if param.is_flag:
        return "on" if value is True else "off"
    if param.multiple:
        return "none (repeatable)"
    if value is None or value == "" or callable(value):
        return ""
    return f"`{value}`"


def summary(command: click.Command) -> str:
    """The help text's first paragraph, on one line."""
    return cell(markdown(help_text(command)).split("\n\n", 1)[0])


def usage(command: click.Command, ctx: click.Context) -> str:
    pieces = " ".join(command.collect_usage_pieces(ctx))
    return f"{ctx.command_path} {pieces}".rstrip()


def section(command: click.Command, ctx: click.Context) -> list[str]:
    lines = [f"## {ctx.command_path}", "", "```", usage(command, ctx), "```", ""]
    text = markdown(help_text(command))
    if text:
        lines += [text, ""]
    options = [p for p in command.get_params(ctx)
               if isinstance(p, click.Option) and not p.hidden and "--help" not in p.opts]
    if isinstance(command, click.Group) and ctx.parent is not None:
        subs = [n for n in sorted(command.list_commands(ctx))
                if not command.get_command(ctx, n).hidden]
        if subs:
            lines += ["Subcommands: " + ", ".join(
                f"[`{n}`](#{anchor(f'{ctx.command_path} {n}')})" for n in subs) + ".", ""]
    if options:
        lines += ["| option | values | default | meaning |", "|---|---|---|---|"]
        for option in options:
            names = ", ".join(f"`{name}`" for name in option.opts + option.secondary_opts)
            lines.append(f"| {names} | {cell(values(option, ctx))} | {default(option)} | "
                         f"{cell(markdown(option.help or ''))} |")
        lines.append("")
    return lines


def anchor(title: str) -> str:
    return "-".join(title.lower().split())


def reference() -> str:
    root = click.Context(main, info_name="setlist")
    found = list(commands(main, root))
    lines = [HEADER, *section(main, root)[2:-1], ""]
    lines += ["| command | summary |", "|---|---|"]
    for command, ctx in found:
        lines.append(f"| [`{ctx.command_path}`](#{anchor(ctx.command_path)}) | "
                     f"{summary(command)} |")
    lines.append("")
    for command, ctx in found:
        lines += section(command, ctx)
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(reference())
