"""No output ever loses what the user had (archdsl/outputs.py).

- A failed write leaves the previous output as it was. The failure here is the kernel's own: the
  command runs in a child process whose file-size limit (RLIMIT_FSIZE) stops every write halfway,
  so a command that wrote its output any other way than through archdsl.outputs would truncate
  the old file and fail these tests.
- A stream (a character device, a FIFO) is written in place, never replaced; a directory or a
  socket is refused before anything is written; a symlink is followed, and stays a link.
- An output is never an input of the same run, nor another output of it.
- A module and its weights are written together or not at all, and the module checks its weights'
  digest; our temporary files are invisible while written and never outlive a run.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import ROOT

from archdsl.cli.main import main
from archdsl.frontend.formatter import format_text
from archdsl.outputs import replacing, write_file
from archdsl.pytorch.weights import save_weights

LENET5 = str(ROOT / "architectures" / "lenet5.arch")
UNFORMATTED = "network n {  input 1x8x8;   relu }\n"
# A file-size limit below every new output: each write stops with EFBIG halfway.
_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
from archdsl.cli.main import main
from archdsl.frontend.formatter import format_text
sys.exit(main(sys.argv[1:]))
"""

COMMANDS = {
    "compile": (["compile", LENET5, "-o", "{out}"], "out.py"),
    "compile --fuse": (["compile", "--fuse", LENET5, "-o", "{out}"], "out.py"),
    "viz": (["viz", LENET5, "-o", "{out}"], "out.dot"),
    "report chart": (["report", LENET5, "-o", "{out}"], "out.svg"),
    "report table": (["report", LENET5, "-o", "{tmp}/chart.svg", "--table", "{out}"], "table.md"),
    "fmt": (["fmt", "{out}"], "net.arch"),
}


def run_limited(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", _LIMITED, *argv], capture_output=True, text=True, env=env,
                          check=False)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("argv, name", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_failed_write_leaves_the_previous_output_untouched(argv, name, tmp_path):
    out = tmp_path / name
    previous = "network n {  input 1x8x8;" + "   relu;" * 40 + " }\n" if name.endswith(".arch") else "previous\n"
    out.write_text(previous)
    run = run_limited([a.format(out=out, tmp=tmp_path) for a in argv])
    assert run.returncode == 1, run.stderr
    assert f"error[cannot-write]: cannot write {tmp_path}/" in run.stderr and ": File too large" in run.stderr
    assert "Traceback" not in run.stderr
    assert out.read_text() == previous
    assert hidden(tmp_path) == []


def test_a_module_and_its_weights_are_replaced_together_or_not_at_all(tmp_path):
    pth = tmp_path / "lenet.pth"
    save_weights(__import__("archdsl").load(LENET5), tmp_path / "lenet.safetensors")
    (tmp_path / "model.py").write_text("old module\n")
    (tmp_path / "model.safetensors").write_bytes(b"old weights")
    pth.write_bytes((tmp_path / "lenet.safetensors").read_bytes())
    run = run_limited(["compile", LENET5, "--weights", str(tmp_path / "lenet.safetensors"),
                       "-o", str(tmp_path / "model.py")])
    assert run.returncode == 1 and "File too large" in run.stderr, run.stderr
    assert (tmp_path / "model.py").read_text() == "old module\n"
    assert (tmp_path / "model.safetensors").read_bytes() == b"old weights"
    # The case the review found: the module's name is a folder; the weights must not be written either.
    (tmp_path / "dir.py").mkdir()
    (tmp_path / "dir.safetensors").write_bytes(b"old weights")
    assert main(["compile", LENET5, "--weights", str(pth), "-o", str(tmp_path / "dir.py")]) == 1
    assert (tmp_path / "dir.safetensors").read_bytes() == b"old weights"
    assert hidden(tmp_path) == []


def test_a_module_refuses_weights_that_are_not_the_ones_written_with_it(tmp_path):
    weights = tmp_path / "lenet.safetensors"
    save_weights(__import__("archdsl").load(LENET5), weights)
    for name in ("a", "b"):
        assert main(["compile", LENET5, "--weights", str(weights), "-o", str(tmp_path / f"{name}.py")]) == 0
    save_weights(__import__("archdsl").load(LENET5), tmp_path / "b.safetensors")  # other weights, same shapes
    script = "import a, b; a.pretrained(); b.pretrained()"
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert "b.safetensors is not the weights file written with this module (its SHA-256 differs)" in run.stderr


def test_a_fifo_is_written_not_replaced(tmp_path):
    fifo = tmp_path / "out.py"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert main(["compile", LENET5, "-o", str(fifo)]) == 0
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received and received[0].startswith(b'"""LeNet5: generated by archdsl')
    assert hidden(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="making a device node needs root")
def test_a_character_device_is_written_not_replaced(tmp_path):
    # A private copy of /dev/null: the bug replaced the real one when run as root.
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for argv in (["compile", LENET5, "-o", str(null)], ["viz", LENET5, "-o", str(tmp_path / "x.dot")],
                 ["report", LENET5, "-o", str(tmp_path / "c.svg"), "--table", str(null)]):
        assert main(argv) == 0
        assert stat.S_ISCHR(null.stat().st_mode)
    assert hidden(tmp_path) == []


def test_a_directory_or_a_socket_is_refused_before_anything_is_written(tmp_path, capsys):
    sock_path = tmp_path / "sock.py"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        assert main(["compile", LENET5, "-o", str(sock_path)]) == 1
    (tmp_path / "dir.md").mkdir()
    assert main(["report", LENET5, "-o", str(tmp_path / "c.svg"), "--table", str(tmp_path / "dir.md")]) == 1
    assert not (tmp_path / "c.svg").exists()  # the chart waits for the table: both or neither
    assert main(["compile", LENET5, "-o", str(tmp_path / "no" / "such" / "dir.py")]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {sock_path}: Is a socket" in err
    assert f"cannot write {tmp_path / 'dir.md'}: Is a directory" in err
    assert f"cannot write {tmp_path / 'no' / 'such' / 'dir.py'}: No such file or directory" in err
    assert "Traceback" not in err


def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    real = tmp_path / "real.arch"
    real.write_text(UNFORMATTED)
    link = tmp_path / "link.arch"
    link.symlink_to(real.name)
    assert main(["fmt", str(link)]) == 0
    assert link.is_symlink() and real.read_text() == format_text(UNFORMATTED, "real.arch") != UNFORMATTED
    (tmp_path / "module.py").symlink_to("sub/target.py")  # dangling: the target is created
    (tmp_path / "sub").mkdir()
    assert main(["compile", LENET5, "-o", str(tmp_path / "module.py")]) == 0
    assert (tmp_path / "module.py").is_symlink() and (tmp_path / "sub" / "target.py").read_text().startswith('"""')


def test_an_output_is_never_an_input_of_the_same_run(tmp_path, capsys):
    net = tmp_path / "net.arch"
    net.write_text(Path(LENET5).read_text())
    alias = tmp_path / "alias.arch"
    alias.symlink_to(net.name)
    library = tmp_path / "lib.arch"
    library.write_text("block b() { relu }\n")
    user = tmp_path / "user.arch"
    user.write_text('use "lib.arch";\nnetwork u { input 1x8x8; b() }\n')
    pth = tmp_path / "w.pth"
    save_weights(__import__("archdsl").load(LENET5), tmp_path / "w.safetensors")
    pth.write_bytes((tmp_path / "w.safetensors").read_bytes())
    kept = {p: p.read_bytes() for p in (net, library, pth, tmp_path / "w.safetensors")}
    cases = [
        ["compile", str(net), "-o", str(net)],
        ["compile", str(net), "-o", str(alias)],
        ["compile", str(user), "-o", str(library)],  # a `use`d file is an input too
        ["compile", str(net), "--weights", str(pth), "-o", str(pth)],
        ["compile", str(net), "--weights", str(pth), "-o", str(tmp_path / "w.safetensors")],  # module = weights
        ["report", str(net), "-o", str(tmp_path / "c.svg"), "--table", str(net)],
        ["report", str(net), "-o", str(tmp_path / "c.svg"), "--table", str(tmp_path / "c.svg")],
        ["viz", str(user), "-o", str(tmp_path / "lib.arch.dot")],  # fine: not an input
    ]
    codes = [main(argv) for argv in cases]
    assert codes == [1, 1, 1, 1, 1, 1, 1, 0]
    err = capsys.readouterr().err
    assert err.count("it is an input of this command") == 5 and err.count("it is also the output") == 2
    assert all(p.read_bytes() == data for p, data in kept.items())
    assert not (tmp_path / "c.svg").exists()


def test_temporary_files_are_invisible_while_written(tmp_path):
    before = sorted(os.listdir(tmp_path))
    with replacing([tmp_path / "a.py", tmp_path / "b.py"]) as (a, b):
        a.write_text("a\n")
        b.write_text("b\n")
        if sys.platform.startswith("linux"):
            assert sorted(os.listdir(tmp_path)) == before  # O_TMPFILE: no name until it is complete
    assert (tmp_path / "a.py").read_text() == "a\n" and (tmp_path / "b.py").read_text() == "b\n"
    assert hidden(tmp_path) == []


def test_temporary_files_of_a_killed_run_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".out.py.archdsl-{pid}-abcd1234.tmp"
    stale.write_bytes(b"x" * 1000)
    others = [tmp_path / f".out.py.archdsl-{os.getpid()}-live.tmp", tmp_path / ".someone-elses.tmp"]
    for other in others:
        other.write_text("kept")
    write_file(tmp_path / "out.py", "x = 1\n")
    assert not stale.exists() and all(o.exists() for o in others)


def test_outputs_keep_the_permissions_of_the_file_they_replace(tmp_path):
    # mkstemp and O_TMPFILE make private (0600) files: replacing a shared file with one would lock others out.
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
        write_file(tmp_path / "new.py", "x = 1\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.py").stat().st_mode) == 0o640
