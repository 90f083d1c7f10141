"""`pip install .` (not editable), used as a pip user would: from a folder outside the clone, with none of
the repository's files. One test, since the install is slow: it runs many checks on the one install."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

from helpers import ROOT

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


def test_non_editable_install_works_from_outside_the_clone(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(ROOT)],
                           check=False, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    assert not (target / "archdsl" / "grammars").exists()
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
    (work / "tiny.arch.bak").rename(work / "tiny.arch")

    # Bundled networks by name, a user's file `use`ing the bundled blocks, standard input.
    listing = cli("list")
    assert listing.returncode == 0
    assert re.search(r"^resnet34 +resnet +3x224x224 +21,797,672 ", listing.stdout, re.MULTILINE)
    checked = cli("check", "-q", "resnet34", "tiny.arch", "-", stdin=USER_NET)
    assert checked.returncode == 0, checked.stderr
    assert "resnet34: network ResNet34" in checked.stdout and "tiny.arch: network Tiny" in checked.stdout
    assert "-: network Tiny" in checked.stdout
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
