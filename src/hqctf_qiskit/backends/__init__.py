"""Backends by name (``torch``, ``aer_*``, ``fake_*``, ``ibm_*``): the one table of names (``registry``), a
validated request (``spec``), the families (``aer``, ``fake``, ``ibm``) and a run's ``session``.

The names below are loaded on first use (PEP 562): ``backends.spec`` and ``backends.registry`` load no qiskit, so
a config can validate backend options without it; the session (engines) loads qiskit, never qiskit_aer or
qiskit_ibm_runtime until a family needs them.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "BackendError": ".base", "BackendUnavailableError": ".base", "UnknownBackendError": ".base",
    "SamplerBackend": ".base", "BackendFamily": ".registry", "backend_choices": ".registry",
    "backend_family": ".registry", "target_backend": ".registry", "BackendSpec": ".spec",
    "BackendSession": ".session", "make_engine": ".session",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
