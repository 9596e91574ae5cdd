"""One owner per run folder: the lock file, stale locks of dead processes, locks of other hosts, partial files."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from hqctf_qiskit.errors import RunFolderError
from hqctf_qiskit.io import TEMP_MARK
from hqctf_qiskit.training import ownership
from hqctf_qiskit.training.ownership import (
    LOCK_NAME, LockOwner, claim_existing_run, claim_new_run, read_owner, remove_partial_files,
)

PARTIAL = f".checkpoint_latest.pt.abc123{TEMP_MARK}.pt"  # what a writer killed mid-checkpoint leaves


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(run_dir: Path, pid: int, host: str | None = None, started: float | None = None) -> LockOwner:
    owner = LockOwner(pid, host or socket.gethostname(), started or time.time() - 3600, "hqctf train --out x",
                      "f" * 32)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK_NAME).write_text(json.dumps(asdict(owner)))
    return owner


def make_run(run_dir: Path, checkpoint: bool = True) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text("seed: 0\n")
    if checkpoint:
        (run_dir / "checkpoint_latest.pt").write_bytes(b"weights")
    return run_dir


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()}


def test_a_claim_records_this_process_and_its_release_removes_the_lock(tmp_path):
    run = tmp_path / "new" / "run"
    with claim_new_run(run) as claim:
        data = json.loads((run / LOCK_NAME).read_text())
        assert data["pid"] == os.getpid() and data["host"] == socket.gethostname()
        assert abs(data["started"] - time.time()) < 60 and data["command"].startswith("hqctf")
        assert read_owner(run / LOCK_NAME) == claim.owner
        (run / "config.yaml").write_text("seed: 0\n")
    assert [p.name for p in run.iterdir()] == ["config.yaml"]


def test_a_second_claim_while_the_first_holds_the_folder_is_refused_naming_the_owner(tmp_path):
    run = tmp_path / "run"
    with claim_new_run(run) as first:
        (run / "config.yaml").write_text("seed: 0\n")
        before = snapshot(run)
        expected = f"pid {os.getpid()}@{socket.gethostname()} since "
        for claim in (claim_new_run, claim_existing_run):
            with pytest.raises(RunFolderError) as caught:
                claim(run)
            message = str(caught.value)
            assert str(run) in message and expected in message and "in use by another hqctf process" in message
        assert snapshot(run) == before and read_owner(run / LOCK_NAME) == first.owner


def test_a_new_run_in_a_finished_run_folder_is_refused_before_anything_is_written(tmp_path):
    run = make_run(tmp_path / "run")
    before, mtime = snapshot(run), run.stat().st_mtime_ns
    with pytest.raises(RunFolderError, match="already exists and is not empty; use --resume"):
        claim_new_run(run)
    assert snapshot(run) == before and run.stat().st_mtime_ns == mtime  # not even a lock created and removed


def test_a_stale_lock_of_a_dead_process_is_recognised_and_resume_takes_it_over(tmp_path, caplog):
    run = make_run(tmp_path / "run")
    stale = write_lock(run, dead_pid())
    assert stale.is_running() is False
    (run / PARTIAL).write_bytes(b"half a checkpoint")

    with pytest.raises(RunFolderError) as caught:  # a new run with the same --out: told how to continue it
        claim_new_run(run)
    message = str(caught.value)
    assert f"pid {stale.pid}@{stale.host}" in message and "no longer running" in message
    assert f"`hqctf train --resume {run}` continues it from its latest checkpoint" in message
    assert (run / PARTIAL).exists(), "a refused claim removes nothing"

    with caplog.at_level(logging.INFO, logger=ownership.__name__):
        with claim_existing_run(run) as claim:
            assert read_owner(run / LOCK_NAME) == claim.owner != stale
            assert not (run / PARTIAL).exists(), "the owner cleans partial files of killed writers"
    assert f"took over the lock of pid {stale.pid}@{stale.host}" in caplog.text
    assert "removed 1 partial file(s)" in caplog.text
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint_latest.pt", "config.yaml"]


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")
def test_a_killed_process_not_yet_reaped_and_a_reused_pid_count_as_gone(tmp_path):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exits; not waited for: a zombie meanwhile
    try:
        deadline = time.time() + 30
        while ownership._proc_stat(zombie.pid)[0] != "Z":
            assert time.time() < deadline
            time.sleep(0.01)
        assert write_lock(tmp_path / "a", zombie.pid).is_running() is False
    finally:
        zombie.wait()
    me = LockOwner.this_process()
    assert me.is_running() is True and me.process_start is not None
    assert replace(me, process_start=me.process_start - 1).is_running() is False  # same pid, another process
    assert replace(me, pid_namespace=(me.pid_namespace or 0) + 1).is_running() is None  # another container


def test_a_stale_lock_in_an_otherwise_empty_folder_is_taken_over_by_a_new_run(tmp_path):
    run = tmp_path / "run"  # killed while loading data: the lock and a partial file, no run files yet
    write_lock(run, dead_pid())
    (run / PARTIAL).write_bytes(b"x")
    with claim_new_run(run):
        assert [p.name for p in run.iterdir()] == [LOCK_NAME]
    assert not run.exists(), "released with nothing written: the empty new folder goes"


def test_a_run_without_a_checkpoint_is_refused_as_a_new_run_with_how_to_start_it_over(tmp_path):
    run = make_run(tmp_path / "run", checkpoint=False)
    with pytest.raises(RunFolderError, match=r"no checkpoint yet; `hqctf train --resume .*` starts it over from "
                                             r"step 0 \(it has no checkpoint yet\), or use another --out"):
        claim_new_run(run)
    write_lock(run, dead_pid())  # killed: its stale lock is still there
    with pytest.raises(RunFolderError, match="no longer running.*starts it over from step 0"):
        claim_new_run(run)


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    run = make_run(tmp_path / "run")
    other = write_lock(run, dead_pid(), host="other-node-17")
    assert other.is_running() is None
    (run / PARTIAL).write_bytes(b"x")
    for claim in (claim_existing_run, claim_new_run):
        with pytest.raises(RunFolderError) as caught:
            claim(run)
        message = str(caught.value)
        assert f"pid {other.pid}@other-node-17" in message and "another host or container" in message
        assert f"if that process is gone, delete {run / LOCK_NAME}" in message
    assert read_owner(run / LOCK_NAME) == other and (run / PARTIAL).exists()


def test_an_unreadable_lock_is_reported_not_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(ownership, "_READ_ATTEMPTS", 2)
    run = make_run(tmp_path / "run")
    (run / LOCK_NAME).write_text("{not json")
    with pytest.raises(RunFolderError, match="unreadable; if no hqctf process uses this folder, delete "):
        claim_existing_run(run)
    assert (run / LOCK_NAME).read_text() == "{not json"


def test_a_takeover_that_lost_the_race_puts_the_winners_lock_back(tmp_path):
    run = make_run(tmp_path / "run")
    stale = write_lock(run, dead_pid())
    winner = replace(LockOwner.this_process(), token="w" * 32)  # took the stale lock over a moment ago
    (run / LOCK_NAME).write_text(json.dumps(asdict(winner)))
    assert not ownership._take_over(run / LOCK_NAME, stale, LockOwner.this_process())
    assert read_owner(run / LOCK_NAME) == winner
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME, "checkpoint_latest.pt", "config.yaml"]


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path):
    run = make_run(tmp_path / "run")
    claim = claim_existing_run(run)
    other = write_lock(run, os.getpid())  # e.g. our lock was taken over after we were presumed dead
    claim.release()
    assert read_owner(run / LOCK_NAME) == other


def test_the_lock_is_released_on_ctrl_c_and_on_errors(tmp_path):
    run = make_run(tmp_path / "run")
    for exc in (KeyboardInterrupt, RuntimeError):
        with pytest.raises(exc):
            with claim_existing_run(run):
                raise exc()
        assert not (run / LOCK_NAME).exists()


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunFolderError, match="--resume: .*missing: no such run folder"):
        claim_existing_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match=r"not a run folder \(no config.yaml, no checkpoint_latest.pt\)"):
        claim_existing_run(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []


def test_only_partial_files_are_removed(tmp_path):
    (tmp_path / PARTIAL).write_bytes(b"x")
    (tmp_path / "checkpoint_latest.pt").write_bytes(b"y")
    (tmp_path / "tensorboard").mkdir()
    assert remove_partial_files(tmp_path) == [tmp_path / PARTIAL]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_latest.pt", "tensorboard"]


# -- the real command line ----------------------------------------------------------------------------------------

def train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hqctf_qiskit.cli.main", "train", *args]


def with_seed(args: list[str], seed: int) -> list[str]:
    args = list(args)
    args[args.index("--seed") + 1] = str(seed)
    return args


@pytest.mark.slow
def test_two_trainings_started_together_on_one_folder_one_trains_the_other_is_refused(tmp_path, tiny_phantom):
    from helpers import TINY_TRAIN_ARGS

    out = tmp_path / "R"
    processes = [subprocess.Popen(train_command("--data", str(tiny_phantom), "--out", str(out),
                                                *with_seed(TINY_TRAIN_ARGS, seed)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  preexec_fn=lambda: os.umask(0o022))
                 for seed in (0, 1)]
    results = [(p, *p.communicate(timeout=600)) for p in processes]
    assert sorted(p.returncode for p, _, _ in results) == [0, 2], [err[-2000:] for _, _, err in results]
    (winner, won_out, _), = [r for r in results if r[0].returncode == 0]
    (_, _, refused), = [r for r in results if r[0].returncode == 2]
    assert f"run folder: {out}" in won_out
    lines = refused.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused, refused
    assert lines[0].startswith(f"error: --out: {out} is in use by another hqctf process (pid {winner.pid}@"), lines
    assert " since " in lines[0]

    seed = 0 if processes[0] is winner else 1
    assert f"seed: {seed}\n" in (out / "config.yaml").read_text()
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert not [p.name for p in out.iterdir() if TEMP_MARK in p.name or p.name == LOCK_NAME]
    # run files follow the umask (022 -> 0644), not mkstemp's 0600
    for name in ("config.yaml", "splits.json", "metrics.csv", "summary.json", "checkpoint_latest.pt",
                 "checkpoint_best.pt", "checkpoint_final.pt"):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_is_started_over_by_resume(tmp_path, tiny_phantom, tiny_run):
    import csv
    import signal

    from helpers import TINY_TRAIN_ARGS, hqctf_here

    out = tmp_path / "R"
    args = ["--data", str(tiny_phantom), "--out", str(out), *TINY_TRAIN_ARGS]  # tiny_run's options
    process = subprocess.Popen(train_command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "config.yaml").is_file():
        assert process.poll() is None and time.time() < deadline, "the run ended before it wrote config.yaml"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "checkpoint_latest.pt").exists(), "killed too late: the first checkpoint was written"
    assert read_owner(out / LOCK_NAME).pid == process.pid  # its lock stayed behind, stale now
    (out / PARTIAL).write_bytes(b"half a checkpoint")

    again = hqctf_here("train", *args, check=False)  # the same command again: refused, told what --resume does
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert f"`hqctf train --resume {out}` starts it over from step 0" in again.stderr

    resumed = hqctf_here("train", "--resume", str(out))
    assert f"took over the lock of pid {process.pid}@" in resumed.stdout
    assert "has no checkpoint yet (stopped before its first epoch ended): starting over from step 0" in resumed.stdout
    assert not (out / PARTIAL).exists() and not (out / LOCK_NAME).exists()

    def metrics(run: Path) -> list[dict[str, str]]:
        rows = csv.DictReader((run / "metrics.csv").open())
        return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]

    assert metrics(out) == metrics(tiny_run), "starting over gives the numbers of an uninterrupted run"
