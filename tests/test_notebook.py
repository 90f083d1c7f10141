"""The IPython extension: `%load_ext archdsl` and `%%arch` cells, in IPython's InteractiveShell and in a
notebook executed by nbclient (a real kernel)."""

from __future__ import annotations

import os

import pytest
from helpers import ROOT

IPython = pytest.importorskip("IPython")

CELL = """network Small(num_classes = 1000) {
    input 3x32x32;
    conv1: conv3-16(bias=false); bn1: bn; relu;
    gap; flatten; fc: fc-num_classes
}
"""


@pytest.fixture
def shell():
    from IPython.testing.globalipapp import get_ipython, start_ipython

    ip = start_ipython() or get_ipython()  # one shell per process: the second call returns None
    ip.run_line_magic("load_ext", "archdsl")
    yield ip
    ip.user_ns.pop("model", None)


def test_a_cell_compiles_shows_the_summary_and_binds_the_module(shell, capsys):
    import torch

    shown = shell.run_cell_magic("arch", "-n model num_classes=10 --no-drawing", CELL)
    assert "conv1" in repr(shown) and "fc" in repr(shown)
    assert "<pre" in shown._repr_html_()
    model = shell.user_ns["model"]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)  # the parameter reached the network


def test_an_error_prints_like_the_cli_without_a_traceback(shell, capsys):
    shown = shell.run_cell_magic("arch", "", CELL.replace("conv3-16(bias=false)", "conv3-16(bais=false)"))
    assert shown is None
    err = capsys.readouterr().err
    assert "<string>:3:" in err and "error[" in err and "did you mean 'bias'" in err
    assert "Traceback" not in err


def test_a_bad_line_argument_is_a_diagnostic(shell, capsys):
    assert shell.run_cell_magic("arch", "--depth two", CELL) is None
    assert "usage: %%arch" in capsys.readouterr().err


@pytest.mark.slow
def test_a_notebook_runs_with_inline_summary_and_drawing(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext archdsl"),
                      nbformat.v4.new_code_cell("%%arch -n model num_classes=10\n" + CELL),
                      nbformat.v4.new_code_cell("print(sum(p.numel() for p in model.parameters()))")]
    # The kernel is a child process: it imports this checkout's archdsl through the inherited PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {
        "path": str(tmp_path)}})
    try:
        client.execute()
    except nbclient.exceptions.DeadKernelError as exc:  # pragma: no cover - a broken kernel install
        pytest.skip(f"no Jupyter kernel: {exc}")
    outputs = notebook.cells[1].outputs
    html = next(o["data"]["text/html"] for o in outputs if "data" in o and "text/html" in o["data"])
    assert "conv1" in html
    import shutil
    if shutil.which("dot"):
        assert "<svg" in html
    # conv 3*16*9 + bn 32 + fc 16*10+10
    assert notebook.cells[2].outputs[0]["text"].strip() == str(3 * 16 * 9 + 32 + 16 * 10 + 10)
