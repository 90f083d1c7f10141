"""Standard streams that are closed, full or not files: a diagnostic and exit 1, never a traceback.

Each command runs in a child process, as a user runs it, with its streams redirected by the shell.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import ROOT

LENET5 = str(ROOT / "architectures" / "lenet5.arch")
ALEXNET = str(ROOT / "architectures" / "alexnet.arch")
COMMANDS = {
    "check": ["check", LENET5],
    "summary": ["summary", LENET5],
    "summary --json": ["summary", LENET5, "--json"],
    "compile": ["compile", LENET5],
    "diff": ["diff", LENET5, ALEXNET],
    "fmt -": ["fmt", "-"],
}


def shell(argv: list[str], redirect: str, stdin: str = "network n { input 1x8x8;  relu }\n"):
    command = " ".join([sys.executable, "-m", "archdsl", *argv]) + " " + redirect
    return subprocess.run(["bash", "-c", command], input=stdin, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("argv", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize("redirect, reason", [("> /dev/full", "No space left on device"), (">&-", "it is closed")],
                         ids=["full", "closed"])
def test_a_full_or_closed_standard_output_is_a_diagnostic(argv, redirect, reason):
    run = shell(argv, redirect)
    assert run.returncode == 1, run.stderr
    assert f"error[cannot-write]: cannot write to standard output: {reason}" in run.stderr
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr


def test_a_reader_that_goes_away_is_not_an_error():
    run = shell(["summary", str(ROOT / "architectures" / "resnet152.arch")], "| head -1")
    assert run.returncode == 0 and run.stdout.startswith("layer")
    assert run.stderr == ""


def test_fmt_with_standard_input_closed_or_a_fifo_is_a_diagnostic(tmp_path):
    run = shell(["fmt", "-"], "<&-")
    assert run.returncode == 1 and "cannot read <stdin>: standard input is closed" in run.stderr
    fifo = tmp_path / "pipe.arch"
    os.mkfifo(fifo)
    run = subprocess.run([sys.executable, "-m", "archdsl", "fmt", str(fifo)], capture_output=True, text=True,
                         timeout=60, check=False)  # it must not wait for a writer
    assert run.returncode == 1 and f"cannot read {fifo}: not a regular file" in run.stderr


@pytest.mark.parametrize("data, reason", [
    (b"# \x00\nnetwork n { input 1x8x8; relu }\n", "not a text file (it holds NUL bytes)"),
    (b"# " + b"c" * 10_000_000 + b"\nnetwork n { input 1x8x8; relu }\n", "larger than 10,000,000 bytes"),
], ids=["NUL byte", "over 10 MB"])
def test_fmt_reads_standard_input_by_the_rules_files_are_read_by(data, reason, tmp_path):
    # `fmt -` accepted a NUL byte and wrote it back, while every command refused the same file.
    file = tmp_path / "n.arch"
    file.write_bytes(data)
    runs = [subprocess.run([sys.executable, "-m", "archdsl", "fmt", *argv], input=data, capture_output=True,
                           timeout=60, check=False) for argv in (["-"], [str(file)])]
    for run in runs:
        assert run.returncode == 1 and b"error[cannot-read]: cannot read" in run.stderr, run.stderr
        assert reason.encode() in run.stderr and run.stdout == b""
    assert file.read_bytes() == data


CALLER = """
import os, stat, sys
from archdsl.cli.main import main

def where():
    try:
        info = os.fstat(1)
    except OSError:
        return "closed"
    return "null" if stat.S_ISCHR(info.st_mode) and info.st_rdev == os.stat(os.devnull).st_rdev else "other"

before = where()
status = main(["summary", sys.argv[1]])
print(status, before, where(), file=sys.stderr)
"""


@pytest.mark.parametrize("redirect, before", [("> /dev/full", "other"), (">&-", "closed")], ids=["full", "closed"])
def test_main_called_from_python_leaves_the_callers_descriptors_as_they_were(redirect, before):
    # main() pointed descriptor 1 at /dev/null after a failed write, for good: the caller's later output vanished.
    command = f"{sys.executable} -c '{CALLER}' {LENET5} {redirect}"
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "error[cannot-write]: cannot write to standard output" in run.stderr
    assert run.stderr.splitlines()[-1] == f"1 {before} {before}"
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr
