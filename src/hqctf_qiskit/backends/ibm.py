"""``ibm_<device>``: IBM Quantum through ``QiskitRuntimeService``, the executor sampler in Batch mode, ISA circuits.

The account is the saved one or QISKIT_IBM_TOKEN / QISKIT_IBM_INSTANCE (which the service reads). A session opens
ONE service (to find the device) and ONE Batch (all of a run's jobs), and closes the Batch at the end of the run.
The token is never read into a message, log line or repr here; messages quoting a runtime exception are scrubbed
of anything token-like first and drop the exception chain. ``--twirling`` and ``--dd SEQUENCE`` switch on the
sampler's Pauli twirling (gates and measurements) and dynamical decoupling, checked against the installed runtime's
options. qiskit_ibm_runtime is imported where used.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from .base import BackendUnavailableError, SamplerBackend
from .fake import fake_devices

if TYPE_CHECKING:
    from .spec import BackendSpec

LIVE_IBM_DEVICES = ("ibm_fez", "ibm_marrakesh", "ibm_kingston", "ibm_pittsburgh")
RETIRED_IBM_DEVICES = {"ibm_brisbane": "Nov 2025"}

_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-]{32,}")
_SECRET_SETTING = re.compile(r"(?i)\b(token|api[_-]?key|password|secret)(\s*[=:]\s*)\S+")


def scrub_secrets(text: str) -> str:
    """The first line of ``text`` without the IBM token, ``token=…``-style settings or anything token-shaped."""
    secret = os.getenv("QISKIT_IBM_TOKEN") or ""
    if secret:
        text = text.replace(secret, "***")
    text = _SECRET_SETTING.sub(lambda match: f"{match.group(1)}{match.group(2)}***", text)
    return _TOKEN_LIKE.sub("***", text).splitlines()[0] if text.strip() else ""


def _has_account() -> bool:
    """A token in the environment or a saved account: checked on disk, without network (unsure: True)."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    if os.getenv("QISKIT_IBM_TOKEN"):
        return True
    try:
        return bool(QiskitRuntimeService.saved_accounts())
    except Exception:  # an unreadable account file: let the service report it
        return True


def retired_device_message(name: str) -> str | None:
    if name not in RETIRED_IBM_DEVICES:
        return None
    fake = "fake_" + name[len("ibm_"):]
    return (f"--backend {name}: IBM retired this device in {RETIRED_IBM_DEVICES[name]}; use --backend {fake} "
            f"(its noise model, locally) or a live device ({', '.join(LIVE_IBM_DEVICES)})")


def not_offered_message(name: str, offered: list[str]) -> str:
    return (f"--backend {name}: your IBM Quantum account does not offer this device; it offers "
            f"{', '.join(sorted(offered)) or 'none'}, or use {_local_hint(name)} to run locally")


def _local_hint(name: str) -> str:
    fake = "fake_" + name[len("ibm_"):]
    return f"--backend {fake}" if fake in fake_devices() else "--backend fake_<device> (e.g. fake_fez)"


def runtime_service(name: str) -> Any:
    """``QiskitRuntimeService`` from the saved account or the environment.

    Without either it fails before any network call; a failing connection is reported without its exception chain.
    """
    from qiskit_ibm_runtime import QiskitRuntimeService

    hint = f"or use {_local_hint(name)} to run locally"
    if not _has_account():
        raise BackendUnavailableError(
            f"--backend {name}: no IBM Quantum account: save one with QiskitRuntimeService.save_account(...) or "
            f"set QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE, {hint}"
        )
    try:
        return QiskitRuntimeService()
    except Exception as exc:  # no network, bad token, unknown instance: the message may echo settings
        raise BackendUnavailableError(
            f"--backend {name}: cannot reach IBM Quantum with this account ({type(exc).__name__}: "
            f"{scrub_secrets(str(exc))}); check the network and the account, {hint}"
        ) from None


def ibm_device(name: str) -> Any:
    """The live device ``name`` from the account's service, or a clear error (retired, not offered, no account)."""
    retired = retired_device_message(name)
    if retired:
        raise BackendUnavailableError(retired)
    service = runtime_service(name)
    try:
        offered = [backend.name for backend in service.backends()]
        if name not in offered:
            raise BackendUnavailableError(not_offered_message(name, offered))
        return service.backend(name)
    except BackendUnavailableError:
        raise
    except Exception as exc:
        raise BackendUnavailableError(
            f"--backend {name}: IBM Quantum request failed ({type(exc).__name__}: {scrub_secrets(str(exc))})"
        ) from None


def target(name: str) -> Any:
    """The live device (one service call per session: the session resolves its target once)."""
    return ibm_device(name)


def open_sampler(spec: BackendSpec, device: Any) -> SamplerBackend:
    """The runtime's executor sampler in ONE Batch on ``device``: every job of the run shares it until close."""
    from qiskit_ibm_runtime import Batch
    from qiskit_ibm_runtime.executor_sampler import Sampler

    batch = Batch(backend=device)
    sampler = Sampler(mode=batch)
    sampler.options.default_shots = spec.shots or sampler.options.default_shots
    apply_runtime_options(sampler, twirling=spec.twirling, dd=spec.dd)
    return SamplerBackend(spec.name, sampler, device, close=batch.close)


RUNTIME_OPTIONS = {"twirling": ("twirling", "enable_gates"), "dd": ("dynamical_decoupling", "enable")}
"""CLI option → (the sampler options' group, a field the group must have) in qiskit-ibm-runtime >= 0.50."""


def _runtime_option(sampler_options: Any, option: str) -> Any:
    """The sampler options' group behind ``--twirling`` / ``--dd``, or a one-line error when the installed runtime
    lacks it."""
    group, field = RUNTIME_OPTIONS[option]
    section = getattr(sampler_options, group, None)
    if section is None or not hasattr(section, field):
        from qiskit_ibm_runtime import __version__

        raise BackendUnavailableError(f"--{option}: the sampler of the installed qiskit-ibm-runtime {__version__} "
                                      f"has no {group} option; upgrade qiskit-ibm-runtime or leave --{option} off")
    return section


def dd_sequences() -> tuple[str, ...]:
    """The dynamical-decoupling sequences the installed runtime's sampler offers (e.g. XX, XpXm, XY4)."""
    import typing

    from qiskit_ibm_runtime.options_models.sampler import SamplerOptions

    section = _runtime_option(SamplerOptions(), "dd")
    return typing.get_args(type(section).model_fields["sequence_type"].annotation)


def check_dd_sequence(sequence: str) -> str:
    """``sequence`` if the installed runtime offers it, else a one-line error listing what it offers."""
    offered = dd_sequences()
    if sequence not in offered:
        raise BackendUnavailableError(f"--dd: unknown sequence {sequence!r}; the installed qiskit-ibm-runtime "
                                      f"offers {', '.join(offered)}")
    return sequence


def apply_runtime_options(sampler: Any, twirling: bool = False, dd: str | None = None) -> None:
    """``--twirling``: Pauli twirling of gates and measurements; ``--dd SEQUENCE``: dynamical decoupling."""
    if twirling:
        section = _runtime_option(sampler.options, "twirling")
        section.enable_gates = True
        section.enable_measure = True
    if dd:
        section = _runtime_option(sampler.options, "dd")
        section.enable = True
        section.sequence_type = check_dd_sequence(dd)
