"""Every output file is written atomically: a failed run leaves the previous output as it was.

Each command runs in process with the disk "filling up" halfway through writing its temporary
file. A command that wrote its output any other way than through pipeline.write_atomic would not
notice and would succeed, so these tests also prove that every output goes through it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from conftest import ROOT

from archdsl.cli import main
from archdsl.pipeline import write_atomic
from archdsl.weights import save_weights

LENET5 = str(ROOT / "architectures" / "lenet5.arch")
UNFORMATTED = "network n {  input 1x8x8;   relu }\n"


@pytest.fixture
def disk_full(monkeypatch):
    """Writing archdsl's temporary files stops halfway with ENOSPC; other writes are unaffected."""
    def failing(original):
        def write(self, data, *args, **kwargs):
            if not (self.name.startswith(".") and self.name.endswith(".tmp")):
                return original(self, data, *args, **kwargs)
            original(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device")
        return write

    monkeypatch.setattr(Path, "write_text", failing(Path.write_text))
    monkeypatch.setattr(Path, "write_bytes", failing(Path.write_bytes))


COMMANDS = {
    "compile": (["compile", LENET5, "-o", "{out}"], "out.py"),
    "compile --fuse": (["compile", "--fuse", LENET5, "-o", "{out}"], "out.py"),
    "viz": (["viz", LENET5, "-o", "{out}"], "out.dot"),
    "report chart": (["report", LENET5, "-o", "{out}"], "out.svg"),
    "fmt": (["fmt", "{out}"], "net.arch"),
}


@pytest.mark.parametrize("argv, name", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_failed_write_leaves_the_previous_output_untouched(argv, name, tmp_path, disk_full, capsys):
    out = tmp_path / name
    previous = UNFORMATTED if name.endswith(".arch") else "previous output\n"
    out.write_text(previous)
    assert main([a.format(out=out, tmp=tmp_path) for a in argv]) == 1
    assert out.read_text() == previous
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert f"cannot write {out}: No space left on device" in capsys.readouterr().err


def test_an_unwritable_output_is_a_diagnostic_not_a_traceback(tmp_path, capsys):
    assert main(["compile", LENET5, "-o", str(tmp_path / "no" / "such" / "dir.py")]) == 1
    assert main(["compile", LENET5, "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot write {tmp_path / 'no' / 'such' / 'dir.py'}: No such file or directory" in err
    assert f"error: cannot write {tmp_path}: Is a directory" in err
    assert "Traceback" not in err


def test_outputs_keep_the_permissions_of_the_file_they_replace(tmp_path):
    # mkstemp makes private (0600) files: replacing a shared file with one would lock others out.
    path = tmp_path / "net.arch"
    path.write_text(UNFORMATTED)
    path.chmod(0o640)
    assert main(["fmt", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"")
    weights.chmod(0o604)
    save_weights({}, weights)
    assert stat.S_IMODE(weights.stat().st_mode) == 0o604


def test_new_outputs_get_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.py", "x = 1\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.py").stat().st_mode) == 0o640
