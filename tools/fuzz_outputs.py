"""Fuzz the command line's outputs and standard streams with a program that compiles (tools/fuzz.py).

`check_outputs()` runs `compile -o T` and `viz -o T.dot` in process, T being each kind of thing an
output path can be -- a new name, a regular file, a symlink to one, a dangling symlink, a FIFO
(with a reader), a character device (the null device, made with mknod where allowed), a directory,
a socket, the input itself, a symlink to the input -- and `fmt` on a symlink to the input. What
must hold (docs/diagnostics.md, "Guarantees"): the command returns 0 or 1 and raises nothing; a
stream is written, never replaced; a directory, socket or input is refused and left as it was; a
symlink stays a link and its target is written; no temporary file of ours is left behind.

`check_streams()` runs `check`, `summary`, `compile` and `diff` with standard output closed
(Python's sys.stdout is None then) or full (/dev/full), and `fmt -` with standard input closed:
each must return 1 with a `cannot-write`/`cannot-read` diagnostic.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import stat
import sys
import threading
import time
import traceback
from pathlib import Path

from archdsl.cli.main import main as cli


class OutputBreach(AssertionError):
    """A guarantee about outputs or streams did not hold."""


def _kind(path: Path) -> str:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return "missing"
    for test, kind in ((stat.S_ISLNK, "link"), (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "device"),
                       (stat.S_ISDIR, "dir"), (stat.S_ISSOCK, "socket"), (stat.S_ISREG, "file")):
        if test(mode):
            return kind
    return "other"


def _run(argv: list[str]) -> tuple[int, str]:
    """The command's exit status and standard error; -1 and the traceback when it raised."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception:  # noqa: BLE001 -- reported as the breach it is, with its traceback
        return -1, err.getvalue() + traceback.format_exc()
    return code, err.getvalue()


class _Drain:
    """A reader on a FIFO, as a user's `cat` would be (a writer without one waits forever). Its end is
    opened without blocking, so a command that never opens the FIFO cannot leave it waiting either."""

    def __init__(self, fifo: Path) -> None:
        self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                if not os.read(self.fd, 65536) and self.done.is_set():
                    break  # the command has returned and everything it wrote is read
            except BlockingIOError:
                pass
            time.sleep(0.005)

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=30)
        os.close(self.fd)


def check_outputs(text: str, folder: Path) -> None:
    """Raise OutputBreach when an output guarantee fails for this (compiling) program."""
    source = folder / "n.arch"
    source.write_text(text, encoding="utf-8")
    targets: dict[str, tuple[Path, str]] = {}  # name -> (path, what must happen: written/refused/stream)

    def target(name: str, outcome: str) -> Path:
        path = folder / name
        targets[name] = (path, outcome)
        return path

    target("new.py", "written")
    target("old.py", "written").write_text("old\n")
    (folder / "real.py").write_text("old\n")
    target("link.py", "written").symlink_to("real.py")
    target("dangling.py", "written").symlink_to("absent.py")
    os.mkfifo(target("fifo.py", "stream"))
    with contextlib.suppress(PermissionError):  # mknod needs root
        os.mknod(target("null.py", "stream"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    target("dir.py", "refused").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(target("sock.py", "refused")))
    targets["n.arch"] = (source, "refused")
    target("to_input.py", "refused").symlink_to("n.arch")
    before = {name: (_kind(p), p.read_bytes() if _kind(p) == "file" else None) for name, (p, _) in targets.items()}
    try:
        for name, (path, outcome) in targets.items():
            if not path.exists() and not path.is_symlink() and name != "new.py":
                continue  # the device could not be made
            for argv in (["compile", str(source), "-o", str(path)], ["viz", str(source), "-o", str(path) + ".dot"]):
                if argv[0] == "viz" and outcome != "written":
                    continue  # the .dot twin of a special file is a new name
                reader = _Drain(path) if outcome == "stream" and _kind(path) == "fifo" else None
                code, err = _run(argv)
                if reader is not None:
                    reader.close()
                expected = {"written": 0, "stream": 0, "refused": 1}[outcome]
                if code != expected or "Traceback" in err:
                    raise OutputBreach(f"{argv[0]} -o {name}: exit {code}, expected {expected}: {err[-500:]}")
                kind = _kind(path)
                if outcome != "written" and kind != before[name][0]:
                    raise OutputBreach(f"{argv[0]} -o {name}: a {before[name][0]} became a {kind}")
                if outcome == "refused" and before[name][1] is not None and path.read_bytes() != before[name][1]:
                    raise OutputBreach(f"{argv[0]} -o {name}: a refused output was changed")
                if outcome == "written" and name in ("link.py", "dangling.py") and kind != "link":
                    raise OutputBreach(f"{argv[0]} -o {name}: the symlink was replaced by a {kind}")
        if "class " not in (folder / "real.py").read_text() or "class " not in (folder / "absent.py").read_text():
            raise OutputBreach("compile through a symlink did not write its target")
        (folder / "fmt_link.arch").symlink_to("n.arch")
        code, err = _run(["fmt", str(folder / "fmt_link.arch")])
        if code != 0 or _kind(folder / "fmt_link.arch") != "link":
            raise OutputBreach(f"fmt of a symlink: exit {code}, now a {_kind(folder / 'fmt_link.arch')}: {err[-300:]}")
        left = [p.name for p in folder.iterdir() if ".archdsl-" in p.name]
        if left:
            raise OutputBreach(f"temporary files left behind: {left}")
    finally:
        sock.close()


@contextlib.contextmanager
def _keep_descriptor_1():
    """After a failed write the command points descriptor 1 at the null device, so that the exiting
    interpreter's last flush stays quiet (cli/main.py); in process, the fuzzer's own output must survive."""
    saved = os.dup(1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def check_streams(text: str, folder: Path) -> None:
    """Raise OutputBreach when a closed or full standard stream is anything but a diagnostic."""
    with _keep_descriptor_1():
        _check_streams(text, folder)


def _check_streams(text: str, folder: Path) -> None:
    source = folder / "n.arch"
    source.write_text(text, encoding="utf-8")
    commands = [["check", str(source)], ["summary", str(source)], ["compile", str(source)],
                ["diff", str(source), str(source)]]
    for state in ("closed", "full"):
        for argv in commands:
            err = io.StringIO()
            stdout, stderr = sys.stdout, sys.stderr
            full = open("/dev/full", "w")  # noqa: SIM115 -- closing it flushes what could not be written
            sys.stdout, sys.stderr = (None if state == "closed" else full), err
            try:
                code = cli(argv)
            except Exception:  # noqa: BLE001 -- reported below, with its traceback
                code = -1
                err.write(traceback.format_exc())
            finally:
                sys.stdout, sys.stderr = stdout, stderr
                with contextlib.suppress(OSError):
                    full.close()
            if code != 1 or "error[cannot-write]" not in err.getvalue():
                raise OutputBreach(f"{argv[0]} with standard output {state}: exit {code}: {err.getvalue()[-300:]}")
    stdin, stderr = sys.stdin, sys.stderr
    err = io.StringIO()
    sys.stdin, sys.stderr = None, err
    try:
        code = cli(["fmt", "-"])
    except Exception:  # noqa: BLE001 -- reported below, with its traceback
        code = -1
        err.write(traceback.format_exc())
    finally:
        sys.stdin, sys.stderr = stdin, stderr
    if code != 1 or "error[cannot-read]" not in err.getvalue():
        raise OutputBreach(f"fmt - with standard input closed: exit {code}: {err.getvalue()[-300:]}")
