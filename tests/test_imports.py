"""Projects, imports and modules: what `setlist.load` treats as one namespace, and the
SL2xx diagnostics about imports (SL203 to SL207)."""

from __future__ import annotations

import pytest

import setlist
from conftest import write
from setlist.project import UNRESOLVED, LoadError, discover

GITOPS = 'gitops { repo = "https://github.com/example/gitops" }\n'

ENVS = """\
const team = "payments"
const ns = team
environment dev {
  clusters = cluster.env == "dev"
}
environment prod {
  clusters = cluster.env == "prod"
}
"""


def diag_tuples(project):
    return [(d.span.file, d.span.line, d.span.column, d.span.end_line, d.span.end_column,
             d.severity.value, d.code) for d in project.diagnostics]


def only(project, code):
    found = [d for d in project.diagnostics if d.code == code]
    assert len(found) == 1, [str(d) for d in project.diagnostics]
    return found[0]


# ---------------------------------------------------------------- roots and modules


def test_root_files_share_one_namespace(project_dir):
    write(project_dir / "a.setlist", GITOPS + ENVS)
    write(project_dir / "b.setlist", 'app shop {\n  base = "apps/shop"\n'
          '  namespace = ns\n  deploy = [dev, prod]\n}\n')
    project = setlist.load(".")
    assert [str(d) for d in project.diagnostics] == []
    assert sorted(f.key for f in project.roots) == ["a.setlist", "b.setlist"]
    app = project.spec.app("shop")
    assert app.namespace == "payments"
    assert app.deploy == ("dev", "prod")


def test_duplicate_across_root_files_is_sl201(project_dir):
    write(project_dir / "a.setlist", "const x = 1\n")
    write(project_dir / "b.setlist", "const x = 2\n")
    project = setlist.load(".")
    d = only(project, "SL201")
    assert (d.span.file, d.span.line, d.span.column, d.span.end_column) == \
        ("b.setlist", 1, 7, 8)
    assert d.message == "const 'x' is declared twice"
    assert d.related[0].span.file == "a.setlist"
    assert d.related[0].message == "first declared here"


def test_relative_import_with_alias_and_constant_chain(project_dir):
    write(project_dir / "lib" / "envs.setlist", ENVS)
    write(project_dir / "app" / "main.setlist", GITOPS + """\
import "../lib/envs.setlist" as e
app shop {
  base = "apps/shop"
  namespace = e.ns
  deploy = [e.dev, e.prod]
}
""")
    project = setlist.load(".")
    assert [str(d) for d in project.diagnostics] == []
    main = project.files["app/main.setlist"]
    assert main.imports == {"e": "lib/envs.setlist"}
    assert main.is_root
    # lib/envs.setlist lies under the given folder but is imported: a module, not a root.
    assert project.files["lib/envs.setlist"].is_root is False
    assert [f.key for f in project.roots] == ["app/main.setlist"]
    app = project.spec.app("shop")
    assert app.namespace == "payments"  # e.ns -> ns -> team, followed in the module
    assert app.deploy == ("dev", "prod")


def test_import_extension_optional_and_default_alias_is_stem(project_dir):
    write(project_dir / "lib" / "envs.setlist", ENVS)
    write(project_dir / "app" / "main.setlist", GITOPS + """\
import "../lib/envs"
app shop {
  base = "apps/shop"
  namespace = envs.team
  deploy = [envs.dev]
}
""")
    project = setlist.load("app")  # lib/ is not given: reached through the import only
    assert [str(d) for d in project.diagnostics] == []
    assert project.files["app/main.setlist"].imports == {"envs": "lib/envs.setlist"}
    assert set(project.files) == {"app/main.setlist", "lib/envs.setlist"}
    assert project.spec.app("shop").namespace == "payments"


def test_same_dir_import_with_dot_slash(project_dir):
    write(project_dir / "shared.setlist", 'const ns = "shared"\n')
    write(project_dir / "main.setlist", GITOPS + ENVS + """\
import "./shared"
app shop {
  base = "apps/shop"
  namespace = shared.ns
  deploy = [dev]
}
""")
    project = setlist.load(".")
    assert [str(d) for d in project.diagnostics] == []
    assert project.spec.app("shop").namespace == "shared"


def test_file_given_explicitly_but_imported_is_a_module(project_dir):
    write(project_dir / "lib.setlist", "const x = 1\n")
    write(project_dir / "main.setlist", 'import "./lib"\nconst y = lib.x\n')
    project = setlist.load("main.setlist", "lib.setlist")
    assert {k: f.is_root for k, f in project.files.items()} == \
        {"lib.setlist": False, "main.setlist": True}


def test_module_has_its_own_namespace(project_dir):
    # Root and module both declare const 'team': separate namespaces, no duplicate.
    write(project_dir / "lib" / "envs.setlist", ENVS)
    write(project_dir / "main.setlist", GITOPS + """\
import "./lib/envs"
const team = "shop"
app shop {
  base = "apps/shop"
  namespace = team
  labels = { owner: envs.team }
  deploy = [envs.dev, prod]
}
""")
    project = setlist.load(".")
    # 'prod' is declared only in the module, so unqualified it is unknown in the root.
    assert [str(d) for d in project.diagnostics] == \
        ["main.setlist:8:23: error[SL200]: unknown environment 'prod'"]
    assert project.diagnostics[0].span.end_column == 27
    app = project.spec.app("shop")
    assert app.namespace == "shop"
    assert app.labels == (("owner", "payments"),)


def test_same_block_name_in_module_and_root_collides(project_dir):
    # Blocks become generated objects, so a root and a module may not both declare 'dev'.
    write(project_dir / "lib" / "envs.setlist", ENVS)
    write(project_dir / "main.setlist", GITOPS + """\
import "./lib/envs"
environment dev { clusters = cluster.env == "dev" }
app shop { base = "apps/shop" namespace = "shop" deploy = [envs.dev] }
""")
    project = setlist.load(".")
    d = only(project, "SL201")
    assert (d.span.file, d.span.line, d.span.column, d.span.end_column) == \
        ("main.setlist", 3, 13, 16)
    assert d.message == ("environment 'dev' is also declared in another module; "
                         "the generated names would collide")
    assert [(r.span.file, r.span.line, r.message) for r in d.related] == \
        [("lib/envs.setlist", 3, "first declared here")]


def test_std_sync_import_gives_presets(project_dir):
    write(project_dir / "main.setlist", GITOPS + ENVS + """\
import "std/sync"
app shop {
  base = "apps/shop"
  namespace = "shop"
  deploy = [dev]
  sync = sync.auto_no_prune
}
""")
    project = setlist.load(".")
    assert [str(d) for d in project.diagnostics] == []
    assert project.files["main.setlist"].imports == {"sync": "std/sync.setlist"}
    assert project.files["std/sync.setlist"].is_root is False
    policy = project.spec.app("shop").sync
    assert (policy.automated, policy.prune, policy.self_heal) == (True, False, True)
    assert policy.options == ("CreateNamespace=true",)


# ---------------------------------------------------------------- SL204 import not found


def test_missing_relative_import_is_sl204_at_path(project_dir):
    write(project_dir / "app" / "main.setlist", 'const a = 1\nimport "./missing.setlist" as m\n')
    project = setlist.load(".")
    assert diag_tuples(project) == [("app/main.setlist", 2, 8, 2, 27, "error", "SL204")]
    d = project.diagnostics[0]
    assert d.message == "cannot find './missing.setlist' (looked for app/missing.setlist)"
    assert d.hints == ("paths are relative to the importing file's folder",)
    # The alias stays bound, to no loaded file, so that its uses are not reported again.
    target = project.files["app/main.setlist"].imports["m"]
    assert target.startswith(UNRESOLVED) and target not in project.files
    assert set(project.files) == {"app/main.setlist"}


def test_uses_of_a_failed_import_are_not_unknown_modules(project_dir):
    write(project_dir / "main.setlist", GITOPS + ENVS + """\
import "./nope" as n
import "std/nah"
app shop {
  base = "apps/shop"
  namespace = "shop"
  deploy = [dev, n.prod, nah.dev]
}
""")
    project = setlist.load("main.setlist")
    assert [(d.span.line, d.span.column, d.code) for d in project.diagnostics] == \
        [(10, 8, "SL204"), (11, 8, "SL204")]


def test_value_from_a_failed_import_has_no_follow_on_error(project_dir):
    write(project_dir / "main.setlist", GITOPS + ENVS + """\
import "./nope" as n
import "std/nah"
app shop {
  base = "apps/shop"
  namespace = n.ns
  deploy = [dev]
  sync = nah.auto
}
""")
    project = setlist.load("main.setlist")
    assert [(d.span.line, d.span.column, d.code) for d in project.diagnostics] == \
        [(10, 8, "SL204"), (11, 8, "SL204")]


def test_unreadable_imported_file_is_sl204_not_a_crash(project_dir):
    (project_dir / "bin.setlist").write_bytes(b'const x = "\xff\xfe"\n')
    write(project_dir / "main.setlist", 'import "./bin"\nimport "./bin" as again\n')
    project = setlist.load("main.setlist")
    assert [(d.span.line, d.span.column, d.span.end_column, d.code)
            for d in project.diagnostics] == [(1, 8, 15, "SL204"), (2, 8, 15, "SL204")]
    d = project.diagnostics[0]
    assert d.message == "cannot read bin.setlist: not UTF-8 text (invalid start byte)"
    assert d.hints == ("save the file as UTF-8 text",)


def test_unreadable_file_named_on_command_line_raises(project_dir):
    (project_dir / "bin.setlist").write_bytes(b'const x = "\xff"\n')
    with pytest.raises(LoadError, match=r"^bin\.setlist: not UTF-8 text"):
        setlist.load("bin.setlist")


def test_missing_import_without_extension_looks_for_setlist_file(project_dir):
    write(project_dir / "app" / "main.setlist", 'import "../nowhere/envs"\n')
    project = setlist.load("app")
    d = only(project, "SL204")
    assert (d.span.file, d.span.line, d.span.column, d.span.end_column) == \
        ("app/main.setlist", 1, 8, 25)
    assert d.message == "cannot find '../nowhere/envs' (looked for nowhere/envs.setlist)"


def test_bare_import_path_is_sl204_with_dot_slash_hint(project_dir):
    write(project_dir / "envs.setlist", ENVS)
    write(project_dir / "main.setlist", 'import "envs.setlist"\n')
    project = setlist.load("main.setlist")
    d = only(project, "SL204")
    assert (d.span.line, d.span.column, d.span.end_column) == (1, 8, 22)
    assert d.message == "import path 'envs.setlist' is neither relative nor a std module"
    assert d.hints == ('write "./envs.setlist" for a file next to this one',)


def test_unknown_std_module_lists_available_ones(project_dir):
    write(project_dir / "main.setlist", 'import "std/nope"\n')
    project = setlist.load(".")
    d = only(project, "SL204")
    assert (d.span.file, d.span.line, d.span.column, d.span.end_column) == \
        ("main.setlist", 1, 8, 18)
    assert d.message == "the standard library has no module 'std/nope'"
    assert len(d.hints) == 1 and d.hints[0].startswith("available: ")
    available = d.hints[0].removeprefix("available: ").split(", ")
    assert "std/sync" in available
    assert available == sorted(available)
    assert all(a.startswith("std/") and not a.endswith(".setlist") for a in available)


# ---------------------------------------------------------------- SL205 cycles


def test_two_file_cycle_reported_once_at_closing_import(project_dir):
    write(project_dir / "a.setlist", 'import "./b"\nconst x = b.y\n')
    write(project_dir / "b.setlist", 'const y = 1\n\nimport "./a"\nconst z = a.x\n')
    project = setlist.load(".")
    cycles = [d for d in project.diagnostics if d.code == "SL205"]
    assert len(cycles) == 1, [str(d) for d in project.diagnostics]
    d = cycles[0]
    assert (d.span.file, d.span.line, d.span.column, d.span.end_column) == \
        ("b.setlist", 3, 8, 13)
    assert d.message == "import cycle: a.setlist → b.setlist → a.setlist"
    assert d.hints == ("move what both files need into a third module",)


def test_three_file_cycle_reported_once(project_dir):
    write(project_dir / "a.setlist", 'import "./b"\nconst x = b.y\n')
    write(project_dir / "b.setlist", 'import "./c"\nconst y = c.z\n')
    write(project_dir / "c.setlist", 'import "./a"\nconst z = 1\nconst w = a.x\n')
    project = setlist.load(".")
    cycles = [d for d in project.diagnostics if d.code == "SL205"]
    assert [str(d) for d in cycles] == [
        ("c.setlist:1:8: error[SL205]: import cycle: a.setlist → b.setlist → c.setlist → "
         "a.setlist")]


def test_cycle_below_a_root_is_reported_once(project_dir):
    write(project_dir / "main.setlist", 'import "./lib/a"\nconst m = a.x\n')
    write(project_dir / "lib" / "a.setlist", 'import "./b"\nconst x = b.y\n')
    write(project_dir / "lib" / "b.setlist", 'import "./a"\nconst y = 1\nconst q = a.x\n')
    project = setlist.load("main.setlist")
    cycles = [str(d) for d in project.diagnostics if d.code == "SL205"]
    assert cycles == [("lib/b.setlist:1:8: error[SL205]: import cycle: lib/a.setlist → "
                       "lib/b.setlist → lib/a.setlist")]


def test_self_import_is_a_cycle(project_dir):
    write(project_dir / "me.setlist", 'import "./me"\nconst q = 1\nconst r = me.q\n')
    project = setlist.load(".")
    assert [str(d) for d in project.diagnostics if d.code == "SL205"] == [
        "me.setlist:1:8: error[SL205]: import cycle: me.setlist → me.setlist"]


# ---------------------------------------------------------------- SL206 duplicate alias


def test_duplicate_alias_is_sl206_with_related_first_import(project_dir):
    write(project_dir / "lib" / "envs.setlist", ENVS)
    write(project_dir / "other" / "envs.setlist", ENVS)
    write(project_dir / "main.setlist", 'import "./lib/envs"\n'
          'import "./other/envs.setlist" as envs\nconst n = envs.ns\n')
    project = setlist.load("main.setlist")
    d = only(project, "SL206")
    assert (d.span.file, d.span.line, d.span.column, d.span.end_column) == \
        ("main.setlist", 2, 34, 38)
    assert d.message == "the alias 'envs' is already used by another import"
    assert d.hints == ("give this import another name with 'as'",)
    assert [(r.span.line, r.span.column, r.message) for r in d.related] == \
        [(1, 1, "first import")]
    # The first import wins.
    assert project.files["main.setlist"].imports == {"envs": "lib/envs.setlist"}


def test_duplicate_default_alias_points_at_whole_import(project_dir):
    write(project_dir / "a" / "x.setlist", "const v = 1\n")
    write(project_dir / "b" / "x.setlist", "const v = 2\n")
    write(project_dir / "main.setlist", 'import "./a/x"\nimport "./b/x"\nconst n = x.v\n')
    project = setlist.load("main.setlist")
    d = only(project, "SL206")
    assert (d.span.line, d.span.column, d.span.end_line, d.span.end_column) == (2, 1, 2, 15)


def test_different_aliases_for_same_name_are_fine(project_dir):
    write(project_dir / "a" / "x.setlist", 'const v = "one"\n')
    write(project_dir / "b" / "x.setlist", 'const v = "two"\n')
    write(project_dir / "main.setlist", GITOPS + ENVS +
          'import "./a/x"\nimport "./b/x" as y\n'
          'app shop { base = "apps/shop" namespace = x.v labels = { other: y.v } '
          'deploy = [dev] }\n')
    project = setlist.load("main.setlist")
    assert [str(d) for d in project.diagnostics] == []
    app = project.spec.app("shop")
    assert (app.namespace, app.labels) == ("one", (("other", "two"),))


# ---------------------------------------------------------------- SL207 unused import


def test_unused_import_is_sl207_warning(project_dir):
    write(project_dir / "lib.setlist", "const v = 1\n")
    write(project_dir / "main.setlist", 'import "./lib.setlist" as helpers\n'
          'import "std/sync"\nconst z = 3\n')
    project = setlist.load("main.setlist")
    assert diag_tuples(project) == [
        ("main.setlist", 1, 27, 1, 34, "warning", "SL207"),
        ("main.setlist", 2, 1, 2, 18, "warning", "SL207"),
    ]
    assert [d.message for d in project.diagnostics] == [
        "the module imported as 'helpers' is never used",
        "the module imported as 'sync' is never used",
    ]
    assert project.diagnostics[0].hints == ("remove the import",)
    assert project.ok and not project.errors
    assert len(project.warnings) == 2


def test_import_used_only_in_a_constant_is_used(project_dir):
    write(project_dir / "main.setlist", 'import "std/sync"\nconst preset = sync.auto\n')
    project = setlist.load("main.setlist")
    assert [str(d) for d in project.diagnostics] == []


# ---------------------------------------------------------------- SL203 unknown member


def test_unknown_member_kind_reference_is_sl203_with_suggestion(project_dir):
    write(project_dir / "lib" / "envs.setlist", ENVS)
    write(project_dir / "main.setlist", GITOPS + """\
import "./lib/envs"
app shop {
  base = "apps/shop"
  namespace = "shop"
  deploy = [envs.dev, envs.prdo]
}
""")
    project = setlist.load("main.setlist")
    d = only(project, "SL203")
    assert (d.span.file, d.span.line, d.span.column, d.span.end_column) == \
        ("main.setlist", 6, 28, 32)
    assert d.message == "module 'envs' has no environment 'prdo'"
    assert d.hints == ("did you mean 'prod'?",)


def test_unknown_member_value_reference_is_sl203_with_suggestion(project_dir):
    write(project_dir / "main.setlist", GITOPS + ENVS + """\
import "std/sync"
app shop {
  base = "apps/shop"
  namespace = "shop"
  deploy = [dev]
  sync = sync.auto_retyr
}
""")
    project = setlist.load("main.setlist")
    d = only(project, "SL203")
    assert (d.span.line, d.span.column, d.span.end_column) == (15, 15, 25)
    assert d.message == "module 'sync' has no 'auto_retyr'"
    assert d.hints == ("did you mean 'auto_retry'?",)
    assert [x.code for x in project.diagnostics] == ["SL203"]  # no follow-on type error


def test_unknown_module_alias_is_sl200(project_dir):
    write(project_dir / "main.setlist", GITOPS + ENVS + """\
app shop {
  base = "apps/shop"
  namespace = "shop"
  deploy = [dev, envz.prod]
}
""")
    project = setlist.load("main.setlist")
    d = only(project, "SL200")
    assert (d.span.line, d.span.column, d.span.end_column) == (13, 18, 22)
    assert d.message == "unknown module 'envz'"
    assert d.hints == ('import it first: import "./envz.setlist" as envz',)


# ---------------------------------------------------------------- constants across modules


def test_constants_follow_through_several_modules(project_dir):
    write(project_dir / "lib" / "base.setlist", 'const org = "example"\n')
    write(project_dir / "lib" / "names.setlist",
          'import "./base"\nconst team = base.org\nconst ns = "${team}-apps"\n')
    write(project_dir / "main.setlist", GITOPS + ENVS + """\
import "./lib/names"
const local = names.ns
app shop {
  base = "apps/shop"
  namespace = local
  labels = { team: names.team }
  deploy = [dev]
}
""")
    project = setlist.load("main.setlist")
    assert [str(d) for d in project.diagnostics] == []
    app = project.spec.app("shop")
    assert (app.namespace, app.labels) == ("example-apps", (("team", "example"),))


def test_constant_cycle_in_one_file_is_sl208(project_dir):
    write(project_dir / "main.setlist", GITOPS + ENVS +
          "const a = b\nconst b = a\n"
          'app shop { base = a namespace = "shop" deploy = [dev] }\n')
    project = setlist.load("main.setlist")
    assert [(d.span.line, d.span.column, d.code) for d in project.diagnostics] == \
        [(10, 7, "SL208")]
    d = project.diagnostics[0]
    assert "'a'" in d.message
    assert [(r.span.line, r.span.column) for r in d.related] == [(11, 7)]


def test_constant_cycle_across_modules_is_sl208(project_dir):
    write(project_dir / "lib" / "a.setlist", 'import "./b"\nconst a = b.b\n')
    write(project_dir / "lib" / "b.setlist", 'import "./a"\nconst b = a.a\n')
    write(project_dir / "main.setlist", GITOPS + ENVS +
          'import "./lib/a"\n'
          'app shop { base = a.a namespace = "shop" deploy = [dev] }\n')
    project = setlist.load("main.setlist")
    assert [(d.span.file, d.span.line, d.span.column, d.code)
            for d in project.diagnostics] == [
        ("lib/a.setlist", 2, 7, "SL208"),
        ("lib/b.setlist", 1, 8, "SL205"),
    ]
    assert [(r.span.file, r.span.line) for r in project.diagnostics[0].related] == \
        [("lib/b.setlist", 2)]


# ---------------------------------------------------------------- discovery and loading


def test_discover_sorts_and_skips_hidden_and_tool_dirs(project_dir):
    for rel in ["b.setlist", "a/z.setlist", "a/b.setlist", ".hidden/x.setlist",
                ".venv/lib/x.setlist", "node_modules/pkg/x.setlist", "c/notes.txt",
                "c/.dot.setlist"]:
        write(project_dir / rel, "const x = 1\n")
    found = [p.as_posix() for p in discover(["."])]
    assert found == ["a/b.setlist", "a/z.setlist", "b.setlist", "c/.dot.setlist"]


def test_missing_path_raises_load_error(project_dir):
    with pytest.raises(LoadError, match=r"^nothere\.setlist: no such file or directory$"):
        setlist.load("nothere.setlist")


def test_directory_without_setlist_files_loads_nothing(project_dir):
    write(project_dir / "docs" / "readme.md", "# nothing\n")
    project = setlist.load("docs")
    assert project.files == {}
    assert project.diagnostics == []


def test_project_folder_named_std_is_read_from_disk(project_dir):
    # A user folder called std/ must not be mistaken for the standard library.
    write(project_dir / "std" / "mine.setlist", "const x = \n")
    project = setlist.load(".")
    assert project.files["std/mine.setlist"].text == "const x = \n"
    assert [(d.span.file, d.code) for d in project.diagnostics] == \
        [("std/mine.setlist", "SL104")]


# ---------------------------------------------------------------- overrides (editor buffers)


def test_override_replaces_disk_content(project_dir):
    write(project_dir / "main.setlist", "const x = 1\n")
    project = setlist.load(".", overrides={"main.setlist": "const x = 1\nconst x = 2\n"})
    assert list(project.files) == ["main.setlist"]
    assert project.files["main.setlist"].text == "const x = 1\nconst x = 2\n"
    assert [str(d) for d in project.diagnostics] == \
        ["main.setlist:2:7: error[SL201]: const 'x' is declared twice"]


def test_override_with_absolute_or_dotted_key_replaces_the_same_file(project_dir):
    write(project_dir / "main.setlist", "const x = 1\n")
    text = "const x = 1\nconst x = 2\n"
    for key in [str(project_dir / "main.setlist"), "./main.setlist", project_dir / "main.setlist"]:
        project = setlist.load(".", overrides={key: text})
        assert list(project.files) == ["main.setlist"], key
        assert [d.code for d in project.diagnostics] == ["SL201"], key


def test_override_adds_a_new_root_file(project_dir):
    write(project_dir / "a.setlist", "const x = 1\n")
    project = setlist.load(".", overrides={"b.setlist": "const y = x\nconst x = 3\n"})
    assert sorted(project.files) == ["a.setlist", "b.setlist"]
    assert all(f.is_root for f in project.files.values())
    d = only(project, "SL201")
    assert (d.span.file, d.span.line) == ("b.setlist", 2)


def test_override_supplies_an_imported_module_not_on_disk(project_dir):
    write(project_dir / "main.setlist", GITOPS + ENVS +
          'import "./lib/unsaved"\n'
          'app shop { base = "apps/shop" namespace = unsaved.ns deploy = [dev] }\n')
    project = setlist.load("main.setlist",
                           overrides={"lib/unsaved.setlist": 'const ns = "fresh"\n'})
    assert [str(d) for d in project.diagnostics] == []
    assert project.files["lib/unsaved.setlist"].is_root is False
    assert project.spec.app("shop").namespace == "fresh"


def test_override_of_imported_module_replaces_disk_text(project_dir):
    write(project_dir / "lib.setlist", 'const ns = "disk"\n')
    write(project_dir / "main.setlist", GITOPS + ENVS +
          'import "./lib"\n'
          'app shop { base = "apps/shop" namespace = lib.ns deploy = [dev] }\n')
    project = setlist.load(".", overrides={"lib.setlist": 'const ns = "buffer"\n'})
    assert [str(d) for d in project.diagnostics] == []
    assert project.spec.app("shop").namespace == "buffer"
    assert [f.key for f in project.roots] == ["main.setlist"]


def test_unreadable_module_imported_by_two_files_reported_at_each(project_dir):
    (project_dir / "lib").mkdir()
    (project_dir / "lib" / "bin.setlist").write_bytes(b"const x = 1 \xff\n")
    write(project_dir / "a.setlist", 'import "./lib/bin"\n')
    write(project_dir / "b.setlist", 'const y = 2\nimport "./lib/bin.setlist" as other\n')
    project = setlist.load("a.setlist", "b.setlist")
    assert [(d.span.file, d.span.line, d.span.column, d.code) for d in project.diagnostics] == \
        [("a.setlist", 1, 8, "SL204"), ("b.setlist", 2, 8, "SL204")]
    assert {d.message for d in project.diagnostics} == \
        {"cannot read lib/bin.setlist: not UTF-8 text (invalid start byte)"}
    assert sorted(f.key for f in project.roots) == ["a.setlist", "b.setlist"]
