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


# --- cross-validation folds (--folds K --fold k) ---

from hqctf_qiskit.config.schema import TrainConfig  # noqa: E402
from hqctf_qiskit.data.splits import make_fold_splits, select_fold  # noqa: E402
from hqctf_qiskit.errors import ConfigError  # noqa: E402


@pytest.mark.parametrize(("n", "folds"), [(4, 2), (12, 5), (50, 5), (9, 3)])
@pytest.mark.parametrize("seed", [0, 7])
def test_folds_partition_the_non_test_cases(n: int, folds: int, seed: int) -> None:
    plain = make_splits(_ids(n), seed)
    runs = [make_fold_splits(_ids(n), seed, folds, k) for k in range(folds)]
    for k, splits in enumerate(runs):
        assert splits["test"] == plain["test"]  # the test split is held out as in a plain run
        assert splits["fold"] == k and splits["folds"] == runs[0]["folds"]
        assert splits["val"] == splits["folds"][k]
        assert set(splits["train"]) | set(splits["val"]) == set(_ids(n)) - set(plain["test"])
        assert not set(splits["train"]) & set(splits["val"]) and not set(splits["val"]) & set(splits["test"])
    validated = [c for splits in runs for c in splits["val"]]
    assert sorted(validated) == sorted(set(_ids(n)) - set(plain["test"]))  # each case validated exactly once
    sizes = [len(fold) for fold in runs[0]["folds"]]
    assert max(sizes) - min(sizes) <= 1


def test_folds_are_deterministic_and_seeded() -> None:
    ids = _ids(20)
    first = make_fold_splits(ids, 3, 4, 1)
    assert make_fold_splits(list(reversed(ids)), 3, 4, 1) == first
    assert any(make_fold_splits(ids, s, 4, 1)["folds"] != first["folds"] for s in range(4, 8))


def test_fold_splits_round_trip_and_keep_the_old_keys(tmp_path: Path) -> None:
    splits = make_fold_splits(_ids(10), 1, 3, 2)
    path = save_splits(splits, tmp_path / "splits.json")
    data = json.loads(path.read_text())
    assert set(data) == {"train", "val", "test", "folds", "fold"}
    assert load_splits(path, known_case_ids=_ids(10)) == splits
    assert select_fold(splits, 0) == make_fold_splits(_ids(10), 1, 3, 0)


def test_fold_errors() -> None:
    with pytest.raises(DataError, match="^--fold: 3 is out of range"):
        make_fold_splits(_ids(10), 0, 3, 3)
    with pytest.raises(DataError, match="^--folds: 9 folds need at least 9 non-test cases"):
        make_fold_splits(_ids(10), 0, 9, 0)
    with pytest.raises(DataError, match="lists no folds"):
        select_fold(make_splits(_ids(5), 0), 0)
    with pytest.raises(DataError, match="^--folds: 2, but the split file lists 3 folds"):
        select_fold(make_fold_splits(_ids(10), 0, 3, 0), 1, folds=2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"train": ["a"], "val": ["b"], "folds": [["a"], ["b"]]}', "'fold' must be a fold number from 0 to 1"),
        ('{"train": ["a"], "val": ["b"], "folds": [["a"], ["b"]], "fold": 0}', "'val' must be fold 0"),
        ('{"train": ["a"], "val": ["b"], "folds": [["a"], ["c"]], "fold": 1}', "must split the train and val"),
        ('{"train": ["a"], "val": ["b"], "folds": [["a", "b"]], "fold": 0}', "at least 2 lists"),
    ],
)
def test_bad_fold_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "splits.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_splits(path, known_case_ids=["a", "b", "c"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fold": 1}, "--fold: needs --folds K"),
        ({"folds": 3, "fold": 3}, r"--fold: 3 is out of range for --folds 3 \(0 to 2\)"),
        ({"folds": 3}, "--folds: give --fold k too"),
        ({"folds": 1, "fold": 0}, "--folds"),
    ],
)
def test_fold_options_are_one_line_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as excinfo:
        TrainConfig.from_flat(options, source={"fold": "--fold", "folds": "--folds"})
    assert "\n" not in str(excinfo.value)
