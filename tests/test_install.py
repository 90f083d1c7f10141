"""`pip install .` (not editable), used as a pip user would: from a folder outside the clone, with none of
the repository's files. One test, since the install is slow: it runs many checks on the one install."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import ROOT, SPAWNED_WORKER

USER_NET = textwrap.dedent("""\
    use "blocks/resnet.arch";

    block stem(c) {
        conv3-c(bias=false); bn; relu;
    }

    network Tiny(num_classes = 10) {
        input 3x32x32;
        stem(32);
        basic(32);
        basic(64, 2);
        gap; flatten;
        fc-num_classes;
    }
""")

PYTHON_CHECKS = textwrap.dedent("""\
    import sys, torch, archdsl
    assert archdsl.__file__.startswith(sys.argv[1]), archdsl.__file__
    resnet34 = archdsl.compile_source(archdsl.architectures_dir() / "resnet34.arch")
    print(len(archdsl.bundled_architectures()), resnet34.class_name)
    s = archdsl.summary("resnet34")
    assert s.params == 21_797_672 and "network ResNet34" in repr(s), s
    model = archdsl.load("tiny.arch", params={"num_classes": 3}).eval()
    assert archdsl.summary(model).params == sum(p.numel() for p in model.parameters())
    assert "Tiny" in archdsl.draw(model, depth=1).source
    assert archdsl.load("lenet5").archdsl_origin.version == archdsl.__version__
    # A network parameter may be called like one of the functions' keywords: params= takes any name.
    own = "network Own(weights = 4, device = 2) { input 3x8x8; conv3-weights; relu; conv1-device; }"
    own_params = {"weights": 6, "device": 5}
    assert archdsl.load(source=own, params=own_params)(torch.randn(1, 3, 8, 8)).shape == (1, 5, 8, 8)
    assert archdsl.summary(own, params=own_params).params == 6 * 27 + 6 + 5 * 6 + 5
    try:
        archdsl.summary(torch.nn.Linear(2, 2))
    except TypeError as exc:
        assert "archdsl.load" in str(exc)
    else:
        raise AssertionError("summary() took a module archdsl did not make")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.save((x, model(x)), "xy.pt")
    torch.save(model, "tiny.pt")
    import pydoc
    assert "summary(network" in pydoc.render_doc(archdsl, renderer=pydoc.plaintext)
""")

UNPICKLE = textwrap.dedent("""\
    import torch
    model = torch.load("tiny.pt", weights_only=False)
    x, y = torch.load("xy.pt")
    with torch.no_grad():
        print(type(model).__name__, (model(x) - y).abs().max().item(), model.archdsl_origin.params)
""")


# What pyproject.toml builds the wheel from (the rest of the clone, shared/ included, stays behind).
PACKAGED = ("pyproject.toml", "README.md", "LICENSE", "archdsl", "grammars", "architectures")


def clean_copy(folder: Path) -> Path:
    """The files git knows (tracked, and new ones it does not ignore), as a fresh clone has them: pip builds
    in the tree, and setuptools would put into the wheel whatever an earlier build left in build/lib,
    modules deleted since included."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *PACKAGED],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    return folder


def test_non_editable_install_works_from_outside_the_clone(tmp_path):
    target, clone = tmp_path / "site", clean_copy(tmp_path / "clone")
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(clone)],
                           check=False, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    assert not (target / "archdsl" / "grammars").exists()
    def modules(folder: Path) -> set[str]:
        return {p.relative_to(folder).as_posix() for p in folder.rglob("*.py")}

    assert modules(target / "archdsl") == modules(clone / "archdsl")  # every package listed in pyproject.toml
    work = tmp_path / "work"
    work.mkdir()
    (work / "tiny.arch").write_text(USER_NET)
    env = dict(os.environ, PYTHONPATH=str(target))
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "archdsl", *args], check=False, capture_output=True, text=True,
                              cwd=work, env=env, input=stdin, timeout=300)

    def python(code: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, *args], check=False, capture_output=True, text=True,
                              cwd=work, env=env, timeout=300)

    # The Python API: bundled names, summary, draw and load of a user's own file, help, saving.
    result = python(PYTHON_CHECKS, str(target))
    assert result.returncode == 0, result.stderr
    count, name = result.stdout.split()
    assert int(count) == len(list((ROOT / "architectures").glob("*.arch"))) and name == "ResNet34"
    # The saved model loads in a fresh process that has no .arch file.
    (work / "tiny.arch").rename(work / "tiny.arch.bak")
    result = python(UNPICKLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["Tiny", "0.0"]
    # A spawned DataLoader worker gets the model pickled (a file: spawn imports the main module in the worker).
    (work / "worker.py").write_text(SPAWNED_WORKER)
    result = subprocess.run([sys.executable, "worker.py"], check=False, capture_output=True, text=True, cwd=work,
                            env=env, timeout=300)
    assert result.returncode == 0 and float(result.stdout) == 0.0, result.stderr
    (work / "tiny.arch.bak").rename(work / "tiny.arch")

    # Bundled networks by name, a user's file `use`ing the bundled blocks, standard input.
    listing = cli("list")
    assert listing.returncode == 0
    assert re.search(r"^resnet34 +resnet +3x224x224 +21,797,672 ", listing.stdout, re.MULTILINE)
    checked = cli("check", "-q", "resnet34", "tiny.arch", "-", stdin=USER_NET)
    assert checked.returncode == 0, checked.stderr
    assert "resnet34: network ResNet34" in checked.stdout and "tiny.arch: network Tiny" in checked.stdout
    assert "<stdin>: network Tiny" in checked.stdout  # as its diagnostics name standard input
    missing = cli("check", "resnet35")
    assert missing.returncode == 1 and "`archdsl list` names those" in missing.stderr
    unknown = cli("check", "-", stdin="network n { input 3x8x8; qqqqqqqq; }")
    assert "hint: `archdsl words` lists the layer words" in unknown.stderr
    for repository_file in ("docs/", "bench/", "scripts/", ".md"):
        assert repository_file not in missing.stderr + unknown.stderr
    assert "conv: 2-D convolution" in cli("words").stdout
    assert cli("viz", "tiny.arch", "--depth", "1").stdout.startswith("digraph Tiny {")
    assert cli("compile", "tiny.arch").stdout.startswith('"""Tiny: generated by archdsl')

    # Machine-readable outputs, validated against the schemas the install prints.
    schemas = {name: json.loads(cli("schema", name).stdout) for name in ("summary", "diff", "diagnostic", "list")}
    outputs = {"summary": [cli("summary", "--json", "vgg16").stdout], "diff": [cli("diff", "--json", "resnet18",
                                                                                   "tiny.arch").stdout],
               "list": [cli("list", "--json").stdout],
               "diagnostic": cli("check", "--json", "-", stdin=USER_NET.replace("relu;", "rleu;")).stdout.splitlines()}
    import jsonschema

    for name, texts in outputs.items():
        assert texts and all(texts), name
        for text in texts:
            jsonschema.validate(json.loads(text), schemas[name])
    assert cli("diff", "--exit-code", "resnet18", "resnet18").returncode == 0
    assert cli("diff", "--exit-code", "resnet18", "tiny.arch").returncode == 1
    assert cli("diff", "--exit-code", "resnet18", "nope").returncode == 2
    assert "complete -o filenames -F _archdsl archdsl" in cli("completion", "bash").stdout
    usage = cli("frob")
    assert usage.returncode == 2 and "  completion  print a shell completion script" in usage.stderr
    assert cli("completion", "zsh").stdout.startswith("#compdef archdsl")
    misuse = cli("check", "--bogus", "tiny.arch")
    assert misuse.returncode == 2 and misuse.stderr.startswith("usage: archdsl check [-h]")
    assert "archdsl check: error: unrecognized arguments: --bogus" in misuse.stderr
    assert re.fullmatch(r"archdsl \d+\.\d+\.\d+\n", cli("--version").stdout)

    # The README's reference as a pip user copies it: a path of the clone names the bundled network.
    clone_path = cli("check", "architectures/resnet34.arch")
    assert clone_path.returncode == 1 and "the bundled network of that name is called 'resnet34'" in clone_path.stderr
    assert re.search(r"^efficientnet_b0 +efficientnet +3x224x224 ", listing.stdout, re.MULTILINE)

    # `use` looks beside the file, then in ARCHDSL_PATH, then in the bundled library; the error says where.
    (work / "lib" / "mine").mkdir(parents=True)
    (work / "lib" / "mine" / "twice.arch").write_text("block twice(c) { conv3-c; relu; conv3-c; relu; }\n")
    (work / "sub").mkdir()
    (work / "sub" / "net.arch").write_text('use "mine/twice.arch";\nuse "blocks/resnet.arch";\n'
                                           "network N { input 3x16x16; twice(8); basic(8); gap; flatten; fc-2; }\n")
    lost = cli("check", "-q", "sub/net.arch")
    assert lost.returncode == 1 and "hint: looked in " in lost.stderr and "ARCHDSL_PATH" in lost.stderr
    env["ARCHDSL_PATH"] = str(work / "lib")
    found = cli("check", "-q", "sub/net.arch")
    del env["ARCHDSL_PATH"]
    assert found.returncode == 0 and "output 2; 2,010 parameters" in found.stdout, found.stderr

    # Colour: only on a terminal or with FORCE_COLOR, never with NO_COLOR.
    bad = USER_NET.replace("relu;", "rleu;")
    assert "\x1b[" not in cli("check", "-", stdin=bad).stderr
    env["FORCE_COLOR"] = "1"
    assert "\x1b[31merror[unknown-word]" in cli("check", "-", stdin=bad).stderr
    env["NO_COLOR"] = "1"
    assert "\x1b[" not in cli("check", "-", stdin=bad).stderr
    del env["FORCE_COLOR"], env["NO_COLOR"]

    # summary for a batch and a dtype: 32 bfloat16 samples hold 16 times the activations of one float32 one.
    one, batch = (json.loads(cli("summary", "--json", *extra, "resnet18").stdout)
                  for extra in ((), ("--batch", "32", "--dtype", "bfloat16")))
    assert (batch["batch"], batch["dtype"], batch["macs"]) == (32, "bfloat16", 32 * one["macs"])
    assert batch["activation_bytes"] == 16 * one["activation_bytes"]

    # Provenance: the module's header says how to emit it again, --set values included.
    compiled = cli("compile", "tiny.arch", "--set", "num_classes=100", "--freeze", "up to basic1")
    header = " ".join(compiled.stdout.split('"""')[1].split())  # a long command is wrapped over lines
    piped = cli("compile", "-", stdin=USER_NET).stdout
    assert piped.startswith('"""Tiny: generated by archdsl from standard input.') and "`archdsl compile -`" in piped
    assert "archdsl compile tiny.arch --set num_classes=100 --freeze 'up to basic1'" in header, header

    # The HTML page's script and style come from the wheel's package data.
    if shutil.which("dot"):
        page = cli("viz", "tiny.arch", "--format", "html").stdout
        assert page.startswith("<!DOCTYPE html>") and "function switchTo" in page and "aside dd {" in page
    # Without Graphviz's `dot`, a drawing in a notebook shows archdsl's hint, not graphviz's exception.
    drawn = "import archdsl; print(archdsl.draw('lenet5')._repr_mimebundle_()['text/plain'])"
    no_dot = subprocess.run([sys.executable, "-c", drawn], check=False, capture_output=True, text=True, cwd=work,
                            env=dict(env, PATH=str(work)), timeout=300)
    assert no_dot.returncode == 0 and "install Graphviz" in no_dot.stdout, no_dot.stderr

    # bench: the spread of the runs, not only their median.
    timed = cli("bench", "lenet5", "--batch", "2", "--runs", "5", "--warmup", "1")
    assert timed.returncode == 0 and "median, fastest and interquartile range of 5 runs" in timed.stdout, timed.stderr
