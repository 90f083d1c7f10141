"""Command-line conventions: `-` for standard input, viz to standard output, `check --json`,
`diff --exit-code`, colour (NO_COLOR, FORCE_COLOR), shell completion, usage errors, `archdsl schema`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT

from archdsl.schemas import SCHEMAS, DiagnosticRecord, Diff, Listing, Summary

SMALL = 'use "blocks/resnet.arch";\nnetwork Small(classes = 10) {\n    input 3x32x32;\n    conv3-64; basic(64);\n' \
        '    gap; flatten; fc-classes;\n}\n'
BAD = "network n {\n    input 3x8x8;\n    conv3-8; rleu; fc-3;\n}\n"


def run(*args: str, cwd, stdin: str | None = None, env=None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environ.update(PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "archdsl", *args], check=False, capture_output=True, text=True,
                          cwd=cwd, timeout=300, env=environ, input=stdin)


@pytest.mark.parametrize("argv", [["check", "-q", "-"], ["summary", "-"], ["compile", "-"], ["viz", "-"],
                                  ["diff", "-", "resnet18"], ["summary", "--json", "-"]])
def test_standard_input_wherever_a_network_is_read(tmp_path, argv):
    result = run(*argv, cwd=tmp_path, stdin=SMALL)  # its `use` is found in the bundled library
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    if argv == ["check", "-q", "-"]:
        assert result.stdout.startswith("<stdin>: network Small, input 3x32x32")  # as its diagnostics name it
    if argv[-1] == "-" and argv[0] == "summary" and "--json" in argv:
        assert Summary.model_validate_json(result.stdout).network == "Small"


def test_standard_input_errors_name_it(tmp_path):
    result = run("check", "-", cwd=tmp_path, stdin=BAD)
    assert result.returncode == 1 and "<stdin>:3:14: error[unknown-word]" in result.stderr
    diff = run("diff", "-", "-", cwd=tmp_path, stdin=SMALL)
    assert diff.returncode == 2 and "only one of A and B can be standard input" in diff.stderr


def test_viz_writes_text_formats_to_standard_output(tmp_path):
    dot = run("viz", "lenet5", "--depth", "1", cwd=tmp_path)
    assert dot.returncode == 0 and dot.stdout.startswith("digraph LeNet5 {")
    same = run("viz", "lenet5", "--depth", "1", "-o", "-", "--format", "dot", cwd=tmp_path)
    assert same.stdout == dot.stdout
    if shutil.which("dot"):
        svg = run("viz", "lenet5", "--format", "svg", cwd=tmp_path)
        assert svg.returncode == 0 and "<svg" in svg.stdout
    binary = run("viz", "lenet5", "--format", "png", cwd=tmp_path)
    assert binary.returncode == 2 and "--format png is binary: write it with -o FILE.png" in binary.stderr
    clash = run("viz", "lenet5", "--format", "svg", "-o", "x.png", cwd=tmp_path)
    assert clash.returncode == 2 and "disagrees with -o x.png" in clash.stderr
    assert not list(tmp_path.iterdir())


def test_check_json_is_one_record_per_diagnostic(tmp_path):
    (tmp_path / "bad.arch").write_text(BAD)
    (tmp_path / "warn.arch").write_text("network w {\n    input 3x8x8;\n    conv3-8; bn; relu; gap; flatten; fc-3; "
                                        "softmax;\n}\n")
    result = run("check", "--json", "bad.arch", "warn.arch", "lenet5", "nope", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ""
    records = [DiagnosticRecord.model_validate_json(line) for line in result.stdout.splitlines()]
    bad, *warnings, missing = records
    assert (bad.file, bad.line, bad.column, bad.end.line, bad.end.column) == ("bad.arch", 3, 14, 3, 18)
    assert (bad.severity, bad.code, bad.message, bad.hints) == (
        "error", "unknown-word", "unknown layer or block 'rleu'", ["did you mean 'relu'?"])
    assert warnings and all(w.severity == "warning" and w.file == "warn.arch" for w in warnings)
    assert (missing.file, missing.line, missing.code) == (None, None, "cannot-read")
    for line in result.stdout.splitlines():
        assert set(json.loads(line)) == {"file", "line", "column", "end", "severity", "code", "message", "hints",
                                         "notes"}


def test_diff_exit_code(tmp_path):
    assert run("diff", "--exit-code", "lenet5", "lenet5", cwd=tmp_path).returncode == 0
    assert run("diff", "--exit-code", "resnet18", "resnet34", cwd=tmp_path).returncode == 1
    assert run("diff", "--exit-code", "--set", "num_classes=10", "lenet5", "lenet5", cwd=tmp_path).returncode == 0
    broken = run("diff", "--exit-code", "resnet18", "nope", cwd=tmp_path)
    assert broken.returncode == 2 and "error[cannot-read]: cannot read nope" in broken.stderr
    assert run("diff", "resnet18", "resnet34", cwd=tmp_path).returncode == 0  # without it: 0 whatever they are
    assert run("diff", "resnet18", "nope", cwd=tmp_path).returncode == 1


def test_diff_exit_code_sees_a_change_inside_a_block(tmp_path):
    (tmp_path / "a.arch").write_text("network n { input 3x8x8; conv3-8; relu; }\n")
    (tmp_path / "b.arch").write_text("network n { input 3x8x8; conv3-8; tanh; }\n")
    assert run("diff", "--exit-code", "a.arch", "b.arch", cwd=tmp_path).returncode == 1


def test_colour_only_on_request_or_a_terminal_and_never_with_no_color(tmp_path):
    (tmp_path / "bad.arch").write_text(BAD)
    plain = run("check", "bad.arch", cwd=tmp_path)
    assert "\x1b[" not in plain.stderr  # a pipe is no terminal
    coloured = run("check", "bad.arch", cwd=tmp_path, env={"FORCE_COLOR": "1"})
    assert "\x1b[31merror[unknown-word]\x1b[0m" in coloured.stderr and "\x1b[36m  hint:\x1b[0m" in coloured.stderr
    assert run("check", "bad.arch", cwd=tmp_path, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stderr == plain.stderr


def test_colour_on_a_terminal():
    from archdsl.cli.colour import paint

    class Terminal:
        def isatty(self) -> bool:
            return True

    text = "x.arch:1:2: warning[w]: careful\n  conv\n  ^~~~\n  hint: do this"
    env = {k: os.environ.pop(k) for k in ("NO_COLOR", "FORCE_COLOR", "TERM") if k in os.environ}
    try:
        assert "\x1b[35mwarning[w]\x1b[0m" in paint(text, Terminal())
        os.environ["NO_COLOR"] = "1"
        assert paint(text, Terminal()) == text
    finally:
        os.environ.pop("NO_COLOR", None)
        os.environ.update(env)


def _bash_completion(script, words: str) -> list[str]:
    code = f'source {script}; COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); _archdsl; ' \
           'printf "%s\\n" "${COMPREPLY[@]}"'
    return subprocess.run(["bash", "-c", code], check=True, capture_output=True, text=True,
                          cwd=script.parent).stdout.split()


def test_bash_completion(tmp_path):
    script = tmp_path / "archdsl.bash"
    result = run("completion", "bash", cwd=tmp_path)
    assert result.returncode == 0
    script.write_text(result.stdout)
    (tmp_path / "mine.arch").write_text(SMALL)
    assert _bash_completion(script, "archdsl ch") == ["check"]
    assert "resnet34" in _bash_completion(script, "archdsl check res")
    assert _bash_completion(script, "archdsl check mi") == ["mine.arch"]
    assert _bash_completion(script, "archdsl viz lenet5 --format ''") == ["dot", "svg", "png", "pdf", "html"]
    assert _bash_completion(script, "archdsl diff --exit") == ["--exit-code"]
    assert _bash_completion(script, "archdsl schema d") == ["diff", "diagnostic"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (scripts/setup installs it as root)")
def test_zsh_completion(tmp_path):
    """Through zsh's bashcompinit, as an interactive zsh runs it (zsh filters the words by the prefix)."""
    script = tmp_path / "archdsl.zsh"
    script.write_text(run("completion", "zsh", cwd=tmp_path).stdout)
    code = (f"autoload -U compinit && compinit -u; source {script}; print -r -- \"$_comps[archdsl]\"; "
            "emulate -L sh; setopt kshglob noshglob braceexpand; COMP_WORDS=(archdsl viz lenet5 --format ''); "
            'COMP_CWORD=4; _archdsl; echo "${COMPREPLY[@]}"')
    out = subprocess.run(["zsh", "-f", "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    registered, values = out.stdout.splitlines()
    assert registered == "_bash_complete -o filenames -F _archdsl" and values == "dot svg png pdf html"


def test_usage_errors_list_every_command(tmp_path):
    from archdsl.cli.main import COMMAND_MODULES

    for argv in ([], ["frob"], ["--bogus"]):
        result = run(*argv, cwd=tmp_path)
        assert result.returncode == 2
        listed = result.stderr.split("commands:\n")[1].splitlines()
        assert [line.split()[0] for line in listed if line.startswith("  ")] == list(COMMAND_MODULES)


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "--bogus", "lenet5"], "archdsl check: error: unrecognized arguments: --bogus"),
    (["viz", "lenet5", "--format", "pdf"], "archdsl viz: error: --format pdf is binary: write it with -o FILE.pdf"),
    (["summary", "lenet5", "--set", "x"], "archdsl summary: error: --set expects name=value, got 'x'"),
])
def test_a_usage_error_in_a_command_shows_that_commands_usage(tmp_path, argv, message):
    result = run(*argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: archdsl {argv[0]} [-h]") and message in result.stderr
    assert "commands:" not in result.stderr  # the list of commands is for a missing or unknown command


def test_version(tmp_path):
    import archdsl

    assert run("--version", cwd=tmp_path).stdout == f"archdsl {archdsl.__version__}\n"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_prints_each_models_json_schema(tmp_path, name):
    result = run("schema", name, cwd=tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout) == SCHEMAS[name].model_json_schema()


def test_every_json_output_validates_against_its_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    outputs = {"summary": run("summary", "--json", "googlenet", cwd=tmp_path).stdout,
               "diff": run("diff", "--json", "resnet18", "resnet50", cwd=tmp_path).stdout,
               "list": run("list", "--json", cwd=tmp_path).stdout}
    for name, text in outputs.items():
        jsonschema.validate(json.loads(text), SCHEMAS[name].model_json_schema())
    models = {"summary": Summary, "diff": Diff, "list": Listing}
    for name, text in outputs.items():
        models[name].model_validate_json(text)  # extra="forbid": a key the model lacks fails here
