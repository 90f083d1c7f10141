"""Fuzzing archdsl: generated and mutated `.arch` text must end in a diagnostic, never a crash or hang.

Inputs come from two sources, both driven by one `random.Random`; input SEED:N of a run is
`make_input(random.Random("SEED:N"))`, so a reported crash can be replayed (or see `--save`):
- the grammar: a random derivation of grammars/archdsl.lark, walking Lark's own compiled rules,
  depth-bounded, with names, numbers, shapes and paths drawn from tables of likely and hostile
  values (layer words, option names, reserved words, zero, huge and fractional numbers);
- the bundled .arch files, mutated at the token level: deletions, duplications, swaps, inserted
  grammar words and odd numbers, splices from another file, truncation, stray characters,
  deep bracketing;
- small programs whose every user name is one the emitted module uses itself, a Python builtin or a
  torch name, sometimes with a boundary literal (2^63, 1e308, 19 digits): tools/fuzz_names.py.

`check()` sends one input through everything that reads user text: `format_text`, then the
checker (`build`: parse, `use` resolution, expansion, shape inference, budgets, lint) and the
compiler (`compile_source`: the same, then codegen and the guard) and, for networks that
compile, the analysis, summary table and drawing, and the emitted module, built on the meta
device (no memory) and run forward in training and eval mode on an input of the declared shape:
what `check` accepts must run. Anything but `ArchError` is a crash, and so is an input that takes
longer than `--limit` seconds of CPU time, or ten times that on the wall clock (a hang: the CPU
time, because the wall clock of a shared machine measures the other jobs too), and so is an
input on which the two verdicts differ:
`archdsl check` must accept exactly what `archdsl compile` accepts, and reject the rest with the
same diagnostics, and so is a forward whose output shape is not the one shape inference promised.
With `--forward`, small networks are also loaded and run on a random CPU input, both modes.
With `--outputs K`, every K-th input that compiles also goes through the command line with each
kind of output path (FIFO, device, directory, socket, symlinks, the input itself) and with
standard output closed or full: tools/fuzz_outputs.py.

Expansion runs under a smaller layer and repetition budget than the default (the same code paths
at a fraction of the time: a default-budget `x 100000` costs seconds per input).
tests/test_fuzz.py runs a bounded number of these inputs through hypothesis in CI.

    .venv/bin/python tools/fuzz.py [--inputs N] [--seconds S] [--seed K] [--forward] [--outputs K] [--save DIR]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from functools import lru_cache
from pathlib import Path

import fuzz_names
import fuzz_outputs
import lark

from archdsl.analysis.costs import analyse
from archdsl.analysis.summary import table
from archdsl.codes import CODES
from archdsl.drawing.render import drawing
from archdsl.errors import ArchError
from archdsl.frontend.formatter import format_text
from archdsl.layers import SPECS
from archdsl.pipeline import build, compile_source
from archdsl.pytorch.runtime import load, module_from_source
from archdsl.resources import architectures_dir, grammar_text
from archdsl.shapes.limits import Budget

BUDGET = Budget(max_layers=5_000, max_repeat=5_000)

# -- value tables --------------------------------------------------------------------------------
OPTION_NAMES = sorted({o.name for spec in SPECS.values() for o in spec.options})
LAYER_WORDS = sorted(SPECS) + ["conv1", "conv3", "conv5", "conv7", "conv1x7", "conv7x1", "conv0", "conv99999",
                               "maxpool2", "maxpool3", "avgpool3", "maxpool0", "avgpool1x9"]
RESERVED = ["forward", "self", "class", "__init__", "_modules", "None", "True", "out", "training", "nn", "torch",
            "in_channels", "x", "input", "lambda", "super", "F", "Tensor", "__import__", "exec"]
PLAIN_NAMES = ["a", "b", "c", "n", "k", "depth", "width", "num_classes", "stage", "layer1", "conv1", "aux",
               "same", "valid", "up", "to", "if"]
NUMBERS = ["0", "1", "2", "3", "4", "7", "8", "16", "64", "255", "1000", "4096", "65536", "99999", "10000000",
           "99999999999", "9" * 30, "0.0", "0.5", "1.5", "2.", "1e-5", "1e9", "1e300", "1e999", "007",
           *fuzz_names.HUGE]
SHAPES = ["3x32x32", "1x8x8", "3x224x224", "3x1x1", "1x7x7", "3x5x9", "0x8x8", "3x0x0", "1x99999x99999",
          "100000x1000x1000", "3x" + "9" * 25 + "x2"]
# Quoted labels: module names PyTorch takes, and the ones it refuses ('', a '.'), braces good and bad.
LABELS = ['"block1-0"', '"a b"', '""', '"a.b"', '"x{i}"', '"x{"', '"{i - 1}"', '"\\"', '"\u00e9"']
PATHS = ['"blocks/resnet.arch"', '"blocks/inception.arch"', '"missing.arch"', '"/dev/zero"', '"/dev/stdin"',
         '".."', '""', '"/"', '"fuzz.arch"', '"/proc/self/mem"', '"blocks"', '"a\x00b"', '"%s"' % ("a/" * 3000)]
ODD_TEXT = ["\x00", "\r", "\r\n", "\t", "\ufeff", "é", "🧠", "\u2028", "\\", "'", '"', "`", "$", "@", "{{", "}}",
            "#", "/*", "x" * 300, "\n" * 5]


SMALL_INTS = ["1", "2", "3", "4", "8", "16"]
WARNING_CODES = sorted(c for c, d in CODES.items() if d.severity == "warning")
# Codes `allow` refuses: errors, misspellings, other spellings.
ODD_CODES = ["shape-mismatch", "syntax", "bias_before_bn", "Bias-Before-BN", "pool-drops", "x", "allow", "default"]


def _names(rng: random.Random, rule: str = "") -> str:
    """A name for the rule it appears in, mostly one that means something there, sometimes any."""
    likely = {"call": LAYER_WORDS, "default_decl": LAYER_WORDS, "arg": OPTION_NAMES,
              "atom": ["c", "k", "n", "same", "valid", "num_classes", "relu", "hardswish", "act"],
              "stmt": PLAIN_NAMES, "freeze": PLAIN_NAMES}.get(rule, PLAIN_NAMES)
    if rng.random() < 0.85:
        return rng.choice(likely)
    return rng.choice(rng.choice((LAYER_WORDS, PLAIN_NAMES, OPTION_NAMES, RESERVED)))


def _number(rng: random.Random, kind: str) -> str:
    if rng.random() < 0.8:
        return rng.choice(SMALL_INTS if kind == "INT" else ["0.5", "0.1", "1e-5"])
    return rng.choice([n for n in NUMBERS if n.isdigit() == (kind == "INT")])


TERMINALS = {
    "NAME": _names,
    "INT": lambda rng, rule: _number(rng, "INT"),
    "FLOAT": lambda rng, rule: _number(rng, "FLOAT"),
    "SHAPE": lambda rng, rule: rng.choice(SHAPES[:3]) if rng.random() < 0.8 else rng.choice(SHAPES),
    "PAIR": lambda rng, rule: rng.choice(["1x7", "7x1", "3x3", "0x2", "2x0", "99999x1"]),
    "STRING": lambda rng, rule: rng.choice(LABELS if rule == "label" else PATHS),
    "CODE": lambda rng, rule: rng.choice(WARNING_CODES) if rng.random() < 0.85 else rng.choice(ODD_CODES),
}


# -- inputs from the grammar ---------------------------------------------------------------------
class Grammar:
    """Random sentences of a Lark grammar, from its compiled (EBNF-free) rules."""

    def __init__(self, text: str):
        parser = lark.Lark(text, parser="lalr")
        self.literals = {t.name: t.pattern.value for t in parser.terminals
                         if isinstance(t.pattern, lark.lexer.PatternStr)}
        self.rules: dict[str, list[list[tuple[str, bool]]]] = {}
        for rule in parser.rules:
            self.rules.setdefault(rule.origin.name, []).append([(s.name, s.is_term) for s in rule.expansion])
        self.height = self._heights()

    def _heights(self) -> dict[str, int]:
        """The least derivation depth of every rule: beyond the depth limit, take the shortest way out."""
        height = {name: 10**9 for name in self.rules}
        changed = True
        while changed:
            changed = False
            for name, expansions in self.rules.items():
                best = min(1 + max([height[s] for s, term in e if not term], default=0) for e in expansions)
                if best < height[name]:
                    height[name], changed = best, True
        return height

    def _height_of(self, expansion: list[tuple[str, bool]]) -> int:
        return max([self.height[s] for s, term in expansion if not term], default=0)

    def sentence(self, rng: random.Random, max_depth: int, start: str = "start") -> str:
        out: list[str] = []
        self._derive(start, rng, max_depth, out)
        return "".join(out)

    def _derive(self, name: str, rng: random.Random, budget: int, out: list[str]) -> None:
        expansions = self.rules[name]
        if budget <= 0:  # out of depth: only the expansions that end soonest
            least = min(self._height_of(e) for e in expansions)
            expansions = [e for e in expansions if self._height_of(e) == least]
        for symbol, is_term in rng.choice(expansions):
            if not is_term:
                self._derive(symbol, rng, budget - 1, out)
                continue
            out.append(self.literals[symbol] if symbol in self.literals else TERMINALS[symbol](rng, name))
            out.append(_separator(rng))


def _separator(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.02:
        return ""  # two tokens run together: `conv3` `x` -> `conv3x`
    if roll < 0.04:
        return "  # a comment\n"
    return "\n" if roll < 0.15 else " "


@lru_cache(maxsize=1)
def grammar() -> Grammar:
    return Grammar(grammar_text())


# -- inputs mutated from the bundled files -------------------------------------------------------
_TOKEN = re.compile(r"#[^\n]*|\s+|[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\"[^\"\n]*\"|//|.",
                    re.DOTALL)


@lru_cache(maxsize=1)
def seeds() -> tuple[tuple[Path, str], ...]:
    files = sorted(architectures_dir().rglob("*.arch"))
    return tuple((p, p.read_text(encoding="utf-8")) for p in files)


def _vocabulary(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(sorted(grammar().literals.values()))
    if roll < 0.7:
        return _names(rng, rng.choice(("call", "arg", "stmt", "")))
    if roll < 0.9:
        return rng.choice(NUMBERS)
    return rng.choice(ODD_TEXT + SHAPES + PATHS)


def _span(rng: random.Random, tokens: list[str], longest: int = 12) -> tuple[int, int]:
    start = rng.randrange(len(tokens) + 1)
    return start, min(len(tokens), start + rng.randint(1, longest))


def _mutate_once(rng: random.Random, tokens: list[str]) -> list[str]:
    if not tokens:
        return [_vocabulary(rng)]
    i, j = _span(rng, tokens)
    k = rng.randrange(len(tokens))
    kind = rng.randrange(12)
    if kind == 0:  # delete one token
        return tokens[:k] + tokens[k + 1:]
    if kind == 1:  # delete a run
        return tokens[:i] + tokens[j:]
    if kind == 2:  # duplicate a run
        return tokens[:j] + tokens[i:j] + tokens[j:]
    if kind == 3:  # swap two tokens
        m = rng.randrange(len(tokens))
        tokens = list(tokens)
        tokens[k], tokens[m] = tokens[m], tokens[k]
        return tokens
    if kind == 4:  # insert a word, number or piece of punctuation
        return tokens[:k] + [_vocabulary(rng), rng.choice(("", " "))] + tokens[k:]
    if kind == 5:  # replace a number
        numbers = [n for n, t in enumerate(tokens) if t[:1].isdigit()] or [k]
        n = rng.choice(numbers)
        return tokens[:n] + [rng.choice(NUMBERS)] + tokens[n + 1:]
    if kind == 6:  # replace a name
        names = [n for n, t in enumerate(tokens) if t[:1].isalpha() or t[:1] == "_"] or [k]
        n = rng.choice(names)
        return tokens[:n] + [_names(rng, rng.choice(("call", "arg", "stmt", "")))] + tokens[n + 1:]
    if kind == 7:  # splice a run of another file
        other = _TOKEN.findall(rng.choice(seeds())[1])
        a, b = _span(rng, other, 40)
        return tokens[:i] + other[a:b] + tokens[j:]
    if kind == 8:  # truncate
        return tokens[:k]
    if kind == 9:  # wrap a run in brackets, a residual, a repetition or a condition
        depth = rng.choice((1, 1, 2, 50, 300))
        opener, closer = rng.choice((("(", ")"), ("residual<", ">"), ("inception<", "|relu>"), ("side<", ">"),
                                     ("output<", ">"), ("gate<", ">"), ("gate<", "|sigmoid>"), ("split<", "|identity>"),
                                     ("(", ") x 3"), ("(", ") if false"), ("concat<", "|()>"),
                                     ("concat(flat)<", "|relu>")))
        return tokens[:i] + [opener] * depth + tokens[i:j] + [closer] * depth + tokens[j:]
    if kind == 10:  # a stray character between tokens
        return tokens[:k] + [rng.choice(ODD_TEXT)] + tokens[k:]
    cut = rng.randint(0, len(tokens[k]))  # ... or inside one: a name, a number, a quoted path
    return tokens[:k] + [tokens[k][:cut] + rng.choice(ODD_TEXT) + tokens[k][cut:]] + tokens[k + 1:]


def mutated(rng: random.Random) -> tuple[str, Path]:
    path, text = rng.choice(seeds())
    tokens = _TOKEN.findall(text)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        tokens = _mutate_once(rng, tokens)
    return "".join(tokens), path


def generated(rng: random.Random) -> tuple[str, Path]:
    g, depth = grammar(), rng.randint(3, 14)
    if rng.random() < 0.15:
        text = g.sentence(rng, depth)  # anything the grammar allows: often no network, or several
    else:  # the usual shape of a file: a few blocks, then one network
        text = "".join(g.sentence(rng, depth, "block_def") + "\n" for _ in range(rng.randint(0, 2)))
        text += g.sentence(rng, depth, "network")
    return text, architectures_dir() / "fuzz.arch"


def colliding(rng: random.Random) -> tuple[str, Path]:
    return fuzz_names.collisions(rng), architectures_dir() / "fuzz.arch"


def make_input(rng: random.Random) -> tuple[str, Path]:
    """One input and the path it pretends to live at (its `use` paths resolve from there)."""
    roll = rng.random()
    return (generated if roll < 0.35 else colliding if roll < 0.5 else mutated)(rng)


# -- the oracle ----------------------------------------------------------------------------------
class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in archdsl can swallow it."""


class Disagreement(AssertionError):
    """`build` (what `archdsl check` runs) and `compile_source` gave different verdicts on one input."""


class ForwardMismatch(AssertionError):
    """The emitted module ran, but its output's shape is not the one shape inference promised."""


def check(text: str, path: Path, forward: bool = False) -> str:
    """'diagnostic', 'ok' (compiled) or 'ran' (compiled and run) for an input; raises anything else."""
    try:
        format_text(text, str(path))
    except ArchError as exc:
        exc.render()
    ir, checked = _verdict(build, text, path)
    emitted, compiled = _verdict(compile_source, text, path)
    if checked != compiled:
        raise Disagreement(f"check says {checked or 'ok'!r:.300} but compile says {compiled or 'ok'!r:.300}")
    if ir is None:
        return "diagnostic"
    analysis = analyse(ir)
    table(analysis)
    drawing(ir).graph.source  # noqa: B018 -- writing the DOT text is the point
    run_on_meta(emitted, path, ir)
    # Forward only small networks: the point is shape agreement, and a 4,000-layer run can pass the
    # per-input time limit on a busy machine without anything hanging (seed 400 found one, 8 s idle).
    small = len(ir.layers) <= 1_000 and analysis.params <= 1_000_000
    if forward and small and max(_numel(x.out_shape) for x in ir.enabled_layers()) <= 10**6:
        _forward(text, path, ir)
        return "ran"
    return "ok"


def _verdict(stage, text: str, path: Path):
    """(the stage's result, None) when it accepts the input; (None, its rendered diagnostics) when not."""
    try:
        return stage(path, source=text, budget=BUDGET), None
    except ArchError as exc:
        return None, exc.render()


def _numel(shape: tuple[int, ...] | None) -> int:
    n = 1
    for d in shape or ():
        n *= d
    return n


def run_on_meta(emitted, path: Path, ir) -> None:
    """What check accepts must run: the emitted module, built on the meta device (shapes, no memory,
    so networks of any size), forward in training and in eval mode."""
    import torch

    with torch.device("meta"):
        model = getattr(module_from_source(emitted.source, str(path)), emitted.class_name)()
    _both_modes(model, torch.empty(2, *ir.input_shape, device="meta"), ir)


def _forward(text: str, path: Path, ir) -> None:
    import torch

    _both_modes(load(path, source=text), torch.randn(2, *ir.input_shape), ir)


def _both_modes(model, x, ir) -> None:
    import torch

    expected = (x.shape[0], *ir.layers[ir.output].out_shape)
    for training in (True, False):
        out = model.train(training)(x)
        if isinstance(out, dict):  # named outputs: every entry against its own inferred shape
            got = {name: tuple(t.shape) for name, t in out.items()}
            want = {name: (x.shape[0], *ir.layers[node].out_shape) for name, node in ir.outputs.items()}
            if got != want:
                raise ForwardMismatch(f"forward ({'training' if training else 'eval'}) gives {got}, "
                                      f"shape inference said {want}")
            continue
        main = out if isinstance(out, torch.Tensor) else out[0]
        if tuple(main.shape) != expected:
            raise ForwardMismatch(f"forward ({'training' if training else 'eval'}) gives {tuple(main.shape)}, "
                                  f"shape inference said {expected}")


def outputs_and_streams(text: str) -> None:
    """tools/fuzz_outputs.py's checks, each in a fresh folder (raises OutputBreach)."""
    for oracle in (fuzz_outputs.check_outputs, fuzz_outputs.check_streams):
        folder = Path(tempfile.mkdtemp(prefix="archdsl-fuzz-"))
        try:
            oracle(text, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


SMOKE = "network smoke { input 3x8x8; a: side<gap; flatten; fc-10>; conv3-4; bn; relu; gap; flatten; fc-10 }"


def _alarm(signum, frame):
    raise Hang


def crash_key(exc: BaseException) -> str:
    """Where a crash happened: its type and the innermost archdsl frame, to count each bug once."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "archdsl" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000, help="stop after this many inputs")
    ap.add_argument("--seconds", type=float, default=3600, help="stop after this long")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=float, default=20,
                    help="CPU seconds one input may take before it counts as a hang (wall clock: 10 times as many)")
    ap.add_argument("--forward", action="store_true", help="also load and run small networks that compile")
    ap.add_argument("--outputs", type=int, default=0, metavar="K",
                    help="every K-th input that compiles also goes through the command line's outputs and streams")
    ap.add_argument("--save", type=Path, help="write each new crash's input and traceback here")
    args = ap.parse_args(argv)
    # Before any timer: torch's first import, and the modules its first forward on the meta device
    # imports, can outlast --limit on a busy machine (the first input of a run was counted as a hang).
    check(SMOKE, architectures_dir() / "smoke.arch", forward=True)

    sys.setrecursionlimit(10_000)  # as deep as a user's interpreter may be set; archdsl must not depend on it
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPROF, _alarm)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the run and still prints the count
    outcomes: Counter[str] = Counter()
    crashes: dict[str, tuple[int, str, str]] = {}
    start = last = time.monotonic()
    slowest = (0.0, -1)  # seconds, input
    n = 0
    while n < args.inputs and time.monotonic() - start < args.seconds:
        rng = random.Random(f"{args.seed}:{n}")
        text, path = make_input(rng)
        n += 1
        signal.setitimer(signal.ITIMER_PROF, args.limit)
        signal.setitimer(signal.ITIMER_REAL, 10 * args.limit)  # an input that blocks uses no CPU
        began = time.monotonic()
        try:
            outcome = check(text, path, args.forward)
            outcomes[outcome] += 1
            if args.outputs and outcome != "diagnostic" and (outcomes["ok"] + outcomes["ran"]) % args.outputs == 0:
                outputs_and_streams(text)
                outcomes["outputs"] += 1
            slowest = max(slowest, (time.monotonic() - began, n - 1))
        except KeyboardInterrupt:
            n -= 1  # not finished: not counted
            break
        except (Exception, Hang, RecursionError) as exc:  # noqa: BLE001 -- every escape is what we hunt
            key = crash_key(exc)
            outcomes["crash"] += 1
            if key not in crashes:
                crashes[key] = (n - 1, text, "".join(traceback.format_exception(exc)))
                print(f"CRASH {key} (input {args.seed}:{n - 1}, {path.name})", flush=True)
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    stem = re.sub(r"\W+", "_", key)
                    (args.save / f"{stem}.arch").write_text(text, encoding="utf-8", errors="surrogateescape")
                    (args.save / f"{stem}.txt").write_text(crashes[key][2], encoding="utf-8")
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
        if time.monotonic() - last > 60:
            last = time.monotonic()
            print(f"... {n:,} inputs, {dict(outcomes)}", flush=True)
    elapsed = time.monotonic() - start
    compiled = outcomes["ok"] + outcomes["ran"]
    print(f"ran {n:,} inputs in {elapsed:.0f} s ({n / elapsed:.0f}/s): {compiled:,} compiled "
          f"({outcomes['ran']:,} of them run forward on CPU, {outcomes['outputs']:,} through the outputs "
          f"and streams), {outcomes['diagnostic']:,} diagnostics, "
          f"{outcomes['crash']:,} crashes in {len(crashes)} places; "
          f"slowest input {args.seed}:{slowest[1]} took {slowest[0]:.2f} s")
    for key, (index, text, trace) in crashes.items():
        print(f"\n== {key}: input {args.seed}:{index}\n{text[:2000]!r}\n{trace}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
