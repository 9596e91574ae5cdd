"""``hqctf train`` when the file system fails it: a full disk while checkpointing, a read-only run folder.

Each ends in one line naming the file, exit 2, with the previous checkpoint intact, no temporary file and no lock
left behind. The real file systems (a small tmpfs, a read-only bind mount) need ``mount`` (root); where mounting is
not permitted those tests skip, and the patched-writer tests (always run) cover the same path deterministically.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from hqctf_qiskit import io as hqctf_io
from hqctf_qiskit.cli.main import main
from hqctf_qiskit.io import TEMP_MARK
from hqctf_qiskit.training.checkpoint import load_checkpoint, save_checkpoint
from hqctf_qiskit.training.ownership import LOCK_NAME

from helpers import TINY_TRAIN_ARGS, hqctf_here


def one_error_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in text, text[-3000:]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if TEMP_MARK in p.name or p.name == LOCK_NAME]


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


@contextlib.contextmanager
def mounted(*commands: list[str], at: Path) -> Iterator[Path]:
    """Run the mount commands (the last one's target is ``at``); skip the test where mounting is not permitted."""
    at.mkdir(parents=True, exist_ok=True)
    done = 0
    try:
        for command in commands:
            result = subprocess.run(command, capture_output=True, text=True) if shutil.which(command[0]) else None
            if result is None or result.returncode != 0:
                why = result.stderr.strip() if result is not None else "no mount command"
                pytest.skip(f"cannot mount here ({' '.join(command)}: {why})")
            done += 1
        yield at
    finally:
        if done:
            subprocess.run(["umount", str(at)], capture_output=True)


class FullDisk:
    """A write handle on a disk with ``room`` bytes left: the write that does not fit raises ENOSPC."""

    def __init__(self, handle, room: int) -> None:
        self.handle, self.room, self.written = handle, room, 0

    def write(self, data) -> int:
        if self.written + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.handle.close()


def test_a_checkpoint_that_does_not_fit_raises_enospc_naming_it_not_torchs_runtime_error(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint_latest.pt"
    state = {"step": 1, "w": torch.ones(1000)}
    save_checkpoint(path, state)
    monkeypatch.setattr(hqctf_io, "open", lambda *a, **k: FullDisk(builtins.open(*a, **k), room=1000), raising=False)
    with pytest.raises(OSError) as caught:
        save_checkpoint(path, {"step": 2, "w": torch.zeros(10_000)})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_runtime_error_without_a_failed_write_stays_a_runtime_error(tmp_path):
    class Unsavable:
        def __reduce__(self):
            raise RuntimeError("a bug in what is saved")

    with pytest.raises(RuntimeError, match="a bug in what is saved"):
        save_checkpoint(tmp_path / "checkpoint_latest.pt", {"bad": Unsavable()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_train_on_a_full_disk_ends_in_one_line_with_the_last_checkpoint_intact(tmp_path, tiny_phantom, tiny_run,
                                                                            monkeypatch, capsys):
    """The second epoch's checkpoint hits ENOSPC inside torch.save (patched writer: deterministic everywhere)."""
    out = tmp_path / "R"
    saves = []

    def open_on_a_full_disk(file, mode="r", *args, **kwargs):
        handle = builtins.open(file, mode, *args, **kwargs)
        if "w" in mode and "checkpoint_latest.pt" in str(file) and TEMP_MARK in str(file):
            saves.append(file)
            if len(saves) == 2:
                return FullDisk(handle, room=1 << 20)
        return handle

    monkeypatch.setattr(hqctf_io, "open", open_on_a_full_disk, raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", str(tiny_phantom), "--out", str(out), *TINY_TRAIN_ARGS])
    line = one_error_line(capsys.readouterr().err)
    assert exit_.value.code == 2 and line == f"error: {out / 'checkpoint_latest.pt'}: No space left on device"
    assert load_checkpoint(out / "checkpoint_latest.pt")["epoch"] == 1
    assert leftovers(out) == []


@pytest.mark.slow
def test_train_with_its_run_folder_on_a_full_tmpfs(tmp_path, tiny_phantom, tiny_run):
    """A real full file system: room for one checkpoint (and the small files), not for the second epoch's."""
    size = (tiny_run / "checkpoint_latest.pt").stat().st_size * 3 // 2
    disk = tmp_path / "disk"
    with mounted(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], at=disk):
        out = disk / "R"
        result = hqctf_here("train", "--data", str(tiny_phantom), "--out", str(out), *TINY_TRAIN_ARGS, check=False)
        assert result.returncode == 2, result.stderr[-3000:]
        assert one_error_line(result.stderr) == f"error: {out / 'checkpoint_latest.pt'}: No space left on device"
        assert load_checkpoint(out / "checkpoint_latest.pt")["epoch"] == 1
        assert leftovers(out) == []


@pytest.mark.slow
def test_resume_on_a_read_only_run_folder_ends_in_one_line_and_changes_nothing(tmp_path, tiny_run):
    source = tmp_path / "source"
    shutil.copytree(tiny_run, source / "R")
    before = tree(source)
    view = tmp_path / "view"
    with mounted(["mount", "--bind", str(source), str(view)], ["mount", "-o", "remount,bind,ro", str(view)], at=view):
        result = hqctf_here("train", "--resume", str(view / "R"), check=False)
    assert result.returncode == 2
    assert one_error_line(result.stderr) == f"error: {view / 'R' / LOCK_NAME}: Read-only file system"
    assert tree(source) == before


def test_resume_on_a_read_only_run_folder_patched(tmp_path, tiny_run, monkeypatch, capsys):
    """The same without mount: every write-open under the run folder fails with EROFS."""
    run = tmp_path / "R"
    shutil.copytree(tiny_run, run)
    before = tree(run)
    real_open = os.open
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def read_only_open(path, flags, *args, **kwargs):
        if flags & writes and str(Path(path).resolve()).startswith(str(run.resolve())):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--resume", str(run)])
    assert exit_.value.code == 2
    assert one_error_line(capsys.readouterr().err) == f"error: {run / LOCK_NAME}: Read-only file system"
    assert tree(run) == before
