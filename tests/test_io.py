"""The one atomic writer: all or nothing under the final name, unique temp names, permissions under the umask."""

import os
import threading

import pytest

from hqctf_qiskit.io import TEMP_MARK, atomic_create, atomic_write, atomic_write_json, atomic_write_text, write_csv


class Boom(Exception):
    pass


def test_a_failing_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "file.txt"
    atomic_write_text(target, "first")

    def failing(handle):
        handle.write(b"partial")
        raise Boom

    with pytest.raises(Boom):
        atomic_write(target, failing)
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_temp_names_are_unique_and_keep_the_suffix(tmp_path):
    seen = []

    def make(tmp):
        seen.append(tmp)
        tmp.write_bytes(b"x")

    atomic_create(tmp_path / "label.nii.gz", make)
    atomic_create(tmp_path / "label.nii.gz", make)
    assert seen[0] != seen[1]
    assert all(p.name.endswith(".nii.gz") and TEMP_MARK in p.name and p.parent == tmp_path for p in seen)


def test_concurrent_writers_never_collide(tmp_path):
    target = tmp_path / "summary.json"
    errors = []

    def write(k):
        try:
            for i in range(20):
                atomic_write_json(target, {"writer": k, "i": i, "pad": "x" * 5000})
        except Exception as exc:  # noqa: BLE001 - any error fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    import json

    assert json.loads(target.read_text())["i"] == 19  # always a whole file
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_files_follow_the_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "config.yaml", "a: 1\n")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_csv_has_a_header_and_the_given_column_order(tmp_path):
    path = write_csv(tmp_path / "m.csv", [{"b": 1, "a": 2}, {"b": 3, "a": 4}], ["a", "b"])
    assert path.read_text().splitlines() == ["a,b", "2,1", "4,3"]


def test_a_full_disk_names_the_target_not_the_temp_file(tmp_path):
    import errno

    def full(handle):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        atomic_write(tmp_path / "checkpoint_latest.pt", full)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "checkpoint_latest.pt")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_refuses_new_files_names_the_target(tmp_path, monkeypatch):
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".out.nii.gz.x.hqctf-tmp.nii.gz"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OSError) as caught:
        atomic_write_text(tmp_path / "out.nii.gz", "x")
    assert caught.value.errno == errno.EROFS and caught.value.filename == str(tmp_path / "out.nii.gz")
