"""The circuit report: what each QPG layer's circuit costs to run with shots, logically and on a target device.

A QPG layer trains one circuit per output channel. Before spending device time a user needs, per layer, the circuit
size (qubits, parameters, depth, two-qubit gates), what the device makes of it (ISA depth, its native two-qubit gate,
SWAPs from routing), how many circuits and shots one training step needs (with and without packing several channels
onto one wide circuit) and whether the shots can estimate the probabilities the mapping consumes at all.

This module knows nothing about models: it takes layer shapes (name, kind, channels, fan_in, qubits — the fields of
``qpg.QPGLayerInfo``) and an ``AnsatzSpec`` template, so ``circuits/`` stays at the bottom of the import graph. The
target backend is an object (a ``BackendV2``) or ``None`` for logical numbers only; :func:`target_backend` resolves
a name. Each distinct circuit (one per qubit count for one ansatz template) is built and transpiled once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from qiskit.circuit import Gate, QuantumCircuit

from ..circuits.ansatz import AnsatzSpec, build_ansatz

log = logging.getLogger(__name__)

GRADIENTS = ("param-shift", "spsa")
SIMULATOR_BACKENDS = ("torch", "aer_simulator", "aer_simulator_gpu")
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
    """How the circuits would be run: the report's cost model and transpile settings."""

    backend: str = "torch"
    shots: int | None = None
    gradient: str = "param-shift"
    pack: bool = False
    optimization_level: int = 1
    seed_transpiler: int = 0

    def __post_init__(self) -> None:
        if self.shots is not None and self.shots < 1:
            raise ValueError(f"--shots: must be >= 1, got {self.shots}")
        if self.gradient not in GRADIENTS:
            raise ValueError(f"--gradient: unknown value {self.gradient!r}; choose from {', '.join(GRADIENTS)}")
        if self.optimization_level not in (0, 1, 2, 3):
            raise ValueError(f"--optimization-level: must be 0, 1, 2 or 3, got {self.optimization_level}")


# -- gate statistics ----------------------------------------------------------------------------------------------
def two_qubit_counts(circuit: QuantumCircuit) -> dict[str, int]:
    """Two-qubit *gates* by name (barriers and measurements are not gates, so they never count)."""
    counts: dict[str, int] = {}
    for instruction in circuit.data:
        operation = instruction.operation
        if isinstance(operation, Gate) and operation.num_qubits == 2:
            counts[operation.name] = counts.get(operation.name, 0) + 1
    return counts


def _is_two_qubit_gate(instruction: Any) -> bool:
    return isinstance(instruction.operation, Gate) and instruction.operation.num_qubits == 2


@dataclass(frozen=True)
class LogicalStats:
    """The ansatz as built (``build_ansatz``, no measurements): what every engine computes."""

    depth: int
    ops: dict[str, int]
    two_qubit: int

    @classmethod
    def of(cls, circuit: QuantumCircuit) -> "LogicalStats":
        return cls(depth=circuit.depth(), ops=dict(circuit.count_ops()),
                   two_qubit=sum(two_qubit_counts(circuit).values()))


@dataclass(frozen=True)
class TranspiledStats:
    """The ISA circuit for the target (ansatz + measurements, as a sampler runs it) and what routing added."""

    depth: int
    two_qubit: int
    two_qubit_depth: int
    two_qubit_gates: dict[str, int]
    swaps: int
    ops: dict[str, int]
    layout: list[int] | None

    @classmethod
    def of(cls, isa: QuantumCircuit, swaps: int, layout: list[int] | None) -> "TranspiledStats":
        from ..circuits.transpile import two_qubit_gate_count  # one definition of "two-qubit gate" for the whole package

        return cls(depth=isa.depth(), two_qubit=two_qubit_gate_count(isa),
                   two_qubit_depth=isa.depth(_is_two_qubit_gate), two_qubit_gates=two_qubit_counts(isa),
                   swaps=swaps, ops=dict(isa.count_ops()), layout=layout)


# -- target backends ----------------------------------------------------------------------------------------------
def _fake_backend(name: str) -> Any:
    """``fake_brisbane`` → ``FakeBrisbane()`` (older devices are ``Fake…V2``), imported only when asked for."""
    from qiskit_ibm_runtime import fake_provider

    stem = "Fake" + "".join(part.capitalize() for part in name[len("fake_"):].split("_"))
    for class_name in (stem, stem + "V2"):
        cls = getattr(fake_provider, class_name, None)
        if isinstance(cls, type):
            return cls()
    known = sorted(
        "fake_" + n[4:].removesuffix("V2").lower() for n in dir(fake_provider)
        if n.startswith("Fake") and n not in ("FakeProviderForBackendV2", "FakeFractionalBackend")
    )
    raise ValueError(f"--backend: unknown fake device {name!r}; qiskit-ibm-runtime ships {', '.join(known)}")


def _ibm_backend(name: str) -> Any:
    """A live IBM device needs a saved account and network; say what to use instead when either is missing."""
    suggestion = f"use --backend fake_{name[len('ibm_'):]} (its local fake device) for the report"
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        service = QiskitRuntimeService()
    except Exception as exc:  # no account, no network: the exception text may echo settings, so name only its type
        raise ValueError(
            f"--backend {name}: no IBM Quantum account or service is reachable ({type(exc).__name__}); {suggestion}"
        ) from None
    try:
        return service.backend(name)
    except Exception:
        offered = ", ".join(sorted(b.name for b in service.backends()))
        raise ValueError(f"--backend {name}: the service does not offer it (offers {offered}); {suggestion}") from None


def target_backend(name: str | None) -> Any | None:
    """The backend object to transpile against, or ``None`` for simulators that run the logical circuit as is."""
    if name is None or name in SIMULATOR_BACKENDS:
        return None
    if name.startswith("fake_"):
        return _fake_backend(name)
    if name.startswith("ibm_"):
        return _ibm_backend(name)
    raise ValueError(
        f"--backend: unknown backend {name!r}; choose {', '.join(SIMULATOR_BACKENDS)}, fake_<device> "
        f"(e.g. fake_brisbane) or ibm_<device>"
    )


# -- transpiling one distinct circuit -----------------------------------------------------------------------------
def sampled_circuit(spec: AnsatzSpec) -> QuantumCircuit:
    """The circuit a sampler runs for one channel: the ansatz with every qubit measured."""
    circuit = build_ansatz(spec)
    circuit.measure_all()
    return circuit


def line_layout(backend: Any, num_qubits: int) -> list[int] | None:
    """A line of physical qubits, so a linear CX chain needs no SWAP; ``None`` lets the transpiler choose."""
    from ..circuits.transpile import find_line_layouts

    lines = find_line_layouts(backend, num_qubits, count=1)
    if not lines:
        log.debug("no line of %d qubits on %s: the transpiler chooses the layout", num_qubits, backend.name)
        return None
    return list(lines[0])


def check_fits(backend: Any, num_qubits: int, layer: str) -> None:
    """Fail with the fix (chunked mapping) before the transpiler fails with a bare width error."""
    width = backend.num_qubits
    if num_qubits > width:
        raise ValueError(
            f"layer {layer} needs {num_qubits} qubits but {backend.name} has {width}; "
            f"use --mapping chunked (fewer qubits) or a wider device"
        )


@dataclass
class CircuitEntry:
    """One distinct circuit shared by every layer with the same qubit count.

    ``slots``: how many copies fit side by side on the target's disjoint qubit lines (1 without a target).
    """

    name: str
    qubits: int
    params: int
    logical: LogicalStats
    transpiled: TranspiledStats | None
    slots: int
    circuit: QuantumCircuit = field(repr=False, compare=False)  # the ISA circuit, or the sampled logical one

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "qubits": self.qubits, "params": self.params, "logical": asdict(self.logical),
                "transpiled": asdict(self.transpiled) if self.transpiled else None, "slots": self.slots}


def build_circuit_entry(spec: AnsatzSpec, backend: Any | None, settings: ReportSettings) -> CircuitEntry:
    """Build, transpile (once) and measure one distinct circuit."""
    n = spec._require_qubits()
    logical = build_ansatz(spec)
    sampled = sampled_circuit(spec)
    transpiled, circuit, slots = None, sampled, 1
    if backend is not None:
        from ..circuits.packing import max_slots
        from ..circuits.transpile import swap_count, transpile_isa

        layout = line_layout(backend, n)
        circuit = transpile_isa(sampled, backend, optimization_level=settings.optimization_level,
                                initial_layout=layout, seed_transpiler=settings.seed_transpiler)
        transpiled = TranspiledStats.of(circuit, swap_count(circuit), layout)
        slots = max(1, max_slots(backend, n))  # capacity; settings.pack says whether training uses it
        log.debug("%s on %s: depth %d, %d two-qubit gates, %d swaps", logical.name, backend.name,
                  transpiled.depth, transpiled.two_qubit, transpiled.swaps)
    return CircuitEntry(name=logical.name, qubits=n, params=logical.num_parameters, logical=LogicalStats.of(logical),
                        transpiled=transpiled, slots=slots, circuit=circuit)


# -- cost model ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepCost:
    """Circuit executions (bound parameter sets) per training step for one layer."""

    forward: int
    backward: int

    @property
    def total(self) -> int:
        return self.forward + self.backward

    def to_dict(self) -> dict[str, int]:
        return {"forward": self.forward, "backward": self.backward, "total": self.total}


def step_cost(channels: int, params: int, gradient: str, slots: int = 1) -> StepCost:
    """Forward: every channel once. Parameter-shift: 2·P shifted sets per channel. SPSA: 2 perturbed sets per channel.

    The sampler engine runs all of a pass's parameter sets as one PUB; packed, ``slots`` of them share one wide
    circuit (disjoint qubit lines, counts marginalized per register) and its shots, so each count is the number of
    per-channel parameter sets divided by ``slots``, rounded up — the engine's own ``circuits_per_step``.
    """
    rows = {"param-shift": 2 * params, "spsa": 2}.get(gradient)
    if rows is None:
        raise ValueError(f"--gradient: unknown value {gradient!r}; choose from {', '.join(GRADIENTS)}")
    return StepCost(forward=math.ceil(channels / slots), backward=math.ceil(rows * channels / slots))


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

    @property
    def planned(self) -> StepCost:
        """The cost training with these settings pays: packed with ``--pack``, else one channel per circuit."""
        return self.packed if self.pack else self.unpacked

    def shots_per_step(self, cost: StepCost) -> int | None:
        return None if self.shots is None else cost.total * self.shots

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in ("name", "kind", "channels", "fan_in", "qubits", "params_per_channel",
                                              "circuit", "slots", "shots", "relative_error", "warning")}
        data["logical"] = asdict(self.logical)
        data["transpiled"] = asdict(self.transpiled) if self.transpiled else None
        data["circuits_per_step"] = {"packed": self.packed.to_dict(), "unpacked": self.unpacked.to_dict()}
        data["shots_per_step"] = {"packed": self.shots_per_step(self.packed),
                                  "unpacked": self.shots_per_step(self.unpacked)}
        return data


def layer_report(layer: LayerLike, entry: CircuitEntry, mapping: str, settings: ReportSettings) -> LayerReport:
    """Combine a layer's shape with its (shared) circuit entry under the settings' cost model."""
    params = entry.params
    error = relative_error(layer.qubits, settings.shots) if settings.shots else None
    return LayerReport(
        name=layer.name, kind=layer.kind, channels=layer.channels, fan_in=layer.fan_in, qubits=layer.qubits,
        params_per_channel=params, circuit=entry.name, logical=entry.logical, transpiled=entry.transpiled,
        slots=entry.slots, packed=step_cost(layer.channels, params, settings.gradient, entry.slots),
        unpacked=step_cost(layer.channels, params, settings.gradient, 1), pack=settings.pack, shots=settings.shots,
        relative_error=error, warning=shot_warning(mapping, layer.qubits, settings.shots),
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

        return self._write_each(directory, "qasm", lambda entry, path: path.write_text(qasm3.dumps(entry.circuit)))

    def write_drawings(self, directory: str | Path) -> list[Path]:
        """A PNG diagram of every distinct circuit through Qiskit's matplotlib drawer (idle device qubits hidden)."""
        import matplotlib.pyplot as plt

        def draw(entry: CircuitEntry, path: Path) -> None:
            figure = entry.circuit.draw("mpl", idle_wires=False, fold=-1)
            figure.savefig(path, dpi=80, bbox_inches="tight")
            plt.close(figure)

        return self._write_each(directory, "png", draw)

    def _write_each(self, directory: str | Path, suffix: str, write: Any) -> list[Path]:
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
                       if isinstance(backend.target.operation_from_name(op), Gate)
                       and backend.target.operation_from_name(op).num_qubits == 2)
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

    ``backend``: the target backend object for ISA numbers and packing (see :func:`target_backend`), or ``None``
    for logical numbers only. Each distinct qubit count is built and transpiled once.
    """
    settings = settings or ReportSettings()
    entries: dict[int, CircuitEntry] = {}
    reports = []
    for layer in layers:
        if backend is not None:
            check_fits(backend, layer.qubits, layer.name)
        if layer.qubits not in entries:
            entries[layer.qubits] = build_circuit_entry(ansatz.with_qubits(layer.qubits), backend, settings)
        reports.append(layer_report(layer, entries[layer.qubits], mapping, settings))
    template = {**ansatz.to_dict(), "num_qubits": None}
    target = target_summary(backend, settings.backend) if backend is not None else None
    return CircuitReport(settings=settings, mapping=mapping, ansatz=template, target=target, layers=reports,
                         circuits=sorted(entries.values(), key=lambda e: e.qubits), context=dict(context or {}))


# -- the readable table -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One table column: a header, a width and how to read its value from a layer row."""

    header: str
    width: int
    value: Any  # LayerReport -> str | int | float | None

    def cell(self, layer: LayerReport | None, text: Any = None) -> str:
        """The column's value for ``layer`` (or ``text`` for the header), padded: names left, numbers right."""
        raw = self.value(layer) if layer is not None else text
        if raw is None:
            shown = "-"
        elif isinstance(raw, float):
            shown = f"{raw:.3f}"
        elif isinstance(raw, int):
            shown = f"{raw:,}"
        else:
            shown = str(raw)
        return shown.ljust(self.width) if self.header == "layer" else shown.rjust(self.width)


def _columns(report: CircuitReport) -> list[Column]:
    """Table columns: logical always; ISA and packing with a target; shots and error with --shots.

    fwd/bwd/circ/step/shots/step are what training with these settings runs (packed with --pack); with a target
    one more column gives the other choice, so both are always in view.
    """
    width = max([len(layer.name) for layer in report.layers] + [5])
    columns = [
        Column("layer", width, lambda row: row.name), Column("ch", 4, lambda row: row.channels),
        Column("n", 3, lambda row: row.qubits), Column("P", 4, lambda row: row.params_per_channel),
        Column("depth", 5, lambda row: row.logical.depth), Column("cx", 4, lambda row: row.logical.two_qubit),
    ]
    if report.target is not None:
        native = "/".join(report.target["two_qubit_basis"]) or "2q"
        columns += [
            Column("isa.depth", 9, lambda row: row.transpiled.depth),
            Column(native, 5, lambda row: row.transpiled.two_qubit),
            Column("swaps", 5, lambda row: row.transpiled.swaps), Column("slots", 5, lambda row: row.slots),
        ]
    columns += [
        Column("fwd", 5, lambda row: row.planned.forward), Column("bwd", 7, lambda row: row.planned.backward),
        Column("circ/step", 9, lambda row: row.planned.total),
    ]
    other = _plan_keys(report)[1]
    if other is not None:
        columns.append(Column(other, 8, lambda row: getattr(row, other).total))
    if report.settings.shots:
        columns += [
            Column("shots/step", 13, lambda row: row.shots_per_step(row.planned)),
            Column("rel.err", 7, lambda row: row.relative_error),
        ]
    return columns


def _header_lines(report: CircuitReport) -> list[str]:
    s, ctx, a = report.settings, report.context, report.ansatz
    model = (f"{ctx.get('arch', '?')}-{ctx.get('encoder', '?')}, QPG layers {ctx.get('qpg_layers', '?')}, "
             if ctx else "")
    chunk = f" (chunk {ctx['chunk']})" if report.mapping == "chunked" and "chunk" in ctx else ""
    lines = [f"circuit report: {model}mapping {report.mapping}{chunk}, "
             f"ansatz {a['rotation']}/{a['entanglement']} reps {a['reps']}"]
    if report.target is not None:
        t = report.target
        gates = "/".join(t["two_qubit_basis"])
        lines.append(f"target: {t['name']} ({t['num_qubits']} qubits, two-qubit gate {gates}), "
                     f"optimization level {s.optimization_level}, seed {s.seed_transpiler}, layout on a qubit line")
    else:
        lines.append(f"backend: {s.backend} (no device target: logical circuits only)")
    shots = f"{s.shots} shots per circuit" if s.shots else "no --shots (exact)"
    packing = ("packing on" if s.pack else "packing off") if report.target is not None else "no packing"
    lines.append(f"cost per training step: {s.gradient} gradient, {shots}, {packing}")
    return lines


def _plan_keys(report: CircuitReport) -> tuple[str, str | None]:
    """The cost training pays ("packed" or "unpacked") and the other one to show beside it (None: no target)."""
    if report.target is None:
        return "unpacked", None
    return ("packed", "unpacked") if report.settings.pack else ("unpacked", "packed")


def _beside(other: str | None, value: int) -> str:
    return "" if other is None else f"; {'without' if other == 'unpacked' else 'with'} packing {value:,}"


def _totals_lines(report: CircuitReport) -> list[str]:
    t = report.totals()
    chosen, other = _plan_keys(report)
    circuits, plan = t["circuits_per_step"], t["circuits_per_step"][chosen]
    lines = [
        f"totals: {t['layers']} layers, {t['channels']:,} channels, {t['circuit_params']:,} circuit parameters, "
        f"{t['distinct_circuits']} distinct circuits (max {t['max_qubits']} qubits)",
        f"per training step: {plan['total']:,} circuits (forward {plan['forward']:,}, backward {plan['backward']:,})"
        + _beside(other, circuits[other]["total"] if other else 0),
    ]
    if report.settings.shots:
        shots = t["shots_per_step"]
        lines.append(f"shots per training step: {shots[chosen]:,}" + _beside(other, shots[other] if other else 0)
                     + f"; max relative error {t['max_relative_error']:.3f}")
    return lines


def _circuit_lines(report: CircuitReport) -> list[str]:
    lines = ["distinct circuits:"]
    for entry in report.circuits:
        ops = " ".join(f"{k}:{v}" for k, v in entry.logical.ops.items())
        lines.append(f"  {entry.name}: {entry.qubits} qubits, {entry.params} params, depth {entry.logical.depth} "
                     f"({ops})")
        if entry.transpiled is not None:
            tr = entry.transpiled
            gates = " ".join(f"{k}:{v}" for k, v in tr.two_qubit_gates.items()) or "none"
            lines.append(f"    ISA: depth {tr.depth}, two-qubit {gates} (depth {tr.two_qubit_depth}), swaps {tr.swaps}, "
                         f"layout {tr.layout}, {entry.slots} fit side by side")
    return lines


def format_report(report: CircuitReport) -> str:
    """The report as a fixed-width table for a terminal: header, one row per layer, totals, circuits, warnings."""
    columns = _columns(report)
    head = " ".join(c.cell(None, c.header) for c in columns)
    rows = [" ".join(c.cell(layer) for c in columns) for layer in report.layers]
    lines = [*_header_lines(report), "", head, "-" * len(head), *rows, "", *_totals_lines(report),
             *_circuit_lines(report)]
    lines += [f"WARNING: {w}" for w in report.warnings]
    return "\n".join(lines)
