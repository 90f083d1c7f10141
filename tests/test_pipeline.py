"""pipeline.py: the stages chained; the analysis path stays free of torch."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT


def test_checking_a_network_does_not_import_torch():
    code = ("import sys, archdsl; archdsl.build('architectures/googlenet.arch'); "
            "archdsl.compile_source('architectures/resnet34.arch'); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_load_executes_the_emitted_source_and_tracebacks_show_its_lines():
    import linecache

    import archdsl

    # Another source from the same file first (other parameters): each keeps its own lines.
    other = archdsl.load(ROOT / "architectures" / "lenet5.arch", params={"num_classes": 7})
    model = archdsl.load(ROOT / "architectures" / "lenet5.arch")
    assert type(other).forward.__code__.co_filename != type(model).forward.__code__.co_filename
    filename = type(model).forward.__code__.co_filename
    assert filename.startswith("<archdsl: ") and "lenet5.arch" in filename
    source = "".join(linecache.getlines(filename))
    assert source == archdsl.compile_source(ROOT / "architectures" / "lenet5.arch").source
