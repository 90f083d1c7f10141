"""Re-run every example of issue 17 (hardening) against this checkout and give each a verdict.

Each example is run as the issue describes it, in a child process (the command line, or a short
Python program for the API's examples), in a scratch folder; its verdict is "fixed" when archdsl
now does what the issue asks (a diagnostic and exit 1, or success with the right result) and
"BROKEN" otherwise. The resource examples (hangs, memory) are bench/hostile.py's: this script runs
their small forms and leaves the 1 MB ones to it.

    python bench/issue17.py            # every example
    python bench/issue17.py --only fifo

Exit status 1 when any example is still broken. Runs as root too: the device nodes are made with
mknod in the scratch folder, never the ones in /dev.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "architectures" / "lenet5.arch"
TRACEBACK = "Traceback (most recent call last)"
TIMEOUT_S = 60.0

OK_NET = "network n {\n    input 3x8x8;\n    conv3-4; relu; gap; flatten; fc-10\n}\n"


class Run:
    """One child's outcome; `seconds` is its CPU time (user + system), which the other jobs of a shared
    machine do not inflate as they do the wall clock."""

    def __init__(self, code: int | None, out: str, err: str, seconds: float):
        self.code, self.out, self.err, self.seconds = code, out, err, seconds

    @property
    def traceback(self) -> bool:
        return TRACEBACK in self.err or TRACEBACK in self.out

    @property
    def diagnostic(self) -> bool:
        """Refused cleanly: exit 1, an `error[...]` line, no traceback."""
        return self.code == 1 and "error[" in self.err and not self.traceback

    def __str__(self) -> str:
        last = (self.err.strip().splitlines() or [""])[-1][:160]
        return f"exit {self.code}, {self.seconds:.1f} s CPU: {last}"


def _cpu() -> float:
    """CPU time of the children waited for so far; children run one at a time, so a difference is one's."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")


def cli(cwd: Path, *args: str, stdin=None, stdout=None, shell: str = "") -> Run:
    """`archdsl ARGS` in cwd; `shell` runs a shell line instead, with `ARCHDSL` standing for the command."""
    command = f"{sys.executable} -m archdsl"
    start = _cpu()
    try:
        if shell:
            done = subprocess.run(["bash", "-c", shell.replace("ARCHDSL", command)], check=False, cwd=cwd, env=_env(),
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
        else:
            done = subprocess.run([sys.executable, "-m", "archdsl", *args], check=False, cwd=cwd, env=_env(), text=True,
                                  stdin=stdin, stdout=stdout if stdout is not None else subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Run(None, "", "timed out", _cpu() - start)
    return Run(done.returncode, done.stdout or "", done.stderr, _cpu() - start)


def py(cwd: Path, code: str) -> Run:
    """A Python program in a child; it prints its own verdict's evidence."""
    start = _cpu()
    try:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=False, cwd=cwd, env=_env(),
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Run(None, "", "timed out", _cpu() - start)
    return Run(done.returncode, done.stdout, done.stderr, _cpu() - start)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def lenet_weights(folder: Path) -> Path:
    """LeNet-5's state_dict, saved with torch (the examples' `w.pth`)."""
    py(folder, f"""
        import torch, archdsl
        torch.save(archdsl.load({str(LENET)!r}).state_dict(), "w.pth")
    """)
    return folder / "w.pth"


# -- the examples, by the classes --------------------------------------------------------
# Each takes a scratch folder and returns (fixed?, what happened).
Result = tuple[bool, str]


def data_fifo(d: Path) -> Result:
    os.mkfifo(d / "out.py")
    # A reader on the FIFO, as a user's `cat` would be; without one the writer would block.
    reader = subprocess.Popen(["cat", str(d / "out.py")], stdout=subprocess.PIPE)
    run = cli(d, "compile", str(LENET), "-o", "out.py")
    got = reader.communicate(timeout=TIMEOUT_S)[0]
    kept = stat.S_ISFIFO((d / "out.py").lstat().st_mode)
    return kept and run.code == 0 and b"class LeNet5" in got, f"still a FIFO: {kept}; {run}"


def data_device(d: Path) -> Result:
    results = []
    for name, minor in (("null", 3), ("full", 7)):
        os.mknod(d / name, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        run = cli(d, "compile", str(LENET), "-o", name)
        kept = stat.S_ISCHR((d / name).lstat().st_mode)
        expect = run.code == 0 if name == "null" else run.diagnostic
        results.append((kept and expect, f"{name}: device kept {kept}, {run}"))
    return all(ok for ok, _ in results), "; ".join(text for _, text in results)


def data_symlink_fmt(d: Path) -> Result:
    real = write(d, "real.arch", "network n {\ninput 3x8x8;\n      relu;relu\n}\n")
    (d / "link.arch").symlink_to("real.arch")
    run = cli(d, "fmt", "link.arch")
    link = (d / "link.arch").is_symlink()
    formatted = real.read_text() == "network n {\n    input 3x8x8;\n    relu; relu\n}\n"
    return run.code == 0 and link and formatted, f"link kept {link}, target formatted {formatted}; {run}"


def data_symlink_compile(d: Path) -> Result:
    write(d, "target.py", "old\n")
    (d / "link.py").symlink_to("target.py")
    run = cli(d, "compile", str(LENET), "-o", "link.py")
    link = (d / "link.py").is_symlink()
    written = "class LeNet5" in (d / "target.py").read_text()
    return run.code == 0 and link and written, f"link kept {link}, target written {written}; {run}"


def data_output_is_input(d: Path) -> Result:
    net = write(d, "net.arch", OK_NET)
    weights = lenet_weights(d)
    before = weights.read_bytes()
    runs = [cli(d, "compile", "net.arch", "-o", "net.arch"),
            cli(d, "compile", str(LENET), "--weights", "w.pth", "-o", "w.pth"),
            cli(d, "report", "net.arch", "-o", "c.svg", "--table", "net.arch"),
            cli(d, "compile", str(LENET), "--weights", "w.pth", "-o", "model.safetensors")]
    intact = net.read_text() == OK_NET and weights.read_bytes() == before
    refused = all(r.diagnostic for r in runs)
    return intact and refused, f"inputs intact {intact}; " + " | ".join(str(r) for r in runs)


def data_pair_folder(d: Path) -> Result:
    lenet_weights(d)
    (d / "out.py").mkdir()
    write(d, "out.safetensors", "old pair\n")
    run = cli(d, "compile", str(LENET), "--weights", "w.pth", "-o", "out.py")
    kept = (d / "out.safetensors").read_text(errors="replace") == "old pair\n"
    return run.diagnostic and kept, f"old weights kept {kept}; {run}"


def data_kill9(d: Path) -> Result:
    """kill -9 in the middle of `compile --weights` of a large model: no temporary may stay."""
    write(d, "big.arch", "network big {\n    input 1x1x1; flatten; fc-8000; fc-8000\n}\n")
    py(d, """
        import torch, archdsl
        torch.save(archdsl.load("big.arch").state_dict(), "w.pth")
    """)
    leftovers = []
    for delay in (1.0, 2.0, 3.0):
        child = subprocess.Popen([sys.executable, "-m", "archdsl", "compile", "big.arch", "--weights", "w.pth",
                                  "-o", "out.py"], cwd=d, env=_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        leftovers += [p.name for p in d.iterdir() if p.name.endswith(".tmp")]
    # The next write removes a dead process's named temporaries where O_TMPFILE was not available.
    run = cli(d, "compile", "big.arch", "--weights", "w.pth", "-o", "out.py")
    after = [p.name for p in d.iterdir() if p.name.endswith(".tmp")]
    return not after and run.code == 0, f"temporaries after the kills {leftovers}, after the next run {after}; {run}"


def wrong_identity(d: Path) -> Result:
    write(d, "n.arch", "network n {\n    input 3x8x8;\n    identity: side<gap; flatten; fc-10>;\n"
                       "    residual<conv3-3>\n}\n")
    run = py(d, """
        import torch, archdsl
        m = archdsl.load("n.arch").train()
        x = torch.randn(2, 3, 8, 8)
        out, side = m(x)
        conv = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d)][0]
        # The side output taps the network's input; the residual adds that same input to its body.
        print(torch.equal(side, m.identity(x)), torch.allclose(out, conv(x) + x))
    """)
    return run.out.strip() == "True True", f"side and residual right: {run.out.strip()}; {run}"


def _compile_then_load(d: Path, text: str, *, weights: bool = False, train: bool = False) -> Result:
    write(d, "n.arch", text)
    check = cli(d, "check", "n.arch")
    if check.code != 0:
        return check.diagnostic, f"check refuses: {check}"
    args = ["compile", "n.arch", "-o", "m.py"]
    if weights:
        py(d, """
            import torch, archdsl
            torch.save(archdsl.load("n.arch").state_dict(), "w.pth")
        """)
        args += ["--weights", "w.pth"]
    comp = cli(d, *args)
    if comp.code != 0:
        return False, f"check accepts, compile: {comp}"
    run = py(d, f"""
        import importlib.util, torch
        spec = importlib.util.spec_from_file_location("m", "m.py")
        m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
        cls = [v for k, v in vars(m).items() if isinstance(v, type) and issubclass(v, torch.nn.Module)
               and v.__module__ == "m"][-1]
        model = m.pretrained() if {weights} else cls()
        model.train({train})
        x = torch.randn(2, *model.INPUT_SHAPE) if hasattr(model, "INPUT_SHAPE") else None
        print("ok")
    """)
    forward = py(d, f"""
        import torch, archdsl
        model = archdsl.load("n.arch").train({train})
        ir = archdsl.build("n.arch")
        model(torch.randn(2, *ir.input_shape))
        print("ran")
    """)
    ok = "ok" in run.out and "ran" in forward.out
    return ok, f"compile {comp.code}; load {run}; forward {forward}"


def crash_outputs_class(d: Path) -> Result:
    return _compile_then_load(d, "network n {\n    input 3x8x8;\n    NOutputs: side<gap; flatten; fc-10>;\n"
                                 "    conv3-4; gap; flatten; fc-10\n}\n", train=True)


def crash_shortcut_labels(d: Path) -> Result:
    return _compile_then_load(d, "network n {\n    input 3x8x8;\n    shortcut_stride: conv3-4;\n"
                                 "    shortcut_channels: relu;\n    residual(shortcut=pad)<conv3-8/2>;\n"
                                 "    gap; flatten; fc-10\n}\n")


def crash_block_param_class(d: Path) -> Result:
    return _compile_then_load(d, "block Inner(c) { conv3-c }\nblock outer(Inner) { Inner(Inner) }\n"
                                 "network n {\n    input 3x8x8;\n    outer(4); gap; flatten; fc-10\n}\n")


def crash_param_ordereddict(d: Path) -> Result:
    return _compile_then_load(d, "network n(OrderedDict = 4) {\n    input 3x8x8;\n    conv3-OrderedDict;"
                                 " gap; flatten; fc-10\n}\n")


def crash_network_path(d: Path) -> Result:
    return _compile_then_load(d, "network Path {\n    input 3x8x8;\n    conv3-4; gap; flatten; fc-10\n}\n",
                              weights=True)


def crash_side_in_inception(d: Path) -> Result:
    return _compile_then_load(d, "network n {\n    input 3x8x8;\n    inception<conv1-4 | a: side<gap; flatten; "
                                 "fc-10>; conv1-4>;\n    gap; flatten; fc-10\n}\n", train=True)


def crash_side_in_residual(d: Path) -> Result:
    return _compile_then_load(d, "network n {\n    input 3x8x8;\n    residual<conv3-3; a: side<gap; flatten; "
                                 "fc-10>; conv3-3>;\n    gap; flatten; fc-10\n}\n", train=True)


def crash_softmax_dim(d: Path) -> Result:
    return _compile_then_load(d, "network n {\n    input 3x8x8;\n    gap; flatten; fc-10; softmax(dim=7)\n}\n")


def crash_features_side_eval(d: Path) -> Result:
    write(d, "n.arch", "network n {\n    input 3x8x8;\n    a: side<gap; flatten; fc-10>;\n"
                       "    conv3-4; gap; flatten; fc-10\n}\n")
    run = py(d, """
        import torch, archdsl
        try:
            m = archdsl.load("n.arch", features=["a"]).eval()
        except archdsl.ArchError as exc:
            print("refused:", exc.render()[:200]); raise SystemExit(0)
        m(torch.randn(1, 3, 8, 8)); print("ran")
    """)
    return run.code == 0 and not run.traceback, str(run) + " " + run.out.strip()[:200]


def crash_stdout_closed(d: Path) -> Result:
    write(d, "net.arch", OK_NET)
    runs = {c: cli(d, shell=f"ARCHDSL {c} >&-") for c in
            ("compile net.arch", "check net.arch", "summary net.arch", "diff net.arch net.arch")}
    runs["fmt - <&-"] = cli(d, shell="ARCHDSL fmt - <&-")
    runs["fmt - >&-"] = cli(d, shell="ARCHDSL fmt - < net.arch >&-")
    bad = {c: str(r) for c, r in runs.items() if r.traceback or r.code not in (0, 1)}
    return not bad, f"{len(runs) - len(bad)} of {len(runs)} clean; " + "; ".join(f"{c}: {r}" for c, r in bad.items())


def crash_stdout_full(d: Path) -> Result:
    write(d, "net.arch", OK_NET)
    os.mknod(d / "full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    runs = {c: cli(d, shell=f"ARCHDSL {c} > full") for c in
            ("compile net.arch", "check net.arch", "summary net.arch", "diff net.arch net.arch", "fmt - < net.arch")}
    bad = {c: str(r) for c, r in runs.items() if not r.diagnostic}
    return not bad, f"{len(runs) - len(bad)} of {len(runs)} refused cleanly; " + "; ".join(
        f"{c}: {r}" for c, r in bad.items())


def crash_inception_3000(d: Path) -> Result:
    write(d, "n.arch", "block b() { inception<" + " | ".join(["relu"] * 3000) + "> }\n"
                       "network n {\n    input 3x8x8;\n    b()\n}\n")
    runs = [cli(d, "check", "n.arch"), cli(d, "compile", "n.arch", "-o", "m.py")]
    return all(not r.traceback and r.code in (0, 1) for r in runs), " | ".join(str(r) for r in runs)


def crash_use_chain(d: Path) -> Result:
    for i in range(1000):
        write(d, f"u{i}.arch", f'use "u{i + 1}.arch";\n' if i < 999 else "block leaf() { relu }\n")
    write(d, "main.arch", 'use "u0.arch";\nnetwork n {\n    input 3x8x8;\n    leaf()\n}\n')
    run = cli(d, "check", "main.arch")
    return not run.traceback and run.code in (0, 1), str(run)


def crash_state_dict_tensors(d: Path) -> Result:
    run = py(d, f"""
        import torch, archdsl
        model = archdsl.load({str(LENET)!r})
        good = model.state_dict()
        bad = {{
            "meta": torch.empty(good["conv1.weight"].shape, device="meta"),
            "sparse": good["conv1.weight"].reshape(6, -1).to_sparse(),
            "nested": torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)]),
        }}
        for kind, tensor in bad.items():
            sd = {{k: torch.zeros_like(v) for k, v in good.items()}}
            key = "conv1.weight" if kind != "sparse" else "conv1.weight"
            sd[key] = tensor
            fresh = archdsl.load({str(LENET)!r})
            before = {{k: v.clone() for k, v in fresh.state_dict().items()}}
            try:
                torch.save(sd, "bad.pth")
                archdsl.load({str(LENET)!r}, weights="bad.pth")
                print(kind, "accepted")
            except archdsl.ArchError as exc:
                print(kind, "refused")
            except Exception as exc:
                print(kind, "CRASH", type(exc).__name__, str(exc)[:100])
    """)
    lines = run.out.strip().splitlines()
    return len(lines) == 3 and all("CRASH" not in x for x in lines) and not run.traceback, "; ".join(lines) + str(run)


def crash_bench_numbers(d: Path) -> Result:
    write(d, "net.arch", OK_NET)
    runs = [cli(d, "bench", "net.arch", "--batch", "99999999999999999999", "--runs", "1", "--warmup", "0"),
            cli(d, "bench", "net.arch", "--threads", "99999999999999999999", "--runs", "1", "--warmup", "0"),
            cli(d, "bench", str(ROOT / "architectures" / "vgg16.arch"), "--batch", "1000000", "--runs", "1",
                "--warmup", "0")]
    api = py(d, f"""
        import archdsl
        try:
            archdsl.load({str(LENET)!r}, num_classes=10**5000)
        except archdsl.ArchError as exc:
            print("refused")
    """)
    # argparse's usage errors (exit 2, one line naming the option) are diagnostics too.
    ok = all(r.diagnostic or (r.code == 2 and not r.traceback) for r in runs) and "refused" in api.out
    return ok, " | ".join(str(r) for r in runs + [api])


def hang_relu_9mb(d: Path) -> Result:
    write(d, "n.arch", "network n {\n    input 3x8x8;\n" + "relu;\n" * 1_580_000 + "}\n")
    run = cli(d, "check", "n.arch")
    return run.diagnostic and run.seconds < 10, str(run)


def hang_did_you_mean(d: Path) -> Result:
    blocks = "".join(f"block b{i}() {{ relu }}\n" for i in range(3000))
    write(d, "n.arch", blocks + "network n {\n    input 3x8x8;\n" + "".join(f"    bb{i}();\n" for i in range(3000))
          + "}\n")
    run = cli(d, "check", "n.arch")
    return run.diagnostic and run.seconds < 10, str(run)


def hang_viz(d: Path) -> Result:
    write(d, "inc.arch", "network n {\n    input 3x8x8;\n    inception<" + " | ".join(["relu"] * 5000) + ">\n}\n")
    write(d, "chain.arch", "network n {\n    input 3x8x8;\n" + "relu;\n" * 40_000 + "}\n")
    runs = [cli(d, "viz", "inc.arch", "-o", "i.svg"), cli(d, "viz", "chain.arch", "-o", "c.svg")]
    ok = all(r.code in (0, 1) and not r.traceback and r.seconds < 10 for r in runs)
    return ok, " | ".join(str(r) for r in runs)


def hang_fmt_fifo(d: Path) -> Result:
    os.mkfifo(d / "f.arch")
    run = cli(d, "fmt", "f.arch")
    return run.diagnostic, str(run)


def memory_params(d: Path) -> Result:
    write(d, "n.arch", "network n {\n    input 1x1x1; flatten; fc-99999; fc-50000\n}\n")
    runs = [cli(d, "check", "n.arch"), cli(d, "bench", "n.arch", "--runs", "1", "--warmup", "0")]
    return all(r.diagnostic for r in runs), " | ".join(str(r) for r in runs)


def memory_activation(d: Path) -> Result:
    # 40 GB per sample: 10,000 channels of 1,000 x 1,000 float32.
    write(d, "n.arch", "network n {\n    input 3x1000x1000; conv1-10000\n}\n")
    run = cli(d, "check", "n.arch")
    return run.diagnostic, str(run)


def memory_deflate_pth(d: Path) -> Result:
    """A .pth whose compressed entry declares far more bytes than LeNet's weights: refused before inflating."""
    run = py(d, f"""
        import io, resource, torch, zipfile, archdsl
        model = archdsl.load({str(LENET)!r})
        sd = model.state_dict()
        sd["conv1.weight"] = torch.zeros(64, 1024, 1024)  # 256 MB of zeros, deflated to a few hundred KB
        buf = io.BytesIO(); torch.save(sd, buf)
        with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile("big.pth", "w") as dst:
            for info in src.infolist():
                dst.writestr(info, src.read(info.filename), compress_type=zipfile.ZIP_DEFLATED)
        import os
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            archdsl.load({str(LENET)!r}, weights="big.pth")
            print("accepted")
        except archdsl.ArchError as exc:
            print("refused", exc.render().splitlines()[0][:120])
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("size", os.path.getsize("big.pth"), "peak growth MB", (after - before) // 1024)
    """)
    lines = run.out.strip().splitlines()
    growth = int(lines[-1].split()[-1]) if lines and lines[-1].startswith("size") else 10**9
    return "refused" in run.out and growth < 100, "; ".join(lines) + f" ({run})"


def memory_codegen(d: Path) -> Result:
    dense = "    inception<identity | conv3-4(padding=1)>;\n" * 600
    write(d, "n.arch", "block dense() {\n" + dense + "}\nnetwork n {\n    input 3x8x8;\n    dense()\n}\n")
    run = cli(d, "compile", "n.arch", "-o", "m.py")
    size = (d / "m.py").stat().st_size if (d / "m.py").exists() else 0
    return run.code == 0 and size < 1_000_000, f"{size:,} bytes of Python from 27 KB; {run}"


def memory_excerpts(d: Path) -> Result:
    bad = "network n { input 3x8x8; " + "conv3-; fc-x; ?? ; relu(p=); " * 2100 + "}"
    write(d, "n.arch", bad[:60_000] + "\n")
    run = cli(d, "check", "n.arch")
    longest = max((len(line) for line in run.err.splitlines()), default=0)
    return run.diagnostic and longest < 400, f"longest line {longest}; {run}"


def leak_proc_environ(d: Path) -> Result:
    write(d, "n.arch", 'use "/proc/self/environ";\nnetwork n { input 3x8x8; relu }\n')
    env = dict(_env(), ARCHDSL_SECRET="s3cr3t-value")
    done = subprocess.run([sys.executable, "-m", "archdsl", "check", "n.arch"], check=False, cwd=d, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    leaked = "s3cr3t" in done.stdout + done.stderr
    return done.returncode == 1 and not leaked, f"leaked {leaked}; exit {done.returncode}"


def leak_escapes(d: Path) -> Result:
    write(d, "n\x1b[31m\x07.arch", "# \x1b[2J\x07\nnetwork n { input 3x8x8; bogus }\n")
    run = cli(d, "check", "n\x1b[31m\x07.arch")
    raw = "\x1b" in run.err + run.out or "\x07" in run.err + run.out
    return run.diagnostic and not raw, f"raw ESC/BEL printed {raw}; {run}"


def leak_html_comment(d: Path) -> Result:
    write(d, "n.arch", "network n {\n    input 3x8x8;\n    conv3-4;  # <!--<script>\n    relu\n}\n")
    run = cli(d, "viz", "n.arch", "-o", "v.html")
    page = (d / "v.html").read_text() if (d / "v.html").exists() else ""
    # The comment must reach the page escaped: a raw `<!--<script>` inside the page's script breaks it.
    return run.code == 0 and "<!--<script>" not in page, f"raw comment in page {'<!--<script>' in page}; {run}"


def misleading_set(d: Path) -> Result:
    write(d, "n.arch", "network n(c = 4) {\n    input 3x8x8;\n    conv3-c\n}\n")
    run = cli(d, "check", "n.arch", "--set", 'c=8) { relu } use "/etc/passwd"; #')
    return run.diagnostic and "root:" not in run.err, str(run)


def misleading_budget(d: Path) -> Result:
    write(d, "n.arch", OK_NET)
    run = cli(d, "check", "n.arch", "--budget", "max_params")
    return run.code != 0 and "--budget" in run.err and "--set" not in run.err, str(run)


def misleading_weights(d: Path) -> Result:
    (d / "dir").mkdir()
    runs = [cli(d, "compile", str(LENET), "--weights", "dir", "-o", "m.py"),
            cli(d, "compile", str(LENET), "--weights", "/dev/stdin", "-o", "m.py", stdin=subprocess.DEVNULL)]
    misleading = any("no such file" in r.err.lower() for r in runs)
    return all(r.diagnostic for r in runs) and not misleading, " | ".join(str(r) for r in runs)


def misleading_negative(d: Path) -> Result:
    write(d, "n.arch", "network n {\n    input 3x8x8;\n    relu\n}\n")
    run = cli(d, "check", "n.arch", "--set", "input=3x-8x8")
    return run.diagnostic and "zero dimension" not in run.err, str(run)


EXAMPLES: dict[str, tuple[str, Callable[[Path], Result]]] = {
    "fifo-output": ("data loss", data_fifo),
    "device-output": ("data loss", data_device),
    "fmt-symlink": ("data loss", data_symlink_fmt),
    "compile-symlink": ("data loss", data_symlink_compile),
    "output-is-input": ("data loss", data_output_is_input),
    "pair-with-folder": ("data loss", data_pair_folder),
    "kill-9-temporaries": ("data loss", data_kill9),
    "side-named-identity": ("silent wrong result", wrong_identity),
    "side-named-NOutputs": ("crash after check", crash_outputs_class),
    "shortcut-labels": ("crash after check", crash_shortcut_labels),
    "param-named-like-block": ("crash after check", crash_block_param_class),
    "param-OrderedDict": ("crash after check", crash_param_ordereddict),
    "network-Path-weights": ("crash after check", crash_network_path),
    "side-in-inception": ("crash after check", crash_side_in_inception),
    "side-in-residual": ("crash after check", crash_side_in_residual),
    "softmax-dim-7": ("crash after check", crash_softmax_dim),
    "features-side-eval": ("crash after check", crash_features_side_eval),
    "stdout-closed": ("crash after check", crash_stdout_closed),
    "stdout-full": ("crash after check", crash_stdout_full),
    "inception-3000": ("crash after check", crash_inception_3000),
    "use-chain-1000": ("crash after check", crash_use_chain),
    "state-dict-odd-tensors": ("crash after check", crash_state_dict_tensors),
    "bench-huge-numbers": ("crash after check", crash_bench_numbers),
    "relu-9.5MB": ("hang", hang_relu_9mb),
    "did-you-mean-3000": ("hang", hang_did_you_mean),
    "viz-huge": ("hang", hang_viz),
    "fmt-fifo": ("hang", hang_fmt_fifo),
    "params-5e9": ("memory", memory_params),
    "activation-40GB": ("memory", memory_activation),
    "deflate-pth": ("memory", memory_deflate_pth),
    "codegen-quadratic": ("memory", memory_codegen),
    "excerpt-60KB": ("memory", memory_excerpts),
    "use-proc-environ": ("disclosure", leak_proc_environ),
    "esc-bel": ("disclosure", leak_escapes),
    "html-comment": ("disclosure", leak_html_comment),
    "set-injection": ("misleading", misleading_set),
    "budget-no-value": ("misleading", misleading_budget),
    "weights-dir-stdin": ("misleading", misleading_weights),
    "negative-dimension": ("misleading", misleading_negative),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only examples whose name contains this")
    options = parser.parse_args()
    broken = []
    for name, (kind, example) in EXAMPLES.items():
        if options.only not in name:
            continue
        with tempfile.TemporaryDirectory(prefix="archdsl-issue17-") as folder:
            start = time.perf_counter()
            try:
                fixed, detail = example(Path(folder))
            except Exception as exc:  # noqa: BLE001 -- a broken example is a finding, not the end of the run
                fixed, detail = False, f"the example itself failed: {type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - start
        verdict = "fixed" if fixed else "BROKEN"
        if not fixed:
            broken.append(name)
        print(f"{kind:<20} {name:<24} {verdict:<7} {seconds:5.1f} s  {detail[:300]}", flush=True)
    print(f"still broken: {len(broken)}: {', '.join(broken) or 'none'}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
