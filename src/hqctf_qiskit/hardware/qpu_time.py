"""Estimated QPU seconds of the sampler jobs a run submits, before anything runs: an estimate, not a bill.

IBM's published usage estimate for a Sampler job ("Workload usage", section on estimating usage before submitting
a job: https://quantum.cloud.ibm.com/docs/en/guides/estimate-job-run-time) is

    usage ≈ per-job overhead + executions × (rep_delay + circuit duration),   executions = circuits × shots

where each constant comes from:

- per-job overhead: about 2 s per (sub-)job (loading the job into the control electronics), from that page; a
  Sampler job is not split into sub-jobs (at most 10 million executions per job:
  https://quantum.cloud.ibm.com/docs/en/guides/job-limits), so it is one per sampler call;
- ``rep_delay``: the device's ``default_rep_delay`` (IBM devices: 250 µs), the wait inserted before every shot of
  every circuit (https://quantum.cloud.ibm.com/docs/en/guides/repetition-rate-execution); 250 µs when the device
  object does not say;
- circuit duration: the ISA circuit's critical path under the target's gate and readout durations, Qiskit's
  ``QuantumCircuit.estimate_duration(target)`` (the method the usage page uses; ~5 µs for a 4-qubit layer circuit
  on fake_brisbane, so ``rep_delay`` dominates). A packed circuit's slots run side by side on disjoint lines: its
  duration is taken as one slot's.

Not included: queueing, readout-mitigation calibration circuits, twirling or dynamical-decoupling overheads, and
the runtime's own rounding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qiskit.circuit import QuantumCircuit

log = logging.getLogger(__name__)

USAGE_DOC = "https://quantum.cloud.ibm.com/docs/en/guides/estimate-job-run-time"
JOB_OVERHEAD_S = 2.0
"""Per-job overhead of IBM's usage estimate (see the module doc)."""
DEFAULT_REP_DELAY_S = 250e-6
"""IBM devices' default ``rep_delay``; used when a device object does not carry its own."""


def rep_delay_seconds(device: Any) -> float:
    """The device's default repetition delay in seconds (``default_rep_delay``; 250 µs when it has none)."""
    value = getattr(device, "default_rep_delay", None)
    if value is None and hasattr(device, "configuration"):
        value = getattr(device.configuration(), "default_rep_delay", None)
    if value is None:
        log.debug("%s has no default_rep_delay: assuming %g s", getattr(device, "name", device), DEFAULT_REP_DELAY_S)
        return DEFAULT_REP_DELAY_S
    return float(value)


def circuit_seconds(isa: QuantumCircuit, target: Any) -> float | None:
    """One shot of the ISA circuit on ``target`` (its critical path); ``None`` when the target lacks durations."""
    from qiskit.exceptions import QiskitError

    try:
        return float(isa.estimate_duration(target))
    except (QiskitError, KeyError, TypeError) as exc:  # a target without (some) instruction durations
        log.debug("no circuit duration on this target: %s", exc)
        return None


@dataclass(frozen=True)
class ShotTiming:
    """What one execution (one shot of one circuit) and one job cost on a device: the estimate's constants."""

    rep_delay_s: float
    circuit_s: float
    job_overhead_s: float = JOB_OVERHEAD_S

    @property
    def execution_s(self) -> float:
        return self.rep_delay_s + self.circuit_s

    def seconds(self, circuits: int, shots: int, jobs: int) -> float:
        """Estimated QPU seconds of ``jobs`` sampler jobs running ``circuits`` circuits of ``shots`` shots in all."""
        return jobs * self.job_overhead_s + circuits * shots * self.execution_s

    def to_dict(self) -> dict[str, Any]:
        return {"rep_delay_s": self.rep_delay_s, "circuit_s": self.circuit_s, "job_overhead_s": self.job_overhead_s,
                "source": USAGE_DOC}


def shot_timing(isa: QuantumCircuit, device: Any) -> ShotTiming | None:
    """The estimate's constants for ``isa`` on ``device``; ``None`` when the device gives no circuit duration."""
    duration = circuit_seconds(isa, device.target)
    return None if duration is None else ShotTiming(rep_delay_seconds(device), duration)
