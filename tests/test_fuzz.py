"""A small sample of bench/fuzz.py's campaign, through the same code: generated, near-valid
and mutated specs must yield diagnostics (no traceback, no hang), format idempotently and
without changing their meaning, and compile when they check. docs/hardening.md has the
full campaign."""

from __future__ import annotations

import importlib.util
import sys

from conftest import ROOT

SEED = 20270301
COUNT = 160


def _fuzz():
    spec = importlib.util.spec_from_file_location("setlist_bench_fuzz", ROOT / "bench" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_fuzz_sample_has_no_traceback_hang_or_fmt_violation(tmp_path):
    fuzz = _fuzz()
    stats = fuzz.run(COUNT, SEED, jobs=2, timeout=10.0, out_dir=tmp_path)
    report = fuzz.report(stats, 1.0)
    assert stats.inputs == COUNT, report
    assert not stats.failures, report + "\n\n" + "\n\n".join(
        f"input {o.index} ({o.origin}): {o.detail[-2000:]}" for o in stats.failed[:3])
    # the sample reaches every stage
    assert stats.parsed and stats.checked and stats.compiled and stats.fmt_checked, report
    assert set(stats.origins) == {"generated", "near-valid", "mutated"}, report


def test_inputs_are_made_again_from_their_number():
    fuzz = _fuzz()
    assert [fuzz.make_input(SEED, i) for i in (0, 7, 99)] == \
        [fuzz.make_input(SEED, i) for i in (0, 7, 99)]
    assert fuzz.make_input(SEED, 1) != fuzz.make_input(SEED + 1, 1)


def test_a_failure_is_written_for_reproduction(tmp_path):
    fuzz = _fuzz()
    out = fuzz.Outcome(index=3, origin="mutated", failure="traceback", detail="Traceback ...",
                       signature="check: ValueError x.py:1")
    folder = fuzz.save_failure(tmp_path, SEED, out)
    _, files = fuzz.make_input(SEED, 3)
    assert {p.relative_to(folder / "input").as_posix(): p.read_text("utf-8")
            for p in (folder / "input").rglob("*.setlist")} == files
    assert f"--seed {SEED} --start 3 --count 1" in (folder / "failure.txt").read_text("utf-8")
    assert fuzz.replay(folder).failure is None
