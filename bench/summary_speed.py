"""Summary speed: archdsl's summary (no torch, no tracing) against torchinfo's, side by side in one run.

1. Whole process, as a user runs it: `archdsl summary vgg16 --json` (the console script the install
   made beside this Python, or `python -m archdsl` where there is none; the bundled network by name)
   against a Python process that builds torchvision's vgg16 and runs `torchinfo.summary` at
   1x3x224x224 (the reference). Goal: archdsl at least 50x faster.
2. In process: the summary (build + analyse) of every bundled architecture, first call (grammar
   loading included) and warm, and of the 26 files bundled when the goal was set (FIRST_26; the
   library has grown to larger networks since, EfficientNet-B7's 800 layers among them). Goal: the
   first 26, warm, in under 0.5 s; the whole library is reported per file, without a goal.

With `--wheel`, the whole process is timed as a user who ran `pip install .` runs it: a wheel of this
checkout installed into a fresh virtual environment in a temporary folder. The repository's own venv
holds an editable install, whose import finder every Python start loads (a bare `python -c pass`
took 51 ms there and 20 ms in the wheel's venv, bench/README.md): a cost of the development set-up,
not of archdsl.

    .venv/bin/python bench/summary_speed.py [--runs 5] [--wheel]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "archdsl"
# A console script's first path entry is its own folder, not the current one: run from there, the
# phases below import the archdsl the script imports (an editable install's, or PYTHONPATH's).
if SCRIPT.is_file():
    ARCHDSL, HOME = [str(SCRIPT), "summary", "vgg16", "--json"], SCRIPT.parent
else:
    ARCHDSL, HOME = [sys.executable, "-m", "archdsl", "summary", "vgg16", "--json"], ROOT
TORCHINFO = [sys.executable, "-c", (
    "import torchinfo, torchvision\n"
    "model = torchvision.models.vgg16(weights=None)\n"
    "torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)\n")]
# The bundled files when the in-process goal was set (commit bc388a0, 26 files); they are all still bundled.
FIRST_26 = ("alexnet", "alexnet_paper", "googlenet", "lenet5", "resnet101", "resnet152", "resnet18", "resnet34",
            "resnet50", "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d", "squeezenet1_0", "squeezenet1_1",
            "vgg11", "vgg11_bn", "vgg11_lrn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg16_conv1", "vgg19",
            "vgg19_bn", "wide_resnet101_2", "wide_resnet50_2")
IN_PROCESS = (
    "import json, time\n"
    "t0 = time.perf_counter()\n"
    "import archdsl\n"
    "from archdsl.analysis.costs import analyse\n"
    "t1 = time.perf_counter()\n"
    "every = archdsl.bundled_architectures()\n"
    "first = [p for p in every if p.stem in {first!r}]\n"
    "def timed(paths):\n"
    "    start = time.perf_counter()\n"
    "    results = [analyse(archdsl.build(p)) for p in paths]\n"
    "    return time.perf_counter() - start\n"
    "cold = timed(every)\n"
    "warm = {{'all': [timed(every) for _ in range({runs})], 'first26': [timed(first) for _ in range({runs})]}}\n"
    "print(json.dumps({{'count': len(every), 'first': len(first), 'imports': t1 - t0, 'cold': cold, **warm}}))\n")


# Both processes run with Python's bytecode cache, as an installed package does (pip compiles it
# at install time): a PYTHONDONTWRITEBYTECODE=1 in the caller's environment would make archdsl,
# run from the checkout, compile its modules at every start while torch's stay compiled.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str], cwd: Path = ROOT) -> float:
    return timed(cmd, cwd)[0]


def timed(cmd: list[str], cwd: Path = ROOT) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of `cmd`. The CPU time moves far less than
    the wall time when other processes share the cores: a second reading for a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=ENV)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measured(command: list[str], python: str, home: Path, how: str) -> str:
    """The command timed, and where the archdsl it runs comes from."""
    package = subprocess.run([python, "-c", "import archdsl; print(archdsl.__path__[0])"], cwd=home,
                             check=True, capture_output=True, text=True, env=ENV).stdout.strip()
    return f"{' '.join(command)} ({how}; archdsl from {package})"


def install_wheel(folder: Path) -> Path:
    """A fresh venv in `folder` holding a wheel of this checkout (without its dependencies: the summary
    needs none); its Python. The wheel is built from a copy of what it is made of: setuptools would put
    into it whatever an earlier build left in the checkout's build/lib."""
    source = folder / "source"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        source.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    for name in ("archdsl", "grammars", "architectures"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(folder / "wheel"), str(source)], check=True, capture_output=True, env=ENV)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "venv")], check=True, env=ENV)
    venv_python = folder / "venv" / "bin" / "python"
    (wheel,) = (folder / "wheel").glob("archdsl-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv_python), "install", "-q", "--no-deps",
                    str(wheel)], check=True, capture_output=True, env=ENV)
    return venv_python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--wheel", action="store_true", help="time archdsl installed from a wheel of this checkout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        command, python, home = ARCHDSL, sys.executable, HOME
        how = "the console script" if SCRIPT.is_file() else "no console script beside this Python"
        if args.wheel:
            python = str(install_wheel(Path(folder)))
            home = Path(python).parent
            command, how = [str(home / "archdsl"), *ARCHDSL[-3:]], "a wheel of this checkout in a fresh venv"
        whole_process(args.runs, command, python, home, how)
    in_process(args.runs)


def whole_process(runs: int, command: list[str], python: str, home: Path, how: str) -> None:

    wall(command), wall(TORCHINFO)  # warm the file and bytecode caches for both
    ours, theirs = [], []
    for _ in range(runs):  # interleaved, so a busy moment on the machine hits both alike
        ours.append(timed(command))
        theirs.append(timed(TORCHINFO))
    a, b = statistics.median(o for o, _ in ours), statistics.median(t for t, _ in theirs)
    ratios = sorted(t[0] / o[0] for o, t in zip(ours, theirs))  # each pair ran back to back
    ratio = statistics.median(ratios)
    cpu_a, cpu_b = statistics.median(c for _, c in ours), statistics.median(c for _, c in theirs)
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"whole process, vgg16, median of {runs} (archdsl and the reference alternating):")
    print(f"  measured: {measured(command, python, home, how)}")
    print(f"  archdsl summary --json          {a * 1000:8.0f} ms")
    print(f"  torchvision vgg16 + torchinfo   {b * 1000:8.0f} ms   (reference)")
    print(f"  archdsl is {ratio:.1f}x faster (median of the pairs' ratios; goal: 50x) "
          f"{'ok' if ratio >= 50 else 'MISSED'}; pairs from {ratios[0]:.1f}x to {ratios[-1]:.1f}x, "
          f"{sum(r >= 50 for r in ratios)} of {len(ratios)} at 50x or more")
    print(f"  CPU time (user + system), medians: archdsl {cpu_a * 1000:.0f} ms, the reference {cpu_b * 1000:.0f} ms: "
          f"{cpu_b / cpu_a:.1f}x")
    # Where archdsl's process spends its time: the interpreter, then importing what the command
    # imports (the console script's `re`, the command line, the summary command's modules and the
    # parser); the rest is parsing, checking, counting and printing.
    itself = statistics.median(wall([python, "-c", "pass"], home) for _ in range(runs))
    cli = statistics.median(wall([python, "-c", "import re, archdsl.cli.main, archdsl.cli.summary"], home)
                            for _ in range(runs))
    print(f"  of archdsl's {a * 1000:.0f} ms: Python itself {itself * 1000:.0f} ms, imports "
          f"{(cli - itself) * 1000:.0f} ms, the summary {(a - cli) * 1000:.0f} ms")


def in_process(runs: int) -> None:
    code = IN_PROCESS.format(runs=runs, first=FIRST_26)
    out = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True,
                                    env=ENV).stdout)
    every, first = sorted(out["all"]), sorted(out["first26"])
    count, median, median26 = out["count"], statistics.median(every), statistics.median(first)
    print(f"in process, the summary (build + analyse) of bundled architectures, warm: best / median of {runs}")
    print(f"  import archdsl                  {out['imports'] * 1000:8.0f} ms")
    print(f"  all {count}, first call (grammar loaded) {out['cold'] * 1000:5.0f} ms")
    print(f"  all {count}, warm                 {every[0] * 1000:8.0f} / {median * 1000:.0f} ms   "
          f"({median / count * 1000:.1f} ms a file)")
    print(f"  the first {out['first']} (FIRST_26), warm     {first[0] * 1000:8.0f} / {median26 * 1000:.0f} ms   "
          f"(goal: 500 ms) {'ok' if median26 < 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
