"""The one exception type the data layer raises for bad input (defined with the others in ``hqctf_qiskit.errors``)."""

from __future__ import annotations

from ..errors import DataError

__all__ = ["DataError"]
