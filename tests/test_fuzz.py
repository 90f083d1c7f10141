"""Fuzzing in CI: generated and mutated `.arch` text ends in archdsl's own diagnostics, or compiles;
and `check` (build) and `compile` (compile_source) give it the same verdict.

The inputs and the oracle are tools/fuzz.py's, where the long run lives (its docstring says what
each input goes through). Here hypothesis drives the same generators with its own random
source, a bounded number of times so the suite stays fast; a failure is shrunk and its input
printed. A derandomized run would test the same few hundred inputs forever: each run draws new ones.
"""

from __future__ import annotations

import dataclasses
import random
import sys
from collections import Counter

import pytest
from helpers import ROOT, net

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

sys.path.insert(0, str(ROOT / "tools"))
import fuzz  # tools/ is not a package: found through sys.path
import fuzz_names
import fuzz_outputs

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(text, path) -> str:
    note(f"input ({path.name}): {text!r}")
    return fuzz.check(text, path)  # raises on anything but ArchError


@FUZZ
@given(st.randoms(use_true_random=False))
def test_text_generated_from_the_grammar_gives_only_diagnostics(rng):
    _check(*fuzz.generated(rng))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_bundled_files_give_only_diagnostics(rng):
    _check(*fuzz.mutated(rng))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_programs_named_like_generated_identifiers_give_diagnostics_or_run(rng):
    # Labels, side outputs, blocks and parameters named `identity`, `NOutputs`, `open`, `compile`, ...:
    # what check accepts is built and run forward (meta device) in both modes.
    _check(*fuzz.colliding(rng))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.randoms(use_true_random=False))
def test_outputs_and_standard_streams_keep_their_guarantees(rng):
    # Each output kind (FIFO, device, directory, socket, symlinks, the input) and closed or full streams.
    text = fuzz_names.collisions(rng)
    assume(fuzz.check(text, ROOT / "t.arch") != "diagnostic")
    note(f"input: {text!r}")
    fuzz.outputs_and_streams(text)


def test_the_fuzzer_reaches_past_the_parser():
    # A fuzzer whose inputs all fail in the parser tests nothing behind it: some must compile
    # (and so pass through shapes, lint, codegen, the guard, analysis and drawing).
    rng = random.Random(0)
    outcomes = Counter(fuzz.check(*fuzz.make_input(rng)) for _ in range(150))
    assert outcomes["ok"] >= 5 and outcomes["diagnostic"] >= 50, outcomes


def test_the_fuzzer_counts_a_check_compile_disagreement_as_a_crash(monkeypatch):
    from archdsl.errors import ArchError, Diagnostic

    def refuses(*args, **kwargs):  # a code generator with an error of its own, as there used to be
        raise ArchError(Diagnostic("codegen refuses", code="shape-mismatch"))

    text = net("    conv3-8; gap; flatten; fc-10")
    assert fuzz.check(text, ROOT / "t.arch") == "ok"
    monkeypatch.setattr(fuzz, "compile_source", refuses)
    with pytest.raises(fuzz.Disagreement, match="check says 'ok' but compile says .*codegen refuses"):
        fuzz.check(text, ROOT / "t.arch")


def test_the_fuzzer_counts_a_forward_that_breaks_the_inferred_shape_as_a_crash(monkeypatch):
    real = fuzz.compile_source

    def halves_the_batch(*args, **kwargs):  # an emitted forward that disagrees with shape inference
        emitted = real(*args, **kwargs)
        source = emitted.source.replace("        return x\n", "        return x[:1]\n")
        return dataclasses.replace(emitted, source=source)

    text = net("    conv3-8; gap; flatten; fc-10")
    monkeypatch.setattr(fuzz, "compile_source", halves_the_batch)
    with pytest.raises(fuzz.ForwardMismatch, match=r"\(training\) gives \(1, 10\), shape inference said \(2, 10\)"):
        fuzz.check(text, ROOT / "t.arch")


def test_the_fuzzer_counts_a_replaced_fifo_or_a_traceback_on_a_closed_stdout_as_a_crash(monkeypatch):
    import archdsl.cli.main
    import archdsl.outputs

    text = net("    conv3-8; gap; flatten; fc-10")
    real_target = archdsl.outputs._target  # a writer that replaces streams, as archdsl's once did
    monkeypatch.setattr(archdsl.outputs, "_target", lambda path: dataclasses.replace(real_target(path), stream=False))
    with pytest.raises(fuzz_outputs.OutputBreach, match="a fifo became a file"):
        fuzz.outputs_and_streams(text)
    monkeypatch.undo()
    monkeypatch.setattr(archdsl.cli.main, "_Stdout", lambda stream: stream)  # no guard: print() to None
    with pytest.raises(fuzz_outputs.OutputBreach, match="check with standard output closed"):
        fuzz.outputs_and_streams(text)


def test_the_fuzzers_forward_oracle_checks_every_named_output(monkeypatch):
    text = net("    conv3-8; out: output<conv1-2>; aux: output<gap; flatten>")
    assert fuzz.check(text, ROOT / "t.arch") in ("ok", "ran")  # a dict of outputs passes the oracle
    real = fuzz.compile_source

    def drops_a_row(*args, **kwargs):  # the aux entry disagrees with shape inference
        emitted = real(*args, **kwargs)
        return dataclasses.replace(emitted, source=emitted.source.replace('result["aux"] = x\n',
                                                                          'result["aux"] = x[:1]\n'))

    monkeypatch.setattr(fuzz, "compile_source", drops_a_row)
    with pytest.raises(fuzz.ForwardMismatch, match=r"'aux': \(1, 8\)"):
        fuzz.check(text, ROOT / "t.arch")
