"""``hqctf train`` under torchrun with two gloo processes: parameters stay identical across ranks, a resumed run
stays a world of two, and rank 0 alone writes the run folder."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WRITE_AUDIT = Path(__file__).with_name("write_audit")  # a sitecustomize.py that logs each rank's writes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
            str(free_port()), "-m", "hqctf_qiskit.cli.main", *args]


def kill_tree(pid: int) -> None:
    """SIGKILL torchrun and its workers, and wait until they are gone. torchrun starts each worker in a session of
    its own, so killing the launcher's process group alone leaves the workers training on (orphaned)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    for member in tree:  # the launcher first: it must not restart the workers
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + 60
    for member in tree[1:]:
        while running(member):
            assert time.time() < deadline, f"pid {member} survived SIGKILL"
            time.sleep(0.01)


def running(pid: int) -> bool:
    """Neither gone nor a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def tiny_ddp_args(data: Path, out: Path, epochs: int) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--qpg-layers", "decoder.blocks.4.*", "--patch-size",
            "32", "--batch-size", "2", "--reps", "1", "--device", "cpu", "--epochs", str(epochs),
            "--samples-per-epoch", "8", "--seed", "2"]


def test_two_process_ddp_keeps_ranks_identical(tmp_path, tiny_phantom):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(torchrun(*tiny_ddp_args(tiny_phantom, out, epochs=1)), capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ddp"] == {"world_size": 2, "parameters_identical": True}
    assert summary["steps"] == 2  # 8 samples / (batch 2 x 2 ranks)
    assert (out / "checkpoint_final.pt").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["ddp"], "rank 1 must not create a run folder of its own"
    assert result.stdout.count("epoch 1/1  step 2") == 1, "epoch lines are logged by rank 0 only"


def test_resume_under_torchrun_stays_distributed_and_rank_0_alone_writes(tmp_path, tiny_phantom):
    out, audit = tmp_path / "ddp", tmp_path / "audit"
    audit.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HQCTF_AUDIT_ROOT": str(out), "HQCTF_AUDIT_LOG": str(audit),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(WRITE_AUDIT), os.environ.get("PYTHONPATH")]))}
    epochs = 4
    with open(tmp_path / "first.log", "w") as first_log:
        first = subprocess.Popen(torchrun(*tiny_ddp_args(tiny_phantom, out, epochs)), env=env, stdout=first_log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.time() + 300
            while not (out / "checkpoint_latest.pt").is_file():  # the first epoch finished and checkpointed
                assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.time() < deadline, "no checkpoint within 300 s"
                time.sleep(0.02)
        finally:
            kill_tree(first.pid)
            first.wait()
    assert not (out / "summary.json").exists(), "the run must have been killed before finishing"

    resumed = subprocess.run(torchrun("train", "--resume", str(out)), capture_output=True, text=True, timeout=600,
                             env=env)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ddp"] == {"world_size": 2, "parameters_identical": True}
    assert summary["steps"] == epochs * 2  # a world of one would take 4 steps per epoch after the resume
    assert [int(row["step"]) for row in csv.DictReader((out / "metrics.csv").open())] == [2, 4, 6, 8]
    assert resumed.stdout.count(f"resumed {out} at epoch") == 1, "log lines come from rank 0 only"
    assert resumed.stdout.count("took over the lock of pid") == 1, "rank 0 alone claims: the killed run's lock"
    assert not (out / ".hqctf-lock").exists()

    # rank 0 alone wrote the run folder, in both sessions: rank 1 recorded no write at all under it
    rank0 = (audit / "rank-0.log").read_text().splitlines()
    rank1 = (audit / "rank-1.log").read_text().splitlines() if (audit / "rank-1.log").exists() else []
    assert rank1 == [], rank1[:10]
    assert any(line.startswith("os.rename ") and "checkpoint_latest.pt" in line for line in rank0), rank0[:10]
    assert any(line.endswith("summary.json") for line in rank0), rank0[:10]
    # one TensorBoard writer per session (the first and the resumed one), not one per rank
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 2
