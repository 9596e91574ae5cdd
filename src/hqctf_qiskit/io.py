"""Writing files so that a crash, a kill or a full disk never leaves half a file under the final name.

Every file the package writes atomically goes through :func:`atomic_create`: the content is made under a unique
temporary name in the target folder (so concurrent writers never collide), flushed to disk (fsync), then renamed
over the target; on any error the temporary file is removed and the previous file, if any, is untouched. Files get
the usual permissions under the process umask (``mkstemp`` alone would make them 0600).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Callable

__all__ = ["atomic_create", "atomic_write", "atomic_write_text", "atomic_write_json", "write_csv", "csv_text",
           "json_default", "save_figure", "fsync_dir", "TEMP_MARK"]

TEMP_MARK = ".hqctf-tmp"
"""Part of every temporary name, so leftovers of killed processes can be recognised (and cleaned)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: some file systems have no directory handles)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform or file system without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_create(path: str | Path, make: Callable[[Path], Any]) -> Path:
    """``make(tmp)`` writes the file at ``tmp`` (a free name with ``path``'s suffixes); then it replaces ``path``.

    For libraries that write by file name (``torch.save``, ``nib.save``, ``fig.savefig``, ``os.link``): ``tmp``
    exists (empty) when ``make`` is called and may be replaced by it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f"{TEMP_MARK}{suffix}", dir=path.parent)
    except OSError as exc:  # a read-only or full file system: name the file asked for, not a temp name
        exc.filename = str(path)
        raise
    os.close(fd)
    tmp = Path(name)
    try:
        make(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and (exc.filename is None or TEMP_MARK in str(exc.filename)):
            exc.filename = str(path)  # "no space left on device" names the file the user asked for, not our temp
        raise
    fsync_dir(path.parent)
    return path


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any]) -> Path:
    """``write(handle)`` writes the content to a binary handle; see :func:`atomic_create`."""
    def make(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            write(handle)

    return atomic_create(path, make)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def json_default(value: Any) -> Any:
    """numpy/torch scalars and paths in JSON; anything else is a bug in the caller."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, default=json_default) + "\n")


def csv_text(rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str] | None = None) -> str:
    """Rows as CSV text with a header (the first row's keys unless ``fieldnames`` is given)."""
    rows = list(rows)
    names = list(fieldnames) if fieldnames is not None else (list(rows[0]) if rows else [])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str] | None = None) -> Path:
    """The one CSV writer: a header and the rows, written atomically."""
    return atomic_write_text(path, csv_text(rows, fieldnames))


def save_figure(figure: Any, path: str | Path, **savefig: Any) -> Path:
    """A matplotlib figure saved atomically as PNG.

    Figures are made with ``matplotlib.figure.Figure`` (not pyplot), so no global backend is chosen or needed.
    """
    savefig.setdefault("format", "png")
    return atomic_write(path, lambda handle: figure.savefig(handle, **savefig))
