"""Medical Segmentation Decathlon datasets (``TaskXX_Name/``): ``dataset.json`` with a ``training`` list of
``{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}``, ``labels`` as ``{"0": "background", ...}``.

Paths are relative to the dataset folder; cases are named after their image file. Multi-modality tasks (4D
images, ``modality`` with several entries) are refused in one line: hqctf reads single-channel CT.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..images import image_stem
from .base import CasePaths, DatasetInfo, check_case_id
from .dataset_json import dataset_json_path, label_values, read_dataset_json, single_channel

__all__ = ["matches", "read"]


def matches(source: Path) -> bool:
    """A dataset.json with a ``training`` list."""
    path = dataset_json_path(source)
    return path is not None and isinstance(read_dataset_json(path).get("training"), list)


def _file(path: Path, where: str, kind: str, value: object, required: bool) -> Path | None:
    if value is None or not str(value).strip():
        if required:
            raise DataError(f"{where}: no {kind}")
        return None
    file = path.parent / str(value).strip()
    if not file.is_file():
        raise DataError(f"{where}: {kind} file {file} does not exist")
    return file


def read(source: Path) -> DatasetInfo:
    """The ``training`` entries, in order, with dataset.json's class names and values."""
    path = dataset_json_path(source)
    assert path is not None
    content = read_dataset_json(path)
    single_channel(path, content)
    labels = label_values(path, content)
    cases = []
    for i, entry in enumerate(content["training"]):
        where = f"{path}: training entry {i}"
        if not isinstance(entry, dict):
            raise DataError(f"{where}: expected an object with 'image' and 'label'")
        image = _file(path, where, "image", entry.get("image"), required=True)
        assert image is not None
        label = _file(path, where, "label", entry.get("label"), required=False)
        case_id = image_stem(image)
        check_case_id(case_id, where)
        cases.append(CasePaths(case_id, image, label, origin=where))
    if not cases:
        raise DataError(f"{path}: the training list is empty")
    return DatasetInfo(path.parent, "msd", cases, labels=labels, description=f"MSD dataset ({path})")
