"""Writing output files without ever losing what the user had.

Every file archdsl writes goes through `replacing()` (or `write_files()` on top of it), which
decides by what the output path *is*:

- a regular file, or a name that does not exist yet: the new contents go to an invisible
  temporary file (O_TMPFILE on Linux; elsewhere a hidden `.NAME.archdsl-PID-XXXX.tmp`) that
  replaces the target only once it is complete, keeping the old file's permissions;
- a stream -- a character device such as /dev/null, or a FIFO: written directly, never replaced
  (renaming over /dev/null as root would replace the device);
- anything else (a directory, a socket, a block device): refused before anything is written.

A symlink is followed to its target, which is what gets replaced; the link stays a link. An
output may not be an input of the same run, nor another output of it. Outputs that belong
together are all prepared before any is moved into place, so a refusal or a failure while
writing leaves every one of them as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from archdsl.errors import ArchError, Diagnostic

PathLike = str | os.PathLike
_OURS = ".archdsl-"  # temporary names: .NAME.archdsl-PID-XXXXXXXX.tmp
_NOTHING_WRITTEN = "nothing was written; any previous file is unchanged"


@dataclass(frozen=True)
class Target:
    """Where one output goes: `path` as the user wrote it, `real` with symlinks resolved."""

    path: Path
    real: Path
    stream: bool  # written in place (a device or FIFO), not replaced


def plan(paths: Sequence[PathLike], inputs: Iterable[PathLike] = ()) -> list[Target]:
    """Classify each output, refusing (ArchError, before anything is written) what must not be written."""
    targets = [_target(Path(p)) for p in paths]
    seen: dict[Path | tuple[int, int], Path] = {}
    for target in targets:
        if target.stream:
            continue
        for key in _identities(target.real):
            if key in seen:
                raise ArchError(Diagnostic(f"cannot write {target.path}: it is also the output {seen[key]}",
                                           hint=f"name different files; {_NOTHING_WRITTEN}", code="cannot-write"))
            seen[key] = target.path
    for source in inputs:
        source_path = Path(source)
        if str(source).startswith("<"):  # <stdin>, <string>, <parameters>: not files
            continue
        for target in targets:
            if not target.stream and _same_file(source_path, target.real):
                raise ArchError(Diagnostic(f"cannot write {target.path}: it is an input of this command "
                                           f"({source_path})",
                                           hint=f"choose another output name; {_NOTHING_WRITTEN}", code="cannot-write"))
    return targets


@contextlib.contextmanager
def replacing(paths: Sequence[PathLike], *, inputs: Iterable[PathLike] = ()) -> Iterator[list[Path]]:
    """Paths for the block to write, one per output; when the block succeeds they replace the outputs.

    The outputs are checked first (see `plan`). A stream's path is the stream itself. The others
    are temporary files that replace their targets together when the block returns, in the order
    given (put the file that names or checks the others last). If the block raises, nothing is
    replaced and the temporary files are gone. Errors of the block pass unchanged; those of
    making or moving the temporary files are ArchErrors naming the output.
    """
    targets = plan(paths, inputs)
    with contextlib.ExitStack() as stack:
        temps = [None if t.stream else stack.enter_context(_Temporary.for_target(t)) for t in targets]
        yield [t.real if temp is None else temp.path for t, temp in zip(targets, temps, strict=True)]
        for target, temp in zip(targets, temps, strict=True):
            if temp is not None:
                temp.commit(target)


def write_files(contents: Mapping[PathLike, str | bytes], *, inputs: Iterable[PathLike] = ()) -> None:
    """Write each file (text as UTF-8, or bytes) so that a failure leaves every previous version untouched."""
    paths = list(contents)
    try:
        with replacing(paths, inputs=inputs) as writable:
            for where, data in zip(writable, contents.values(), strict=True):
                with open(where, "wb") as file:
                    file.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    except OSError as exc:
        raise cannot_write(Path(exc.filename) if exc.filename else Path(paths[0]), exc, paths) from None


def write_file(path: PathLike, data: str | bytes, *, inputs: Iterable[PathLike] = ()) -> None:
    """One file; see write_files()."""
    write_files({path: data}, inputs=inputs)


def cannot_write(path: Path, exc: OSError, named: Sequence[PathLike] = ()) -> ArchError:
    """An OSError while writing, as a diagnostic naming the output (not a temporary or /proc path)."""
    text = str(path)
    if named and (text.startswith("/proc/self/fd/") or _OURS in path.name or str(path) not in map(str, named)):
        text = str(named[0]) if len(named) == 1 else ", ".join(map(str, named))
    return ArchError(Diagnostic(f"cannot write {text}: {exc.strerror or exc}", hint=_NOTHING_WRITTEN,
                                code="cannot-write"))


# -- classification ------------------------------------------------------------------------------
def _target(path: Path) -> Target:
    real = Path(os.path.realpath(path))  # follows every link; a dangling one names the file to create
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        if not real.parent.is_dir():
            raise ArchError(Diagnostic(f"cannot write {path}: No such file or directory",
                                       hint=f"create the folder {real.parent} first; {_NOTHING_WRITTEN}",
                                       code="cannot-write")) from None
        return Target(path, real, stream=False)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    if stat.S_ISREG(mode):
        return Target(path, real, stream=False)
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return Target(path, real, stream=True)
    what = "Is a directory" if stat.S_ISDIR(mode) else "Is a socket" if stat.S_ISSOCK(mode) else \
        "Is a block device" if stat.S_ISBLK(mode) else "Not a regular file"
    raise ArchError(Diagnostic(f"cannot write {path}: {what}", hint=f"name a file to write; {_NOTHING_WRITTEN}",
                               code="cannot-write"))


def _identities(path: Path) -> list[Path | tuple[int, int]]:
    """What makes two outputs the same file: the resolved path, and the inode of an existing one."""
    keys: list[Path | tuple[int, int]] = [path]
    with contextlib.suppress(OSError):
        st = path.stat()
        keys.append((st.st_dev, st.st_ino))
    return keys


def _same_file(source: Path, real_target: Path) -> bool:
    try:
        return os.path.samefile(source, real_target)
    except OSError:  # one of them does not exist: compare the names
        return Path(os.path.realpath(source)) == real_target


# -- temporary files -----------------------------------------------------------------------------
class _Temporary:
    """A temporary file beside a target: anonymous (O_TMPFILE) where the platform allows, so that a
    run killed halfway leaves nothing behind; otherwise named .NAME.archdsl-PID-XXXX.tmp, and such
    files left by dead processes are removed by the next write to the same folder."""

    def __init__(self, target: Target, fd: int | None, name: Path | None) -> None:
        self.target, self.fd, self.name = target, fd, name

    @property
    def path(self) -> Path:
        return Path(f"/proc/self/fd/{self.fd}") if self.fd is not None else self.name  # type: ignore[return-value]

    @classmethod
    @contextlib.contextmanager
    def for_target(cls, target: Target) -> Iterator[_Temporary]:
        folder = target.real.parent
        _remove_stale(folder)
        temp = None
        try:
            temp = cls._anonymous(target) or cls._named(target)
        except OSError as exc:
            raise cannot_write(target.path, exc) from None
        try:
            yield temp
        finally:
            temp.discard()

    @classmethod
    def _anonymous(cls, target: Target) -> _Temporary | None:
        flag = getattr(os, "O_TMPFILE", None)
        if flag is None or not os.path.isdir("/proc/self/fd"):
            return None
        try:
            fd = os.open(target.real.parent, flag | os.O_WRONLY, 0o600)
        except OSError:  # the file system or kernel does not support it
            return None
        return cls(target, fd, None)

    @classmethod
    def _named(cls, target: Target) -> _Temporary:
        import tempfile  # here: only writing commands need it, and it costs every start-up 5 ms

        fd, name = tempfile.mkstemp(dir=target.real.parent, prefix=f".{target.real.name}{_OURS}{os.getpid()}-",
                                    suffix=".tmp")
        os.close(fd)
        return cls(target, None, Path(name))

    def commit(self, target: Target) -> None:
        try:
            _copy_ownership(self, target.real)
            if self.fd is not None:
                # An anonymous file gets a name only now, for the instant between link and rename.
                # (os.link calls linkat(), which follows the /proc link, only when given a dir_fd.)
                name = target.real.parent / f".{target.real.name}{_OURS}{os.getpid()}-{os.urandom(4).hex()}.tmp"
                folder = os.open(target.real.parent, os.O_RDONLY)
                try:
                    os.link(self.path, name.name, dst_dir_fd=folder)
                finally:
                    os.close(folder)
                self.name = name
            os.replace(self.name, target.real)  # type: ignore[arg-type]
            self.name = None
        except OSError as exc:
            raise cannot_write(target.path, exc) from None

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.name is not None:
            self.name.unlink(missing_ok=True)
            self.name = None


def _copy_ownership(temp: _Temporary, real: Path) -> None:
    """The replacement keeps the old file's permissions (and owner, where we may set it); a new
    file gets the umask's (mkstemp's and O_TMPFILE's 0600 would make a shared file private)."""
    try:
        st = real.stat()
        mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode, owner = 0o666 & ~umask, None
    os.chmod(temp.path, mode)
    if owner is not None and hasattr(os, "geteuid") and os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.chown(temp.path, *owner)


def _remove_stale(folder: Path) -> None:
    """Remove temporary files of ours whose process is gone (killed before it could clean up)."""
    try:
        entries = [e for e in os.scandir(folder) if _OURS in e.name and e.name.endswith(".tmp")]
    except OSError:
        return
    for entry in entries:
        pid_text = entry.name.rpartition(_OURS)[2].partition("-")[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _alive(int(pid_text)):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True
