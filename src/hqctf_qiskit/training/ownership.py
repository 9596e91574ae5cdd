"""One owner per run folder: a lock file that the training process creates atomically and removes when it ends.

Two ``hqctf train`` processes in one folder would interleave their checkpoints, configs and TensorBoard files. The
first to create ``RUN/.hqctf-lock`` (``O_CREAT|O_EXCL``: exactly one creator wins) owns the folder until it ends,
normally, on an error or on Ctrl-C; any other process gets one line naming the owner. The lock holds the owner's
pid, host, start time and command as JSON.

A lock whose process is gone (a kill -9, a crash) stays behind. On the host that wrote it, a pid that no longer runs
makes it *stale*: ``--resume`` takes it over with a log line, and so does a new run whose folder holds nothing else.
A lock written on another host (or in another container) is never taken over: its process cannot be checked from
here, so the message says to delete the file if that process is gone. Whoever claims a folder (fresh or from a
stale lock) removes the partial temporary files (``io.TEMP_MARK``) that killed writers left there.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..config.files import RUN_CONFIG
from ..errors import RunFolderError
from ..io import TEMP_MARK
from .checkpoint import checkpoint_path

log = logging.getLogger(__name__)

LOCK_NAME = ".hqctf-lock"
_READ_ATTEMPTS, _READ_PAUSE_S = 20, 0.05  # a lock being written (created, not yet filled) is read again for ~1 s


@dataclass(frozen=True)
class LockOwner:
    """Who holds a run folder; ``token`` tells this claim apart from any other (pids and hosts repeat)."""

    pid: int
    host: str
    started: float
    command: str
    token: str
    process_start: int | None = None  # see _proc_stat
    pid_namespace: int | None = None  # containers on one host may share its name, never their pid namespace

    @classmethod
    def this_process(cls) -> "LockOwner":
        command = shlex.join(["hqctf", *sys.argv[1:]]) if sys.argv else "hqctf"
        return cls(os.getpid(), socket.gethostname(), time.time(), command, uuid.uuid4().hex,
                   _proc_stat(os.getpid())[1], _pid_namespace())

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid}@{self.host} since {since}"

    def is_running(self) -> bool | None:
        """True/False on the host (and in the container) that wrote the lock; None elsewhere: another machine's or
        container's pid means nothing here.

        A killed process not yet reaped (a zombie) is gone; so is the owner when its pid now belongs to a process
        that started at another time (the pid was reused, or the machine rebooted).
        """
        namespace = _pid_namespace()
        if self.host != socket.gethostname() or os.name != "posix" or (
                None not in (namespace, self.pid_namespace) and namespace != self.pid_namespace):
            return None
        try:
            os.kill(self.pid, 0)  # signal 0: checks that the pid exists, sends nothing
        except ProcessLookupError:
            return False
        except PermissionError:  # it exists, owned by another user
            pass
        state, start = _proc_stat(self.pid)
        if state in ("Z", "X"):
            return False
        return self.process_start is None or start is None or start == self.process_start


def _proc_stat(pid: int) -> tuple[str | None, int | None]:
    """A process's state letter and start time (clock ticks since boot) from Linux ``/proc``; None where unknown.

    The start time tells a process apart from a later one with the same pid, and needs no wall clock.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None, None


def _pid_namespace() -> int | None:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def read_owner(lock: Path) -> LockOwner | None:
    """The owner recorded in ``lock``; None when the file stays empty or unparsable (a half-written lock is read
    again for about a second first). FileNotFoundError when there is no lock."""
    for attempt in range(_READ_ATTEMPTS):
        try:
            data = json.loads(Path(lock).read_text())
            start, namespace = data.get("process_start"), data.get("pid_namespace")
            return LockOwner(int(data["pid"]), str(data["host"]), float(data["started"]), str(data["command"]),
                             str(data["token"]), None if start is None else int(start),
                             None if namespace is None else int(namespace))
        except (ValueError, KeyError, TypeError, AttributeError):
            if attempt + 1 < _READ_ATTEMPTS:
                time.sleep(_READ_PAUSE_S)
    return None


def _create_lock(lock: Path, owner: LockOwner) -> bool:
    """Create ``lock`` holding ``owner``; False when it already exists. Other OS errors (read-only, no space) raise
    naming the lock file."""
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    try:
        os.write(fd, (json.dumps(asdict(owner), indent=2) + "\n").encode("utf-8"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(lock)
        raise
    os.close(fd)
    return True


def _take_over(lock: Path, stale: LockOwner, me: LockOwner) -> bool:
    """Replace the stale lock of ``stale`` by ours; False when another process got there first.

    The lock is first renamed aside (one renamer wins); if what was moved is no longer the stale lock (another process
    took it over in between), it is put back.
    """
    aside = lock.with_name(f"{LOCK_NAME}.{me.token}{TEMP_MARK}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return False
    moved = read_owner(aside) if aside.exists() else None
    if moved is not None and moved.token == stale.token:
        aside.unlink(missing_ok=True)
        return _create_lock(lock, me)
    try:
        os.link(aside, lock)  # put the other process's lock back (fails only if a third one claimed meanwhile)
    except OSError:
        pass
    aside.unlink(missing_ok=True)
    return False


class RunFolderLock:
    """This process's claim on a run folder; :meth:`release` (or leaving the ``with`` block) gives it back."""

    def __init__(self, run_dir: Path, owner: LockOwner, remove_if_empty: bool = False) -> None:
        self.run_dir, self.owner, self.remove_if_empty = Path(run_dir), owner, remove_if_empty
        self.released = False

    @property
    def path(self) -> Path:
        return self.run_dir / LOCK_NAME

    def release(self) -> None:
        """Remove the lock if it is still ours; a new run's folder left empty (bad input before anything was
        written) goes too. Never raises for a folder that became unwritable: the lock is then merely stale."""
        if self.released:
            return
        self.released = True
        try:
            if read_owner(self.path) == self.owner:
                self.path.unlink()
            if self.remove_if_empty and not any(self.run_dir.iterdir()):
                self.run_dir.rmdir()
        except OSError as exc:
            log.warning("%s: could not remove the lock (%s); the next --resume takes it over", self.path, exc)

    def __enter__(self) -> "RunFolderLock":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _resume_hint(run_dir: Path) -> str:
    if checkpoint_path(run_dir, "latest").is_file():
        return f"`hqctf train --resume {run_dir}` continues it from its latest checkpoint"
    return f"`hqctf train --resume {run_dir}` starts it over from step 0 (it has no checkpoint yet)"


def _refusal(run_dir: Path, option: str, owner: LockOwner | None, running: bool | None) -> RunFolderError:
    """The one line for a folder this process may not claim."""
    lock = run_dir / LOCK_NAME
    if owner is None:
        return RunFolderError(f"{option}: {run_dir} is locked but {lock} is unreadable; if no hqctf process uses "
                              f"this folder, delete {lock} and run again")
    if running is None:
        return RunFolderError(f"{option}: {run_dir} is locked by {owner.describe()} (another host or container: it "
                              f"cannot be checked from here); if that process is gone, delete {lock} and run again")
    if running:
        alternative = "" if option == "--resume" else ", or use another --out"
        return RunFolderError(f"{option}: {run_dir} is in use by another hqctf process ({owner.describe()}); "
                              f"wait for it to end{alternative}")
    return RunFolderError(f"{option}: {run_dir} holds a run whose process is gone ({owner.describe()}, no longer "
                          f"running); {_resume_hint(run_dir)}, or use another --out")


def _claim(run_dir: Path, option: str, may_take_over: Callable[[], bool]) -> LockOwner:
    """Create the lock, or take over a stale one when ``may_take_over()``; else raise the refusal."""
    me, lock = LockOwner.this_process(), run_dir / LOCK_NAME
    for _ in range(5):  # only a lock that vanishes or changes hands while we look needs another round
        if _create_lock(lock, me):
            return me
        try:
            owner = read_owner(lock)
        except FileNotFoundError:
            continue  # its owner released it meanwhile
        running = owner.is_running() if owner is not None else None
        if owner is not None and running is False and may_take_over():
            if _take_over(lock, owner, me):
                log.info("%s: took over the lock of %s, which is no longer running", run_dir, owner.describe())
                return me
            continue
        raise _refusal(run_dir, option, owner, running)
    raise RunFolderError(f"{option}: {run_dir}: several processes are claiming this folder at once; try again")


def remove_partial_files(run_dir: Path) -> list[Path]:
    """Remove the temporary files of writers that were killed mid-write (names with ``io.TEMP_MARK``).

    Only for the folder's owner: a live writer's temporary file would otherwise vanish under it.
    """
    removed = []
    for path in sorted(Path(run_dir).iterdir()):
        if TEMP_MARK in path.name and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.info("%s: removed %d partial file(s) left by a killed process: %s", run_dir, len(removed),
                 ", ".join(p.name for p in removed))
    return removed


def _holds_run_files(run_dir: Path) -> bool:
    """Anything but a lock and partial files: the folder already holds (part of) a run."""
    return any(p.name != LOCK_NAME and TEMP_MARK not in p.name for p in run_dir.iterdir())


def _not_empty(run_dir: Path) -> RunFolderError:
    if (run_dir / RUN_CONFIG).is_file() and not checkpoint_path(run_dir, "latest").is_file():
        return RunFolderError(f"--out: {run_dir} already exists and holds a run that has no checkpoint yet; "
                              f"{_resume_hint(run_dir)}, or use another --out")
    return RunFolderError(f"--out: {run_dir} already exists and is not empty; use --resume {run_dir} or another --out")


def claim_new_run(run_dir: Path) -> RunFolderLock:
    """Claim a new, empty run folder (created if missing). An existing run is never reused or touched: a folder
    with run files is refused before anything is written in it. If the claim fails later on bad input, releasing it
    removes the folder again when it is still empty."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"--out: {run_dir} already exists and is not a folder; choose another --out")
    if run_dir.is_dir() and _holds_run_files(run_dir) and not (run_dir / LOCK_NAME).exists():
        raise _not_empty(run_dir)
    for _ in range(5):
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            owner = _claim(run_dir, "--out", may_take_over=lambda: not _holds_run_files(run_dir))
            break
        except FileNotFoundError:  # another new run's failure removed the empty folder meanwhile
            continue
    else:
        raise RunFolderError(f"--out: {run_dir}: the folder keeps disappearing; try again")
    claim = RunFolderLock(run_dir, owner, remove_if_empty=True)
    if _holds_run_files(run_dir):  # a run finished in it between the first look and the claim
        claim.release()
        raise _not_empty(run_dir)
    remove_partial_files(run_dir)
    return claim


def claim_existing_run(run_dir: Path) -> RunFolderLock:
    """Claim a run folder to resume it: a stale lock of a dead process on this host is taken over (logged)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"--resume: {run_dir}: no such run folder")
    claim = RunFolderLock(run_dir, _claim(run_dir, "--resume", may_take_over=lambda: True))
    if not (run_dir / RUN_CONFIG).is_file():
        claim.release()
        raise RunFolderError(f"--resume: {run_dir} is not a run folder (no {RUN_CONFIG}, no checkpoint_latest.pt)")
    remove_partial_files(run_dir)
    return claim
