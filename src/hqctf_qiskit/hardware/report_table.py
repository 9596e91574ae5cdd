"""The circuit report as a fixed-width table for a terminal: header, one row per layer, totals, circuits, warnings.

Columns: logical always; ISA, packing and the estimated success probability of the chosen qubit line(s) with a
target device; shots and the shot-noise error with ``--shots``;
estimated QPU seconds with both (``qpu_time``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .qpu_time import USAGE_DOC

if TYPE_CHECKING:
    from .report import CircuitReport, LayerReport


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
            Column("success", 7, lambda row: min(row.success_probability, default=None)),
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
    if report.settings.shots and report.target is not None:
        columns += [
            Column("qpu.s/trial", 11, lambda row: _seconds(row.qpu_seconds(row.planned), "trial")),
            Column("qpu.s/step", 11, lambda row: _seconds(row.qpu_seconds(row.planned), "per_step")),
        ]
    return columns


def _seconds(estimate: dict[str, float] | None, key: str) -> str | None:
    return None if estimate is None else f"{estimate[key]:,.1f}"


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
    lines += _qpu_lines(report, t["qpu_seconds"], chosen, other)
    return lines


def _qpu_lines(report: CircuitReport, qpu: dict[str, Any], chosen: str, other: str | None) -> list[str]:
    """The estimated QPU seconds and the constants behind them (``qpu_time``); nothing without an estimate."""
    timing = next((entry.timing for entry in report.circuits if entry.timing is not None), None)
    if qpu[chosen] is None or timing is None:
        return []
    beside = "" if other is None or qpu[other] is None else (
        f"; {'without' if other == 'unpacked' else 'with'} packing {qpu[other]['trial']:,.1f} s and "
        f"{qpu[other]['per_step']:,.1f} s")
    return [
        f"estimated QPU time: hardware trial {qpu[chosen]['trial']:,.1f} s, per training step "
        f"{qpu[chosen]['per_step']:,.1f} s{beside}",
        f"  an estimate: {timing.job_overhead_s:g} s per sampler job + shots x (rep_delay "
        f"{timing.rep_delay_s * 1e6:g} us + circuit duration) per circuit,",
        f"  IBM's usage formula ({USAGE_DOC})",
    ]


def _circuit_lines(report: CircuitReport) -> list[str]:
    lines = ["distinct circuits:"]
    if report.target is not None:
        lines[0] += " (estimated success: the product of 1 - error over the ISA circuit's gates and readouts)"
    for entry in report.circuits:
        ops = " ".join(f"{k}:{v}" for k, v in entry.logical.ops.items())
        lines.append(f"  {entry.name}: {entry.qubits} qubits, {entry.params} params, depth {entry.logical.depth} "
                     f"({ops})")
        if entry.transpiled is not None:
            tr = entry.transpiled
            gates = " ".join(f"{k}:{v}" for k, v in tr.two_qubit_gates.items()) or "none"
            duration = f", {entry.timing.circuit_s * 1e6:.2f} us per shot" if entry.timing is not None else ""
            lines.append(f"    ISA: depth {tr.depth}, two-qubit {gates} (depth {tr.two_qubit_depth}), "
                         f"swaps {tr.swaps}, layout {tr.layout}, {entry.slots} fit side by side{duration}")
            lines += _line_lines(entry.lines, entry.success_probability)
    return lines


def _line_lines(qubit_lines: list[list[int]], success: list[float]) -> list[str]:
    """The qubit line(s) a circuit runs on and their estimated success probability (the table's ``success`` column
    is the lowest of them)."""
    if not qubit_lines:
        return ["    no line of qubits fits: the transpiler chooses the layout"]
    shown = "; ".join(f"{line} {p:.3f}" for line, p in zip(qubit_lines[:3], success[:3]))
    more = f"; and {len(qubit_lines) - 3} more (lowest {min(success):.3f})" if len(qubit_lines) > 3 else ""
    return [f"    qubit line(s) and estimated success: {shown}{more}"]


def format_report(report: CircuitReport) -> str:
    """The report as a fixed-width table for a terminal: header, one row per layer, totals, circuits, warnings."""
    columns = _columns(report)
    head = " ".join(c.cell(None, c.header) for c in columns)
    rows = [" ".join(c.cell(layer) for c in columns) for layer in report.layers]
    lines = [*_header_lines(report), "", head, "-" * len(head), *rows, "", *_totals_lines(report),
             *_circuit_lines(report)]
    lines += [f"WARNING: {w}" for w in report.warnings]
    return "\n".join(lines)
