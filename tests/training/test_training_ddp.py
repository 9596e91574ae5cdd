"""``hqctf train`` under torchrun with two gloo processes: parameters stay identical across ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_two_process_ddp_keeps_ranks_identical(tmp_path, tiny_phantom):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
               "-m", "hqctf_qiskit.cli.main", "train", "--data", str(tiny_phantom), "--out", str(out),
               "--qpg-layers", "decoder.blocks.4.*", "--image-size", "32", "--batch-size", "2", "--reps", "1",
               "--device", "cpu", "--epochs", "1", "--samples-per-epoch", "8", "--seed", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ddp"] == {"world_size": 2, "parameters_identical": True}
    assert summary["steps"] == 2  # 8 samples / (batch 2 x 2 ranks)
    assert (out / "checkpoint_final.pt").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["ddp"], "rank 1 must not create a run folder of its own"
