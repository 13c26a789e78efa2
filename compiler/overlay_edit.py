"""Round-trip editing of a user's Kustomize overlay: only Setlist's `images:` entries change.

Overlays belong to their users once created (patches, comments, extra images); when the
versions change, the entries Setlist manages are rewritten where they stand and everything
else, comments and layout included, stays byte for byte.
"""

from __future__ import annotations

import io

from .write import WriteError

#: A kustomization is a few kilobytes; a larger one is refused before it is parsed.
MAX_OVERLAY_BYTES = 1024 * 1024


def update_overlay_images(text: bytes, images: list | None) -> bytes:
    """Bring Setlist's entries of a user's kustomization's `images:` up to date, keeping
    every other byte.

    Setlist manages the entries whose `name` is in ``images`` (the list it computes): such
    an entry is replaced where it stands, one that is missing is appended, and every other
    entry (the user's own) stays as written, comments included. With no images to manage
    nothing is removed but an empty `images:` key. The file is parsed (ruamel.yaml,
    round-trip) to find the lines of its top-level `images:` entry and of its items, and only
    the lines of changed entries are rewritten (with the emitter's rendering), so comments,
    order, indentation and quoting elsewhere stay exactly as written. Dumping the whole
    document instead would re-indent every sequence and lose the comments ruamel attaches to
    the old list's last item. Only a layout the splice cannot handle (a flow-style top level)
    falls back to such a dump.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from .yamlguard import YAMLLimitError, load_one, too_large

    if len(text) > MAX_OVERLAY_BYTES:
        raise WriteError(too_large(MAX_OVERLAY_BYTES))
    yaml = YAML(typ="rt")
    try:
        source = text.decode("utf-8")
        data = load_one(yaml, source)
    except YAMLLimitError as exc:
        raise WriteError(str(exc)) from None
    except (YAMLError, UnicodeDecodeError) as exc:
        raise WriteError(f"is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not hasattr(data, "keys"):
        raise WriteError("is not a Kustomization (its top level is not a mapping)")
    old = data.get("images")
    old_items = list(old) if isinstance(old, list) else []
    actions, appended = _merge_images(old_items, images or [])
    merged = _merged(old_items, actions, appended)
    if "images" not in data and not merged:
        return text
    if "images" in data and merged and isinstance(old, list) and old == merged:
        return text
    spliced = _splice_images(source, data, merged, actions, appended)
    if spliced is not None:
        return spliced.encode("utf-8")
    return _dump_with_images(data, merged, images or [])


_KEEP = object()  # an action of _merge_images: the user's entry stays as written


def _merge_images(old: list, images: list) -> tuple[list, list]:
    """What becomes of each entry of the old `images:` list, and the new entries to append.

    An action is _KEEP (an entry Setlist does not manage), the new entry that replaces a
    managed one, or None (a second entry for a managed name, which would shadow or be
    shadowed by Setlist's). Entries Setlist manages but the list lacks are appended.
    """
    pending: dict[str, list] = {}
    for entry in images:
        pending.setdefault(entry.get("name"), []).append(entry)
    managed = set(pending)
    actions: list = []
    for item in old:
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in managed:
            queue = pending[name]
            actions.append(queue.pop(0) if queue else None)
        else:
            actions.append(_KEEP)
    left = {id(entry) for queue in pending.values() for entry in queue}
    return actions, [entry for entry in images if id(entry) in left]


def _merged(old: list, actions: list, appended: list) -> list:
    return [item if action is _KEEP else action
            for item, action in zip(old, actions, strict=True) if action is not None] + appended


def _splice_images(source: str, data, merged: list, actions: list,
                   appended: list) -> str | None:
    """``source`` with the lines of its top-level `images:` entry changed to give
    ``merged``; None when the result would not read back as ``data`` with only `images`
    changed (to ``merged``)."""
    from ruamel.yaml import YAML

    lines = source.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    keys = list(data.keys())
    if "images" in data:
        start, column = data.lc.key("images")
        index = keys.index("images")
        if column != 0 or any(data.lc.key(k)[1] != 0 for k in keys):
            return None
        end = data.lc.key(keys[index + 1])[0] if index + 1 < len(keys) else len(lines)
        # Blank lines, comments at the margin and document markers after the list belong
        # to what follows it.
        while end - 1 > start and (not lines[end - 1].strip() or
                                   lines[end - 1].startswith(("#", "---", "..."))):
            end -= 1
        head, tail = "".join(lines[:start]), "".join(lines[end:])
        items = _splice_items(lines, start, end, data["images"], actions, appended, newline)
        results = [head + items + tail] if items is not None else []
        # The whole entry rendered anew: for a flow-style or empty list, or a layout of its
        # items that the item splice does not handle.
        block = _images_block(merged, newline)
        if block is not None:
            results.append(head + block + tail)
    else:
        if not source.endswith("\n"):
            source += newline
        block = _images_block(merged, newline)
        results = [source + block] if block is not None else []
    expected = {k: v for k, v in data.items() if k != "images"}
    for result in results:
        try:
            check = YAML(typ="rt").load(result)
        except Exception:  # any doubt means: do not splice
            continue
        if hasattr(check, "keys") and \
                {k: v for k, v in check.items() if k != "images"} == expected and \
                (check.get("images") or None) == (merged or None):
            return result
    return None


def _images_block(merged: list, newline: str) -> str | None:
    """The emitter's rendering of a whole `images:` entry ("" for none); None when an entry
    of the user's holds something the emitter cannot write (such as a date)."""
    from .emit import dump

    if not merged:
        return ""
    try:
        return dump([{"images": merged}]).replace("\n", newline)
    except Exception:  # the user's entries may hold anything ruamel.yaml reads
        return None


def _splice_items(lines: list[str], start: int, end: int, seq, actions: list,
                  appended: list, newline: str) -> str | None:
    """Lines ``start:end`` (the `images:` entry, a block sequence) with only the lines of
    replaced and dropped items changed and the appended items added after the last one;
    None for a layout this does not handle (flow style, an item not on its dash's line)."""
    from ruamel.yaml.comments import CommentedSeq

    if not isinstance(seq, CommentedSeq) or not seq or seq.fa.flow_style():
        return None
    firsts: list[int] = []
    dashes: list[int] = []
    for i in range(len(seq)):
        line, column = seq.lc.item(i)
        if not start < line < end or (firsts and line <= firsts[-1]):
            return None
        text = lines[line]
        dash = len(text) - len(text.lstrip(" "))
        if text[dash:dash + 1] != "-" or column <= dash:
            return None
        firsts.append(line)
        dashes.append(dash)
    out = lines[start:firsts[0]]
    for i, action in enumerate(actions):
        first = firsts[i]
        after = firsts[i + 1] if i + 1 < len(firsts) else end
        # Blank lines and comments after an item's last line belong to what follows it.
        stop = after
        while stop - 1 > first and (not lines[stop - 1].strip() or
                                    lines[stop - 1].lstrip(" ").startswith("#")):
            stop -= 1
        if action is _KEEP or action == seq[i]:
            out.extend(lines[first:stop])
        elif action is not None:
            _add_item(out, action, dashes[i], newline)
        if i == len(actions) - 1:
            for entry in appended:
                _add_item(out, entry, dashes[i], newline)
        out.extend(lines[stop:after])
    return "".join(out)


def _add_item(out: list[str], entry: dict, indent: int, newline: str) -> None:
    """Append one entry of an `images:` list as the emitter writes it, its dash at
    ``indent``, on a line of its own."""
    from .emit import dump

    if out and not out[-1].endswith("\n"):
        out[-1] += newline
    rendered = dump([{"images": [entry]}]).splitlines(keepends=True)[1:]
    out.append("".join(" " * indent + line for line in rendered).replace("\n", newline))


def _dump_with_images(data, merged: list, images: list) -> bytes:
    """The whole document dumped again (round-trip) with `images` set to ``merged`` (the
    user's entries as read, Setlist's from ``images``): the fallback."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.width = 4096
    ours = {id(entry) for entry in images}
    if merged:
        data["images"] = [_quoted_like_emitter(item) if id(item) in ours else item
                          for item in merged]
    elif "images" in data:
        del data["images"]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue().encode("utf-8")


def _quoted_like_emitter(item: dict) -> dict:
    """Quote the values our emitter would quote (tags like "1.10" or "on" stay strings for
    YAML 1.1 readers too); ruamel.yaml's round-trip dumper resolves by YAML 1.2 only."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    from .emit import _plain_ok

    return {k: v if not isinstance(v, str) or _plain_ok(v) else DoubleQuotedScalarString(v)
            for k, v in item.items()}
