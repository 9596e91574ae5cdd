"""Reading a JSON file the user gave (case list, dataset.json, splits.json): its content, or one-line DataError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import DataError


def read_json(path: Path) -> Any:
    """The parsed content of ``path``; an unreadable file or malformed JSON is a ``DataError`` naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON ({exc})") from exc
