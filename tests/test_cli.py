"""The command line: compile, check, exit codes, and errors without tracebacks."""

from __future__ import annotations

import gc
import subprocess
import sys

from helpers import ROOT

from archdsl.cli.main import main


def run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archdsl", *args], check=False, capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_a_command_leaves_the_cycle_collector_as_it_found_it(capsys):
    # main() pauses the collector while it imports the command's modules (archdsl/collector.py); a program
    # that calls it, or imports archdsl, keeps its own setting.
    try:
        for enabled in (True, False):
            gc.enable() if enabled else gc.disable()
            assert main(["summary", "architectures/lenet5.arch", "--json"]) == 0 and gc.isenabled() is enabled
    finally:
        gc.enable()
    assert '"network": "LeNet5"' in capsys.readouterr().out


def test_compile_to_stdout_and_to_a_file(tmp_path):
    result = run("compile", "architectures/lenet5.arch")
    assert result.returncode == 0 and "class LeNet5(nn.Module):" in result.stdout
    out = tmp_path / "lenet.py"
    result = run("compile", "architectures/lenet5.arch", "-o", str(out), "--set", "num_classes=4")
    assert result.returncode == 0
    assert "def __init__(self, num_classes: int = 4) -> None:" in out.read_text()


def test_check_prints_shapes_and_parameters():
    result = run("check", "architectures/lenet5.arch", "architectures/resnet34.arch")
    assert result.returncode == 0
    assert "conv1    conv5-6   6x28x28      156" in result.stdout
    assert "output 1000; 21,797,672 parameters" in result.stdout


def test_errors_are_gcc_style_with_caret_and_exit_1(tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_text("network n {\n    input 3x8x8;\n    conv3-8; rleu\n}\n")
    result = run("check", str(bad), "architectures/lenet5.arch")
    assert result.returncode == 1
    assert f"{bad}:3:14: error[unknown-word]: unknown layer or block 'rleu'" in result.stderr
    assert "\n      conv3-8; rleu\n               ^~~~\n" in result.stderr
    assert "Traceback" not in result.stderr
    assert "network LeNet5" in result.stdout  # kept going after the bad file


def test_failed_compile_leaves_the_previous_output_untouched(tmp_path):
    out = tmp_path / "model.py"
    out.write_text("previous\n")
    bad = tmp_path / "bad.arch"
    bad.write_text("network n { input 3x8x8; fc-10 }")
    result = run("compile", str(bad), "-o", str(out))
    assert result.returncode == 1 and out.read_text() == "previous\n"
    assert list(tmp_path.iterdir()) == sorted([bad, out]) or set(tmp_path.iterdir()) == {bad, out}


def test_version_is_the_package_version():
    import archdsl

    result = run("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"archdsl {archdsl.__version__}\n", "")
    assert archdsl.__version__ == "0.1.0"


def test_usage_errors_exit_2():
    assert run("compile").returncode == 2
    assert run("compile", "architectures/lenet5.arch", "--set", "oops").returncode == 2


def test_missing_file_and_bad_override_are_input_errors():
    result = run("check", "architectures/nope.arch")
    assert result.returncode == 1 and "cannot read architectures/nope.arch" in result.stderr
    result = run("compile", "architectures/lenet5.arch", "--set", "num_clases=3")
    assert result.returncode == 1 and "did you mean 'num_classes'" in result.stderr
