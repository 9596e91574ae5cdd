"""nnU-Net raw datasets: ``DatasetXXX_Name/`` with ``dataset.json``, ``imagesTr/<case>_0000<ending>`` and
``labelsTr/<case><ending>`` (``file_ending`` from dataset.json, ``.nii.gz`` by default; NRRD/MHA work as well).

Class names and label values come from dataset.json's ``labels``; only single-channel (CT) datasets are read.
A dataset.json with an explicit ``dataset`` listing (case → images, label) is followed instead of the folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError
from .base import CasePaths, DatasetInfo, check_case_id
from .dataset_json import dataset_json_path, label_values, read_dataset_json, single_channel

__all__ = ["matches", "read"]

CHANNEL = "_0000"


def matches(source: Path) -> bool:
    """A dataset.json without a ``training`` list (that is MSD's) beside an ``imagesTr`` folder."""
    path = dataset_json_path(source)
    if path is None:
        return False
    content = read_dataset_json(path)
    return "training" not in content and ((path.parent / "imagesTr").is_dir() or isinstance(content.get("dataset"),
                                                                                              dict))


def _listed(path: Path, root: Path, listing: dict[str, Any]) -> list[CasePaths]:
    """Cases from dataset.json's ``dataset`` entry: ``{case: {"images": [path], "label": path}}``."""
    cases = []
    for case_id, entry in listing.items():
        where = f"{path}: dataset {case_id!r}"
        images = entry.get("images") if isinstance(entry, dict) else None
        if not isinstance(images, list) or len(images) != 1:
            raise DataError(f"{where}: expected one image (single-channel CT), got {images!r}")
        image = root / str(images[0])
        label = root / str(entry["label"]) if entry.get("label") else None
        for kind, file in (("image", image), ("label", label)):
            if file is not None and not file.is_file():
                raise DataError(f"{where}: {kind} file {file} does not exist")
        check_case_id(str(case_id), where)
        cases.append(CasePaths(str(case_id), image, label, origin=where))
    return cases


def _from_folders(path: Path, root: Path, ending: str) -> list[CasePaths]:
    images_dir, labels_dir = root / "imagesTr", root / "labelsTr"
    suffix = f"{CHANNEL}{ending}"
    images = sorted(p for p in images_dir.iterdir() if p.is_file() and p.name.endswith(suffix)
                    and not p.name.startswith("."))
    if not images:
        raise DataError(f"{images_dir}: no <case>{suffix} images (file_ending {ending!r} in {path.name})")
    cases = []
    for image in images:
        case_id = image.name[: -len(suffix)]
        label = labels_dir / f"{case_id}{ending}"
        check_case_id(case_id, str(image))
        cases.append(CasePaths(case_id, image, label if label.is_file() else None, origin=str(image)))
    return cases


def read(source: Path) -> DatasetInfo:
    """The training cases (``imagesTr``/``labelsTr``) with dataset.json's class names and values."""
    path = dataset_json_path(source)
    assert path is not None
    content = read_dataset_json(path)
    single_channel(path, content)
    labels = label_values(path, content)
    ending = str(content.get("file_ending") or ".nii.gz")
    listing = content.get("dataset")
    cases = _listed(path, path.parent, listing) if isinstance(listing, dict) else _from_folders(path, path.parent,
                                                                                                 ending)
    return DatasetInfo(path.parent, "nnunet", cases, labels=labels, description=f"nnU-Net dataset ({path})")
