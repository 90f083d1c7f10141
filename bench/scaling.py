"""Compiler scaling: parse, check, codegen and load timed separately on 100 to 10,000-layer networks.

Three generated families, every layer written out so the parser sees it all:
  plain     a VGG-like stack: `conv3-16; relu;` statements, one per line
  residual  ResNet basic blocks (conv, bn, relu, conv, bn, shortcut, add, relu) written as block uses
  repeated  the same blocks as one labelled repetition `stage: basic(16) x N` (one nn.Sequential)
Sizes count the layers of the expanded graph. Growth is linear when microseconds per layer stay
flat from 1,000 to 10,000 layers. Goal: 10,000 layers parse + check + codegen under 2 s. The
stages do what `archdsl compile` does: check = expansion, shape inference, budgets and warnings
(lint); codegen = generating the source and the guard's check of it against the IR.

    .venv/bin/python bench/scaling.py [--sizes 100,1000,10000] [--runs 3] [--no-load]
"""

from __future__ import annotations

import argparse
import statistics
import time

import archdsl
from archdsl.collector import gc_paused
from archdsl.frontend.parser import load_program
from archdsl.ir.expansion import expand
from archdsl.pytorch.codegen import generate
from archdsl.pytorch.guard import check_emitted
from archdsl.pytorch.runtime import module_from_source
from archdsl.shapes.inference import infer, total_params
from archdsl.shapes.limits import DEFAULT, check_budget
from archdsl.shapes.lint import lint

BLOCK = """block basic(c) {
    residual<conv1: conv3-c(bias=false); bn1: bn; relu; conv2: conv3-c(bias=false); bn2: bn>;
    relu
}
"""
BLOCK_LAYERS = 8  # conv, bn, relu, conv, bn, shortcut, add, relu


def plain(layers: int) -> str:
    body = "".join("    conv3-16;\n" if i % 2 == 0 else "    relu;\n" for i in range(layers))
    return f"network plain{layers} {{\n    input 3x32x32;\n{body}}}\n"


def residual(layers: int) -> str:
    body = "    conv3-16; relu;\n" + "    basic(16);\n" * max(1, layers // BLOCK_LAYERS)
    return f"{BLOCK}\nnetwork residual{layers} {{\n    input 3x32x32;\n{body}}}\n"


def repeated(layers: int) -> str:
    count = max(1, layers // BLOCK_LAYERS)
    return f"{BLOCK}\nnetwork repeated{layers} {{\n    input 3x32x32;\n    conv3-16; relu;\n" \
           f"    stage: basic(16) x {count};\n}}\n"


FAMILIES = {"plain": plain, "residual": residual, "repeated": repeated}


@gc_paused()  # as archdsl.build and compile_source do
def stages(text: str, with_load: bool) -> dict[str, float]:
    """Seconds per stage of one compile (and load) of `text`."""
    times = {}
    start = time.perf_counter()
    program = load_program("gen.arch", text=text, file="gen.arch")
    times["parse"] = time.perf_counter() - start
    start = time.perf_counter()
    ir = infer(expand(program))
    check_budget(ir, DEFAULT, total_params(ir))
    ir.warnings = lint(ir)
    times["check"] = time.perf_counter() - start
    start = time.perf_counter()
    emitted = generate(ir)
    check_emitted(emitted.source, ir, emitted.block_classes, emitted.class_name, emitted.outputs_class)
    times["codegen"] = time.perf_counter() - start
    times["layers"] = len(ir.layers) - 2  # without the input and output joins
    if with_load:
        start = time.perf_counter()
        getattr(module_from_source(emitted.source, "gen.arch"), emitted.class_name)()
        times["load"] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--runs", type=int, default=3, help="median of this many runs per size")
    parser.add_argument("--no-load", action="store_true", help="skip building the nn.Module (needs torch)")
    args = parser.parse_args()
    if not args.no_load:
        import torch  # noqa: F401  (imported up front so the first load does not pay for it)
    archdsl.build("warm.arch", source=plain(4))  # the grammar is built once per process: not part of any size
    cols = ["parse", "check", "codegen"] + ([] if args.no_load else ["load"])
    print(f"{'family':<9} {'layers':>7} " + " ".join(f"{c + ' ms':>10}" for c in cols)
          + f" {'p+c+c ms':>10} {'us/layer':>9}")
    for family in args.families.split(","):
        for size in map(int, args.sizes.split(",")):
            text = FAMILIES[family](size)
            runs = [stages(text, not args.no_load) for _ in range(args.runs)]
            med = {c: statistics.median(r[c] for r in runs) for c in cols}
            front = med["parse"] + med["check"] + med["codegen"]
            layers = runs[0]["layers"]
            print(f"{family:<9} {layers:>7} " + " ".join(f"{med[c] * 1000:>10.1f}" for c in cols)
                  + f" {front * 1000:>10.1f} {front / layers * 1e6:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
