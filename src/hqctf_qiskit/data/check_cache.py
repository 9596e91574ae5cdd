"""The dataset check's memory: one small JSON file per passed case, so a repeated run reads no volume again.

An entry is keyed by what decides the outcome: each file's absolute path, size and modification time (ns) (for a
DICOM folder every file below it, for a detached header such as ``.mhd`` its data file too), the check's options
(label map, number of classes, the ``--structures`` rules and class names) and :data:`CHECK_VERSION`. Touching or
replacing a file changes its key, so the case is checked again. Entries are written atomically and are only an
optimisation: an unreadable, corrupt or foreign entry is ignored (and rewritten after the check), an unwritable
cache folder only costs time.
Only passing results are stored, so a broken case is read (and reported) every time until it is fixed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..cache import cache_dir
from ..io import atomic_write_json
from .dicom.scan import list_files
from .images import image_files

__all__ = ["CHECK_VERSION", "CheckCache"]

log = logging.getLogger(__name__)

CHECK_VERSION = 2
"""Bump whenever the check itself changes (new rules, new reported fields): older entries are then ignored."""


def _stat_key(path: Path) -> list[Any]:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _file_key(path: Path | None) -> list[Any] | None:
    """[absolute path, size, mtime_ns] of each file a case input is read from, or None when there is none.

    A folder (a DICOM series) is every file below it, so adding, removing or touching a slice changes the key.
    """
    if path is None:
        return None
    absolute = Path(os.path.abspath(path))
    if absolute.is_dir():
        return [str(absolute), [_stat_key(file) for file in list_files(absolute)]]
    return [_stat_key(Path(os.path.abspath(file))) for file in image_files(absolute)]


class CheckCache:
    """Passed case checks under ``cache_dir()/dataset-check-v<N>/`` (``$HQCTF_CACHE_DIR`` is read when made)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else cache_dir() / f"dataset-check-v{CHECK_VERSION}"
        self._write_failed = False

    def key(self, image: Path, label: Path | None, options: dict[str, Any]) -> str | None:
        """The entry key of one case as JSON text, or None when a file cannot be stat'ed (the check will say why)."""
        try:
            parts = {"version": CHECK_VERSION, "image": _file_key(image), "label": _file_key(label),
                     "options": options}
        except OSError:
            return None
        return json.dumps(parts, sort_keys=True)

    def _entry(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()}.json"

    def get(self, key: str | None) -> dict[str, Any] | None:
        """The stored result for ``key``; None when absent, unreadable, corrupt or stored for another key."""
        if key is None:
            return None
        try:
            stored = json.loads(self._entry(key).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("result"), dict):
            return None
        return stored["result"]

    def put(self, key: str | None, result: dict[str, Any]) -> None:
        """Remember a passed check; failing to write is logged once and otherwise ignored."""
        if key is None or self._write_failed:
            return
        try:
            atomic_write_json(self._entry(key), {"key": key, "result": result})
        except OSError as exc:
            self._write_failed = True
            log.warning("dataset check cache %s not writable (%s): every run checks the dataset again",
                        self.folder, exc.strerror or exc)
