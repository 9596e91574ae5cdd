"""The cached default phantom: generated once, and safe when several processes (DDP ranks) generate it at once."""

from __future__ import annotations

from hqctf_qiskit.data import write_phantom_dataset
from hqctf_qiskit.training import datasetup


def test_phantom_is_generated_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path))
    calls = []

    def counting_writer(out, cases, seed):
        calls.append(out)
        return write_phantom_dataset(out, cases=cases, seed=seed, shape=(16, 16, 8))

    monkeypatch.setattr(datasetup, "write_phantom_dataset", counting_writer)
    first = datasetup.phantom_dataset(2)
    assert datasetup.phantom_dataset(2) == first and len(calls) == 1
    assert sorted(p.name for p in first.iterdir()) == ["case_00000", "case_00001"]
    assert [p.name for p in tmp_path.iterdir()] == [first.name], "no staging folder left behind"


def test_a_dataset_installed_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    """The loser of the race discards its copy; it never removes the folder the winner's readers are using."""
    monkeypatch.setenv("HQCTF_CACHE_DIR", str(tmp_path))
    target = tmp_path / f"phantom-v{datasetup.PHANTOM_VERSION}-seed{datasetup.PHANTOM_SEED}-n2"

    def racing_writer(out, cases, seed):
        write_phantom_dataset(out, cases=cases, seed=seed, shape=(16, 16, 8))
        write_phantom_dataset(target, cases=cases, seed=seed, shape=(16, 16, 8))  # the other rank finished first
        (target / "opened-by-the-other-rank").touch()

    monkeypatch.setattr(datasetup, "write_phantom_dataset", racing_writer)
    assert datasetup.phantom_dataset(2) == target
    assert (target / "opened-by-the-other-rank").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "the losing staging folder is removed"
