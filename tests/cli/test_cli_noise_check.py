"""``hqctf noise-check``: the per-size TVD lines against Aer and the last ``max TVD`` line; one-line errors."""

from __future__ import annotations

import re

import pytest

from helpers import one_error_line, run_cli


@pytest.mark.slow  # Aer builds the whole device's noise model for its reference (~15-30 s)
def test_noise_check_prints_per_size_and_max_tvd(capsys):
    code, out, err = run_cli(capsys, "noise-check", "fake_brisbane", "--qubits", "3,4", "--circuits", "2")
    assert code == 0, err
    lines = out.strip().splitlines()
    sizes = [line for line in lines if line.startswith("n=")]
    assert [line.split()[0] for line in sizes] == ["n=3", "n=4"]
    per_size = [float(re.search(r"max TVD (\S+)", line).group(1)) for line in sizes]
    last = re.fullmatch(r"max TVD (\S+)", lines[-1])
    assert last and float(last.group(1)) == pytest.approx(max(per_size), rel=1e-2)
    assert float(last.group(1)) < 1e-5  # exact against exact (measured ~1e-9)


@pytest.mark.parametrize("args, message", [
    (["fake_nowhere"], "DEVICE fake_nowhere: no such fake device"),
    (["aer_simulator"], "DEVICE: 'aer_simulator' is not a device"),
    (["fake_brisbane", "--qubits", "3,x"], "--qubits: need comma-separated whole numbers"),
    (["fake_brisbane", "--qubits", "12"], "--qubits: each count must be 1 to 8"),
])
def test_bad_input_is_one_error_line(capsys, args, message):
    code, _, err = run_cli(capsys, "noise-check", *args)
    assert message in one_error_line(code, err)
