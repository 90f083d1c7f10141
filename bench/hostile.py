"""Hold archdsl to its resource guarantee (docs/diagnostics.md, "Guarantees") over a hostile corpus.

Every command that does not run the network must, for any input of at most 1 MB, finish within
10 s and 1 GiB or stop with a diagnostic (exit 1, no traceback). This script generates inputs built
to break that promise, runs each command on each in a child process and reports the worst figures.
It is a benchmark, not a test: the figures depend on the machine (the promise is for 2 cores).

    python bench/hostile.py            # the whole corpus and every bundled architecture
    python bench/hostile.py --quick    # the hostile corpus and three bundled files, fewer commands

Exit status 1 when any run breaks the guarantee (over a limit, a traceback, or an exit other than
0 or 1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_S = 10.0
LIMIT_MB = 1024.0
TIMEOUT_S = 60.0
MAX_BYTES = 1_000_000
COMMANDS = ("check", "compile", "summary", "diff", "viz-svg", "viz-dot", "fmt", "report")
QUICK_COMMANDS = ("check", "compile", "summary", "viz-dot", "fmt")
QUICK_BASELINE = ("lenet5", "googlenet", "resnet152")

HEAD = "network n {\n    input 3x8x8;\n"


def _fill(unit: str, head: str = HEAD, tail: str = "}\n", budget: int = MAX_BYTES) -> str:
    """As many copies of unit as fit between head and tail in budget bytes."""
    count = (budget - len(head) - len(tail)) // len(unit)
    return head + unit * count + tail


def corpus(folder: Path) -> dict[str, Path]:
    """Write the hostile inputs into folder; return them by name. Each is at most 1 MB."""
    texts: dict[str, str] = {}
    texts["relu-1MB"] = _fill("relu;\n")
    texts["repeat-20000"] = HEAD + "(relu) x 20000\n}\n"
    texts["nested-repeat"] = HEAD + "((relu x 150) x 150)\n}\n"
    blocks = "".join(f"block b{i}() {{ relu }}\n" for i in range(3000))
    texts["misspelt-3000"] = blocks + HEAD + "".join(f"    bb{i}();\n" for i in range(3000)) + "}\n"
    texts["inception-5000"] = HEAD + "inception<" + " | ".join(["relu"] * 5000) + ">\n}\n"
    # The longest chain the 20,000-layer budget accepts (20,001 relus are refused as over it).
    texts["chain-20000"] = HEAD + "relu;\n" * 20000 + "}\n"
    # The same chain with comments bringing it to 1 MB: work per layer that reads the whole file shows.
    # A comment is a token: twenty long ones keep the chain under the token budget.
    texts["chain-20000-commented"] = HEAD + "relu;\n" * 20000 + ("# " + "c" * 43000 + "\n") * 20 + "}\n"
    texts["groups-1000-deep"] = HEAD + "(" * 1000 + "relu" + ")" * 1000 + "\n}\n"
    bad_line = "network n { input 3x8x8; " + "conv3-; fc-x; ?? ; relu(p=); " * 2100 + "}"
    texts["one-line-60KB-errors"] = bad_line[:60_000] + "\n"
    dense = "    inception<identity | conv3-4(padding=1)>;\n" * 600
    texts["densenet-600-concat"] = "block dense() {\n" + dense + "}\n" + HEAD + "    dense()\n}\n"
    # A block's channel count is an expression of its input's; 2,000 concatenations in one block
    # (92 KB) show whether that expression, repeated in every line emitted, grows with the block.
    dense = "    inception<identity | conv3-4(padding=1)>;\n" * 2000
    texts["densenet-2000-concat"] = "block dense() {\n" + dense + "}\n" + HEAD + "    dense()\n}\n"
    texts["conv-5000-digits"] = HEAD + "conv3-" + "9" * 5000 + "\n}\n"
    texts["float-1e999"] = HEAD + "dropout(p=1e999)\n}\n"
    texts["over-param-budget"] = "network n {\n    input 1x1x1; flatten; fc-99999; fc-50000\n}\n"
    # NUL apart: a file holding one is refused whole (not a text file), before the parser sees the rest.
    controls = "".join(chr(c) for c in range(1, 32) if chr(c) not in "\n\r") + "\x7f\u202e\ufeff"
    texts["control-chars"] = f"# {controls}\n" + HEAD + f"    relu;  # {controls}\n}}\n"
    texts["nul-in-comment"] = "# \x00\n" + HEAD + "    relu\n}\n"
    texts["comments-1MB"] = _fill("# " + "c" * 76 + "\n", head="", tail=HEAD + "relu\n}\n")
    paths = {name: folder / f"{name}.arch" for name in texts}
    for name, text in texts.items():
        paths[name].write_text(text, encoding="utf-8")
    chain = folder / "use-chain"
    chain.mkdir()
    for i in range(1000):
        text = f'use "u{i + 1}.arch";\n' if i < 999 else "block leaf() { relu }\n"
        (chain / f"u{i}.arch").write_text(text, encoding="utf-8")
    (chain / "main.arch").write_text('use "u0.arch";\n' + HEAD + "    leaf()\n}\n", encoding="utf-8")
    paths["use-chain-1000"] = chain / "main.arch"
    for path in paths.values():
        assert path.stat().st_size <= MAX_BYTES, path
    return paths


def argv(command: str, source: Path, out: Path) -> list[str]:
    base = [sys.executable, "-m", "archdsl"]
    if command == "compile":
        return base + ["compile", str(source), "-o", str(out / "model.py")]
    if command == "diff":
        return base + ["diff", str(source), str(source)]
    if command.startswith("viz-"):
        return base + ["viz", str(source), "-o", str(out / f"drawing.{command[4:]}")]
    if command == "fmt":
        # '-' reads stdin and writes stdout: the input file is never rewritten.
        return base + ["fmt", "-"]
    if command == "report":
        return base + ["report", str(source), "-o", str(out / "report.svg")]
    return base + [command, str(source)]


def run(args: list[str], stdin: Path, out: Path) -> tuple[float, float, int | None, str]:
    """Run one child; its own wall time, peak memory (MB, from wait4) and exit code (None: killed)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(stdin, "rb") as fin, open(out / "stdout", "wb") as fout, open(out / "stderr", "wb") as ferr:
        start = time.perf_counter()
        child = subprocess.Popen(args, stdin=fin, stdout=fout, stderr=ferr, cwd=out, env=env)
        # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the max over all of them.
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > TIMEOUT_S:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
    code = child.returncode if child.returncode >= 0 else None
    stderr = (out / "stderr").read_text(encoding="utf-8", errors="replace")
    return seconds, usage.ru_maxrss / 1024, code, stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer commands and three bundled files")
    parser.add_argument("--only", default="", help="run only inputs whose name contains this")
    options = parser.parse_args()
    commands = QUICK_COMMANDS if options.quick else COMMANDS
    folder = Path(tempfile.mkdtemp(prefix="archdsl-hostile-"))
    try:
        inputs = corpus(folder)
        for path in sorted((ROOT / "architectures").glob("*.arch")):
            if not options.quick or path.stem in QUICK_BASELINE:
                inputs[f"bundled/{path.stem}"] = path
        inputs = {name: path for name, path in inputs.items() if options.only in name}
        rows = []
        print(f"{'input':<28} {'command':<8} {'seconds':>8} {'peak MB':>8} {'exit':>5}  ok?", flush=True)
        for name, source in inputs.items():
            for command in commands:
                out = folder / "out"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                seconds, peak, code, stderr = run(argv(command, source, out), source, out)
                traceback = "Traceback (most recent call last)" in stderr
                problems = []
                if seconds > LIMIT_S:
                    problems.append("slow")
                if peak > LIMIT_MB:
                    problems.append("memory")
                if traceback:
                    problems.append("traceback")
                if code not in (0, 1):
                    problems.append(f"exit {code}")
                rows.append((name, command, seconds, peak, code, traceback, problems))
                verdict = "ok" if not problems else "BREACH: " + ", ".join(problems)
                print(f"{name:<28} {command:<8} {seconds:>8.2f} {peak:>8.0f} {code!s:>5}  {verdict}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not rows:
        print("nothing to run")
        return 1
    slowest = max(rows, key=lambda row: row[2])
    largest = max(rows, key=lambda row: row[3])
    tracebacks = sum(row[5] for row in rows)
    over = sum(row[2] > LIMIT_S or row[3] > LIMIT_MB for row in rows)
    broken = sum(bool(row[6]) for row in rows)
    print(
        f"inputs: {len(inputs)}, commands run: {len(rows)}, "
        f"slowest: {slowest[2]:.2f} s ({slowest[0]} {slowest[1]}), "
        f"largest peak: {largest[3]:.0f} MB ({largest[0]} {largest[1]}), "
        f"tracebacks: {tracebacks}, over 10 s or 1 GiB: {over}, guarantee broken: {broken}"
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
