"""Patient-level splits: disjoint, complete, seeded, and a splits.json that survives a round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hqctf_qiskit.data import DataError, load_splits, make_splits, save_splits


def _ids(n: int) -> list[str]:
    return [f"case_{i:05d}" for i in range(n)]


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 12, 50])
@pytest.mark.parametrize("seed", [0, 1, 17])
def test_splits_are_disjoint_complete_and_non_empty(n: int, seed: int) -> None:
    splits = make_splits(_ids(n), seed)
    train, val, test = (set(splits[k]) for k in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == set(_ids(n))
    if n >= 3:
        assert train and val and test
    else:
        assert len(train) == 1 and len(val) == 1 and not test


def test_sizes_follow_fractions() -> None:
    splits = make_splits(_ids(50), seed=0, val_fraction=0.2, test_fraction=0.1)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [35, 10, 5]


def test_deterministic_and_independent_of_input_order() -> None:
    ids = _ids(20)
    first = make_splits(ids, seed=3)
    assert make_splits(list(reversed(ids)), seed=3) == first
    assert any(make_splits(ids, seed=s) != first for s in range(4, 8))


def test_bad_inputs() -> None:
    with pytest.raises(DataError, match="need at least 2 cases"):
        make_splits(["only"], seed=0)
    with pytest.raises(DataError, match="duplicate case ids"):
        make_splits(["a", "a", "b"], seed=0)
    with pytest.raises(DataError, match="^val_fraction"):
        make_splits(_ids(5), seed=0, val_fraction=1.5)
    with pytest.raises(DataError, match="must be below 1"):
        make_splits(_ids(5), seed=0, val_fraction=0.5, test_fraction=0.5)


def test_save_load_round_trip(tmp_path: Path) -> None:
    splits = make_splits(_ids(9), seed=1)
    path = save_splits(splits, tmp_path / "run" / "splits.json")
    assert load_splits(path, known_case_ids=_ids(9)) == splits
    assert [p.name for p in path.parent.iterdir()] == ["splits.json"]  # no temp file left behind


def test_save_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "splits.json"
    path.write_text("old")
    save_splits({"train": ["a"], "val": ["b"], "test": []}, path)
    assert json.loads(path.read_text())["val"] == ["b"]


def test_save_refuses_overlap(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'a' appears in both 'train' and 'val'"):
        save_splits({"train": ["a"], "val": ["a"], "test": []}, tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{bad json", "malformed JSON"),
        ('["a", "b"]', "expected an object"),
        ('{"train": ["a"]}', r"missing \['val'\]"),
        ('{"train": ["a"], "val": ["b"], "holdout": []}', r"unexpected \['holdout'\]"),
        ('{"train": ["a"], "val": "b"}', "'val' must be a list"),
        ('{"train": ["a", "b"], "val": ["b"], "test": []}', "'b' appears in both 'train' and 'val'"),
        ('{"train": ["a", "a"], "val": ["b"]}', "'a' appears twice in 'train'"),
        ('{"train": ["a"], "val": ["zzz"], "test": []}', r"unknown case ids \['zzz'\]"),
    ],
)
def test_bad_split_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "splits.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as excinfo:
        load_splits(path, known_case_ids=["a", "b", "c"])
    assert str(excinfo.value).startswith(f"{path}: ")


def test_missing_split_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="split file not found"):
        load_splits(tmp_path / "splits.json")
