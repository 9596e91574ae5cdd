"""The circuit report: what each QPG layer's circuit costs to run with shots, logically and on a target device.

A QPG layer trains one circuit per output channel. Before spending device time a user needs, per layer, the circuit
size (qubits, parameters, depth, two-qubit gates), what the device makes of it (ISA depth, its native two-qubit gate,
SWAPs from routing), how many circuits and shots one training step needs (with and without packing several channels
onto one wide circuit), the QPU seconds that costs (an estimate, ``qpu_time``) and whether the shots can estimate
the probabilities the mapping consumes at all.

This module knows nothing about models: it takes layer shapes (name, kind, channels, fan_in, qubits — the fields of
``qpg.QPGLayerInfo``) and an ``AnsatzSpec`` template. The target is a device object (``backends.target_backend``
resolves a name) or ``None`` for logical numbers only. Each distinct circuit (one per qubit count for one ansatz
template) is built and transpiled once. Circuit statistics come from ``circuits.stats``, the circuits per step from
the engines' cost model (``engines.cost``), the table from ``report_table``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from qiskit.circuit import QuantumCircuit

from ..backends.spec import check_optimization_level
from ..circuits.ansatz import AnsatzSpec, build_ansatz
from ..circuits.packing import max_slots
from ..circuits.stats import LogicalStats, TranspiledStats, is_two_qubit_gate
from ..circuits.transpile import (LineUsage, circuit_usage, find_line_layouts, success_probability, swap_count,
                                  transpile_isa)
from ..engines.cost import JOBS_PER_FORWARD, JOBS_PER_STEP, StepCost, check_gradient, check_shots, step_cost
from ..errors import BackendError
from ..io import atomic_write_text, save_figure
from .qpu_time import ShotTiming, shot_timing
from .report_table import format_report

log = logging.getLogger(__name__)

# Largest acceptable relative error of one basis-state probability estimate, per mapping (a registry: a new mapping
# may set its own). affine and qt turn each of fan_in probabilities (~2**-n each) into a weight, so beyond ~0.5 the
# weights are mostly shot noise. chunked has the same limit but needs only ceil(log2(ceil(fan_in/chunk))) qubits,
# so it stays under it at hardware shot counts.
MAX_RELATIVE_ERROR: dict[str, float] = {"affine": 0.5, "qt": 0.5, "chunked": 0.5}
DEFAULT_MAX_RELATIVE_ERROR = 0.5


class LayerLike(Protocol):
    """What the report needs of a layer; ``qpg.QPGLayerInfo`` and :class:`LayerShape` both qualify."""

    name: str
    kind: str
    channels: int
    fan_in: int
    qubits: int


@dataclass(frozen=True)
class LayerShape:
    """One QPG layer as the report sees it: ``qubits`` must be the count training uses (the mapping decides it)."""

    name: str
    kind: str
    channels: int
    fan_in: int
    qubits: int


@dataclass(frozen=True)
class ReportSettings:
    """How the circuits would be run: the report's cost model and transpile settings.

    Values are checked by the backends' own rules; combinations (e.g. a fake device without shots) are allowed:
    the report shows what a setting costs before anything runs.
    """

    backend: str = "torch"
    shots: int | None = None
    gradient: str = "param-shift"
    pack: bool = False
    optimization_level: int = 1
    seed_transpiler: int = 0

    def __post_init__(self) -> None:
        check_shots(self.shots)
        check_gradient(self.gradient)
        check_optimization_level(self.optimization_level)


# -- one distinct circuit -----------------------------------------------------------------------------------------
def sampled_circuit(spec: AnsatzSpec) -> QuantumCircuit:
    """The circuit a sampler runs for one channel: the ansatz with every qubit measured."""
    circuit = build_ansatz(spec)
    circuit.measure_all()
    return circuit


def check_fits(backend: Any, layers: Sequence[LayerLike], mapping: str, chunk: int | None = None) -> None:
    """Fail with the fix before the transpiler fails with a bare width error: fewer qubits per channel (the chunked
    mapping; when already chunked, a larger ``--chunk``) or a wider device."""
    width = backend.num_qubits
    too_wide = [layer for layer in layers if layer.qubits > width]
    if not too_wide:
        return
    first = too_wide[0]
    others = f" (and {len(too_wide) - 1} more layer(s))" if len(too_wide) > 1 else ""
    if mapping != "chunked":
        fix = "use --mapping chunked (fewer qubits) or a wider device"
    else:
        needed = _chunk_that_fits(too_wide, width)
        now = f" (now {chunk})" if chunk is not None else ""
        fix = (f"use --chunk {needed} or more{now}: fewer qubits per channel, or a wider device" if needed
               else "use a wider device (no --chunk makes these layers fit)")
    raise BackendError(f"--backend {backend.name}: layer {first.name} needs {first.qubits} qubits but the device has "
                       f"{width}{others}; {fix}")


def _chunk_that_fits(layers: Sequence[LayerLike], width: int) -> int | None:
    """The smallest ``--chunk`` that brings every layer's chunked circuit within ``width`` qubits, if any does."""
    from ..qpg.mappings import ChunkedMapping

    chunk = max(math.ceil(layer.fan_in / 2**width) for layer in layers)
    fits = all(ChunkedMapping.num_qubits_for(layer.fan_in, chunk=chunk) <= width for layer in layers)
    return chunk if fits else None


@dataclass
class CircuitEntry:
    """One distinct circuit shared by every layer with the same qubit count.

    ``slots``: how many copies fit side by side on the target's disjoint qubit lines (1 without a target).
    ``timing``: the QPU-time estimate's constants for the ISA circuit (``hardware.qpu_time``; None without one).
    ``lines``: the qubit lines its circuits run on (one; with packing, one per slot), chosen by their estimated
    ``success_probability`` (``circuits.transpile``: the product of (1 - error) over the ISA circuit's operations).
    """

    name: str
    qubits: int
    params: int
    logical: LogicalStats
    transpiled: TranspiledStats | None
    slots: int
    circuit: QuantumCircuit = field(repr=False, compare=False)  # the ISA circuit, or the sampled logical one
    timing: ShotTiming | None = None
    lines: list[list[int]] = field(default_factory=list)
    success_probability: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "qubits": self.qubits, "params": self.params, "logical": asdict(self.logical),
                "transpiled": asdict(self.transpiled) if self.transpiled else None, "slots": self.slots,
                "qpu_timing": self.timing.to_dict() if self.timing else None, "lines": self.lines,
                "success_probability": self.success_probability}


def build_circuit_entry(spec: AnsatzSpec, backend: Any | None, settings: ReportSettings) -> CircuitEntry:
    """Build, transpile (once) and measure one distinct circuit."""
    n = spec._require_qubits()
    logical = build_ansatz(spec)
    sampled = sampled_circuit(spec)
    transpiled, circuit, slots, timing, lines, success = None, sampled, 1, None, [], []
    if backend is not None:
        usage = circuit_usage(sampled, backend, settings.optimization_level, settings.seed_transpiler)
        slots = max(1, max_slots(backend, n, usage))  # capacity; settings.pack says whether training uses it
        lines = find_line_layouts(backend, n, count=slots if settings.pack else 1, usage=usage)
        layout = lines[0] if lines else None  # None: no line of n qubits, the transpiler chooses (and routes)
        circuit = transpile_isa(sampled, backend, optimization_level=settings.optimization_level,
                                initial_layout=layout, seed_transpiler=settings.seed_transpiler)
        transpiled = TranspiledStats.of(circuit, swap_count(circuit), layout)
        if layout is not None:  # the ISA circuit's own operations on each line (mapomatic's score)
            placed = LineUsage.of(circuit, layout)
            success = [success_probability(backend, line, placed) for line in lines]
        timing = shot_timing(circuit, backend)
        log.debug("%s on %s: depth %d, %d two-qubit gates, %d swaps", logical.name, backend.name,
                  transpiled.depth, transpiled.two_qubit, transpiled.swaps)
    return CircuitEntry(name=logical.name, qubits=n, params=logical.num_parameters, logical=LogicalStats.of(logical),
                        transpiled=transpiled, slots=slots, circuit=circuit, timing=timing, lines=lines,
                        success_probability=success)


# -- shot noise ---------------------------------------------------------------------------------------------------
def relative_error(num_qubits: int, shots: int) -> float:
    """Relative standard error of one basis-state probability (~2**-n) estimated from ``shots`` shots."""
    return math.sqrt(2**num_qubits / shots)


def shot_warning(mapping: str, num_qubits: int, shots: int | None) -> str | None:
    """A warning when the shots cannot estimate the probabilities this mapping reads; ``None`` when they can."""
    if shots is None:
        return None
    error = relative_error(num_qubits, shots)
    limit = MAX_RELATIVE_ERROR.get(mapping, DEFAULT_MAX_RELATIVE_ERROR)
    if error <= limit:
        return None
    needed = math.ceil(2**num_qubits / limit**2)
    hint = " or --mapping chunked (fewer qubits)" if mapping != "chunked" else " or a larger --chunk"
    return (f"relative error {error:.2f} > {limit} for mapping {mapping} at {shots} shots on {num_qubits} qubits: "
            f"use >= {needed} shots{hint}")


# -- the report ---------------------------------------------------------------------------------------------------
@dataclass
class LayerReport:
    """One QPG layer's row: its circuit's numbers plus what its channel count makes of them per training step."""

    name: str
    kind: str
    channels: int
    fan_in: int
    qubits: int
    params_per_channel: int
    circuit: str
    logical: LogicalStats
    transpiled: TranspiledStats | None
    slots: int
    packed: StepCost
    unpacked: StepCost
    pack: bool
    shots: int | None
    relative_error: float | None
    warning: str | None
    timing: ShotTiming | None = None
    lines: list[list[int]] = field(default_factory=list)
    success_probability: list[float] = field(default_factory=list)

    @property
    def planned(self) -> StepCost:
        """The cost training with these settings pays: packed with ``--pack``, else one channel per circuit."""
        return self.packed if self.pack else self.unpacked

    def shots_per_step(self, cost: StepCost) -> int | None:
        return None if self.shots is None else cost.total * self.shots

    def qpu_seconds(self, cost: StepCost) -> dict[str, float] | None:
        """Estimated QPU seconds of the hardware trial (one forward pass) and of one training step at ``cost``;
        ``None`` without shots or a device duration (``hardware.qpu_time``)."""
        if self.timing is None or self.shots is None:
            return None
        return {"trial": self.timing.seconds(cost.forward, self.shots, JOBS_PER_FORWARD),
                "per_step": self.timing.seconds(cost.total, self.shots, JOBS_PER_STEP)}

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in ("name", "kind", "channels", "fan_in", "qubits", "params_per_channel",
                                              "circuit", "slots", "shots", "relative_error", "warning", "lines",
                                              "success_probability")}
        data["logical"] = asdict(self.logical)
        data["transpiled"] = asdict(self.transpiled) if self.transpiled else None
        data["circuits_per_step"] = {"packed": self.packed.to_dict(), "unpacked": self.unpacked.to_dict()}
        data["shots_per_step"] = {"packed": self.shots_per_step(self.packed),
                                  "unpacked": self.shots_per_step(self.unpacked)}
        data["qpu_seconds"] = {"packed": self.qpu_seconds(self.packed), "unpacked": self.qpu_seconds(self.unpacked)}
        return data


def layer_report(layer: LayerLike, entry: CircuitEntry, mapping: str, settings: ReportSettings) -> LayerReport:
    """Combine a layer's shape with its (shared) circuit entry under the engines' cost model."""
    params = entry.params
    error = relative_error(layer.qubits, settings.shots) if settings.shots else None
    return LayerReport(
        name=layer.name, kind=layer.kind, channels=layer.channels, fan_in=layer.fan_in, qubits=layer.qubits,
        params_per_channel=params, circuit=entry.name, logical=entry.logical, transpiled=entry.transpiled,
        slots=entry.slots, packed=step_cost(layer.channels, params, settings.gradient, entry.slots),
        unpacked=step_cost(layer.channels, params, settings.gradient, 1), pack=settings.pack, shots=settings.shots,
        relative_error=error, warning=shot_warning(mapping, layer.qubits, settings.shots), timing=entry.timing,
        lines=entry.lines, success_probability=entry.success_probability,
    )


@dataclass
class CircuitReport:
    """Every layer's row, the distinct circuits behind them, totals, and writers for JSON, OpenQASM 3 and PNG."""

    settings: ReportSettings
    mapping: str
    ansatz: dict[str, Any]
    target: dict[str, Any] | None
    layers: list[LayerReport]
    circuits: list[CircuitEntry]
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return [f"{layer.name}: {layer.warning}" for layer in self.layers if layer.warning]

    def totals(self) -> dict[str, Any]:
        def total(attr: str) -> dict[str, int]:
            return {k: sum(getattr(getattr(layer, attr), k) for layer in self.layers)
                    for k in ("forward", "backward", "total")}

        def qpu_seconds(attr: str) -> dict[str, float] | None:
            rows = [layer.qpu_seconds(getattr(layer, attr)) for layer in self.layers]
            if not rows or None in rows:
                return None
            return {k: sum(row[k] for row in rows) for k in ("trial", "per_step")}

        packed, unpacked = total("packed"), total("unpacked")
        shots = self.settings.shots
        return {
            "layers": len(self.layers),
            "channels": sum(layer.channels for layer in self.layers),
            "circuit_params": sum(layer.channels * layer.params_per_channel for layer in self.layers),
            "distinct_circuits": len(self.circuits),
            "max_qubits": max((layer.qubits for layer in self.layers), default=0),
            "circuits_per_step": {"packed": packed, "unpacked": unpacked},
            "shots_per_step": {"packed": packed["total"] * shots if shots else None,
                               "unpacked": unpacked["total"] * shots if shots else None},
            "max_relative_error": max((layer.relative_error for layer in self.layers if layer.relative_error),
                                      default=None),
            "qpu_seconds": {"packed": qpu_seconds("packed"), "unpacked": qpu_seconds("unpacked")},
            "warnings": len(self.warnings),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "context": self.context, "settings": asdict(self.settings), "mapping": self.mapping,
            "ansatz": self.ansatz, "target": self.target, "layers": [layer.to_dict() for layer in self.layers],
            "circuits": [entry.to_dict() for entry in self.circuits], "totals": self.totals(),
            "warnings": self.warnings,
        }

    def format_table(self) -> str:
        return format_report(self)

    # -- files ----------------------------------------------------------------------------------------------------
    def write_qasm(self, directory: str | Path) -> list[Path]:
        """OpenQASM 3 of every distinct circuit (ISA when there is a target): ``<circuit name>.qasm``."""
        from qiskit import qasm3

        return self._write_each(directory, "qasm",
                                lambda entry, path: atomic_write_text(path, qasm3.dumps(entry.circuit)))

    def write_drawings(self, directory: str | Path) -> list[Path]:
        """A PNG diagram of every distinct circuit through Qiskit's matplotlib drawer (idle device qubits hidden)."""
        import matplotlib.pyplot as plt  # Qiskit's drawer makes its figures through pyplot

        def draw(entry: CircuitEntry, path: Path) -> None:
            figure = entry.circuit.draw("mpl", idle_wires=False, fold=-1)
            try:
                save_figure(figure, path, dpi=80, bbox_inches="tight")
            finally:
                plt.close(figure)

        return self._write_each(directory, "png", draw)

    def _write_each(self, directory: str | Path, suffix: str,
                    write: Callable[[CircuitEntry, Path], Any]) -> list[Path]:
        """``write(entry, path)`` for every distinct circuit into ``directory/<circuit name>.<suffix>``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for entry in self.circuits:
            path = out / f"{entry.name}.{suffix}"
            write(entry, path)
            paths.append(path)
        return paths


def target_summary(backend: Any, name: str) -> dict[str, Any]:
    """Name, width and native two-qubit gates of the target: the table's 2q column is named after them."""
    two_qubit = sorted(op for op in backend.target.operation_names
                       if is_two_qubit_gate(backend.target.operation_from_name(op)))
    return {"name": name, "device": backend.name, "num_qubits": backend.num_qubits, "two_qubit_basis": two_qubit}


def build_circuit_report(
    layers: Sequence[LayerLike],
    ansatz: AnsatzSpec,
    mapping: str,
    settings: ReportSettings | None = None,
    backend: Any | None = None,
    context: dict[str, Any] | None = None,
) -> CircuitReport:
    """The report for ``layers`` (their ``qubits`` as training sets them) under ``settings``.

    ``backend``: the target device for ISA numbers and packing (``backends.target_backend`` resolves a name), or
    ``None`` for logical numbers only. Each distinct qubit count is built and transpiled once.
    """
    settings = settings or ReportSettings()
    entries: dict[int, CircuitEntry] = {}
    reports = []
    if backend is not None:
        check_fits(backend, layers, mapping, (context or {}).get("chunk"))
    for layer in layers:
        if layer.qubits not in entries:
            entries[layer.qubits] = build_circuit_entry(ansatz.with_qubits(layer.qubits), backend, settings)
        reports.append(layer_report(layer, entries[layer.qubits], mapping, settings))
    template = {**ansatz.to_dict(), "num_qubits": None}
    target = target_summary(backend, settings.backend) if backend is not None else None
    return CircuitReport(settings=settings, mapping=mapping, ansatz=template, target=target, layers=reports,
                         circuits=sorted(entries.values(), key=lambda e: e.qubits), context=dict(context or {}))
