"""How a written RTSTRUCT/SEG names its maker (Manufacturer, model, software version, series description)."""

from __future__ import annotations

from importlib import metadata

__all__ = ["MANUFACTURER", "SERIES_DESCRIPTION", "software_version"]

MANUFACTURER = "hqctf-qiskit"
SERIES_DESCRIPTION = f"{MANUFACTURER} prediction"


def software_version() -> str:
    """The installed package version ("unknown" when run from a source tree that was never installed)."""
    try:
        return metadata.version("hqctf-qiskit")
    except metadata.PackageNotFoundError:
        return "unknown"
