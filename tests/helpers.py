"""Shared test helpers (importable because pytest puts tests/ on sys.path, see pyproject)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_CT_DIR = SHARED_DATA / "totalseg-example-ct"

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
requires_real_ct = pytest.mark.skipif(not REAL_CT_DIR.is_dir(), reason=f"real CT fixture absent ({REAL_CT_DIR})")

TINY_TRAIN_ARGS = [
    "--patch-size", "64", "--batch-size", "4", "--samples-per-epoch", "8", "--epochs", "2",
    "--reps", "1", "--device", "cpu", "--seed", "3",
]


def hqctf(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh interpreter (what a user runs)."""
    result = subprocess.run([sys.executable, "-m", "hqctf_qiskit.cli.main", *args], capture_output=True, text=True,
                            timeout=600, **kwargs)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def cli_exit_code(*args) -> int:
    """``hqctf ARGS`` in this process: its exit code (click ends with SystemExit; a normal return is 0)."""
    from hqctf_qiskit.cli.main import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code or 0
    return 0


def hqctf_here(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``hqctf ARGS`` in this process, answered like :func:`hqctf`: for steps of a test that are not about the fresh
    interpreter (each fresh one pays ~9 s of torch, smp and MONAI imports on the 2-core CI machine)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_exit_code(*args)
    result = subprocess.CompletedProcess(["hqctf", *map(str, args)], code, out.getvalue(), err.getvalue())
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


class Tiny(nn.Module):
    """A model with every layer role (encoder, decoder, head) and a Linear, for layer-selection tests."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
        self.decoder = nn.Sequential(nn.Conv2d(4, 8, 3, bias=False), nn.Conv2d(8, 8, 1))
        self.segmentation_head = nn.Conv2d(8, 2, 1)
        self.fc = nn.Linear(8, 3)


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """``hqctf ARGS`` in this process (so tests can patch the library): exit code, stdout, stderr."""
    code = cli_exit_code(*args)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code: int, err: str) -> str:
    """The single ``error:`` line of a user error (exit 2, no traceback)."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


def isa_success(isa, target):
    """mapomatic's score, written out: the product over the ISA circuit's operations of (1 - error) on their qubits."""
    success = 1.0
    for instruction in isa.data:
        name = instruction.operation.name
        qargs = tuple(isa.find_bit(q).index for q in instruction.qubits)
        if name in target.operation_names and target[name].get(qargs) is not None:
            success *= 1.0 - (target[name][qargs].error or 0.0)
    return success
