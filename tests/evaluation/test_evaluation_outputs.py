"""Results folders: one per evaluation, published whole (or not at all), replaced only when asked."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from hqctf_qiskit.evaluation.outputs import evaluation_dir, evaluation_name, staged_folder
from hqctf_qiskit.io import TEMP_MARK, atomic_write_text

REFUSAL = "already holds results; pass --overwrite"


def test_evaluation_folder_names():
    assert evaluation_name("val", "best") == "val-best"
    assert evaluation_name("test", "final", "fake_brisbane", 4096) == "test-final-fake_brisbane-4096shots"
    assert evaluation_name("test", "best", "aer_simulator") == "test-best-aer_simulator-exact"
    assert evaluation_dir("R", "val", "latest").as_posix() == "R/eval/val-latest"


def test_a_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "eval" / "val-best"
    with staged_folder(target) as staging:
        atomic_write_text(staging / "summary.json", "{}")
        assert not target.exists(), "nothing under the final name while writing"
    assert (target / "summary.json").read_text() == "{}"
    assert [p.name for p in (tmp_path / "eval").iterdir()] == ["val-best"]


def test_a_failure_leaves_nothing_and_names_the_final_file(tmp_path):
    target = tmp_path / "eval" / "val-best"
    with pytest.raises(OSError) as caught:
        with staged_folder(target) as staging:
            atomic_write_text(staging / "per_case.csv", "case_id\n")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staging / "overlay_a.png"))
    assert caught.value.filename == str(target / "overlay_a.png"), "the user's path, not the staging folder's"
    assert list((tmp_path / "eval").iterdir()) == []


def test_existing_results_are_refused_unless_overwrite(tmp_path):
    target = tmp_path / "val-best"
    target.mkdir()
    (target / "summary.json").write_text("old")
    with pytest.raises(FileExistsError, match=f"^{target}: {REFUSAL}"):
        with staged_folder(target, refusal=REFUSAL + " to replace them"):
            raise AssertionError("refused before any work")
    with pytest.raises(RuntimeError):
        with staged_folder(target, overwrite=True) as staging:
            (staging / "summary.json").write_text("half")
            raise RuntimeError("killed halfway")
    assert [p.name for p in tmp_path.iterdir()] == ["val-best"] and (target / "summary.json").read_text() == "old"
    with staged_folder(target, overwrite=True) as staging:
        (staging / "summary.json").write_text("new")
    assert [p.name for p in target.iterdir()] == ["summary.json"] and (target / "summary.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["val-best"], "the old folder is gone, no temp left"


def test_an_empty_folder_is_used_and_a_file_is_refused(tmp_path):
    empty = tmp_path / "mine"
    empty.mkdir()
    with staged_folder(empty) as staging:
        (staging / "summary.json").write_text("{}")
    assert (empty / "summary.json").is_file()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError):
        with staged_folder(tmp_path / "afile"):
            pass


def test_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with staged_folder(tmp_path / "shared") as staging:
            atomic_write_text(staging / "summary.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o755, "colleagues can read a shared run's results"
    assert stat.S_IMODE((tmp_path / "shared" / "summary.json").stat().st_mode) == 0o644
    assert not [p for p in tmp_path.rglob("*") if TEMP_MARK in p.name]
