"""Hardware-aware compilation: qubit lines on a device's coupling graph and ISA transpilation on them.

A QPG ansatz entangles with a CX chain (``linear``): placed on a *line* of physical qubits (a simple path in the
coupling graph, logical qubit i on the i-th qubit of the path) it needs no routing SWAPs. Disjoint lines also let
several channels' circuits share one wide circuit (see ``packing``).

Line search is greedy and deterministic. Each step takes the candidate path that strands the fewest free qubits (in
pieces too small for another line), then the one most likely to succeed: mapomatic's score, the product over the
circuit's operations of (1 - error) from ``backend.target`` — two-qubit gate errors of the line's edges as often as
the circuit uses each, one-qubit gate errors (``sx``, ``x``) per qubit times their count, readout errors of the
measured qubits (``LineUsage``; all errors 0 without error data). The search minimises -log of it, a sum over the
path. ``circuit_lines`` reads the usage from the circuit's ISA on a probe line; without a circuit each coupling and
readout counts once. Candidates come from a depth-first search from every free qubit in order of increasing cost,
stopped after ``PATHS_PER_START`` complete paths. Three variants (all starts; only starts at the edge of what is
left; a modular stranding estimate) run and the one with more lines, then higher success, wins: on 127-156-qubit
heavy-hex devices that takes 0.05-0.3 s and reaches the maximum matching for n=2 and 70-100% of floor(N/n) lines for
n <= 6. Each line is oriented the cheaper way round (ties: logical qubit 0 on the lower physical index).

Routing SWAPs: ``transpile_isa`` counts the ``swap`` gates that layout/routing insert (the maximum number of swap
gates seen after any pass, minus those in the input circuit) and records it in ``circuit.metadata``
(``ROUTING_SWAPS_KEY``); ``swap_count`` reads it. Counting gates after the run cannot do this, because the basis
translation decomposes each swap into three two-qubit gates that optimization may then partly cancel.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from qiskit.circuit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from .stats import is_two_qubit_gate, two_qubit_gate_count

log = logging.getLogger(__name__)

ROUTING_SWAPS_KEY = "hqctf_routing_swaps"
SIMULATOR_WIDTH_LIMIT = 16
"""Qubits a packed circuit may have on a backend without a coupling map (a simulator). The statevector grows as
2**width: measured on Aer (2 cores), a 24-qubit packed circuit costs ~2 s per parameter set, far more than the
shots it saves, while 16 qubits stay in milliseconds. Aer's own limit (``AerSimulator().num_qubits``, 30) needs
16 GiB."""
PATHS_PER_START = 64
MIN_SUCCESS = 1e-12
"""Floor of 1 - error in the log score (a target may report error 1.0 for a broken qubit)."""
NO_ERROR_OPERATIONS = frozenset({"barrier", "delay", "rz"})
"""One-qubit operations a line score skips: no physical pulse (``rz`` is a frame change) or no error data."""


def coupling_edges(backend: Any) -> list[tuple[int, int]] | None:
    """Undirected coupling edges ``(a, b)`` with ``a < b`` of a backend's target, or None without a coupling map."""
    target = getattr(backend, "target", None)
    coupling = target.build_coupling_map() if target is not None else None
    if coupling is None:
        return None
    return sorted({(min(a, b), max(a, b)) for a, b in coupling.get_edges() if a != b})


def _error(properties: Any) -> float:
    error = getattr(properties, "error", None)
    return float(error) if error is not None else 0.0


def _log_loss(error: float) -> float:
    """``-log(1 - error)``: what one operation with that error costs in log success probability."""
    return -math.log(max(1.0 - error, MIN_SUCCESS))


@dataclass(frozen=True)
class LineUsage:
    """What a circuit placed on a line does at each position (logical qubit i on the line's i-th qubit): two-qubit
    gates on edge k (positions k, k+1), one-qubit gates by name per position, measurements per position.

    ``uniform(n)`` (each edge and each readout once) is the default when no circuit is given; ``of(isa, line)``
    counts an ISA circuit placed on ``line``, as mapomatic's cost walks a circuit's operations.
    """

    two_qubit: tuple[int, ...]
    one_qubit: tuple[tuple[tuple[str, int], ...], ...]
    measured: tuple[int, ...]

    @classmethod
    def uniform(cls, num_qubits: int) -> "LineUsage":
        return cls((1,) * max(num_qubits - 1, 0), ((),) * num_qubits, (1,) * num_qubits)

    @classmethod
    def of(cls, isa: QuantumCircuit, line: Sequence[int]) -> "LineUsage":
        """The operations of ``isa`` on the qubits of ``line``; gates touching other qubits (routing) are left out."""
        position = {qubit: index for index, qubit in enumerate(line)}
        two_qubit = [0] * max(len(line) - 1, 0)
        one_qubit: list[Counter] = [Counter() for _ in line]
        measured = [0] * len(line)
        for instruction in isa.data:
            places = [position.get(isa.find_bit(q).index) for q in instruction.qubits]
            if None in places:
                continue
            name = instruction.operation.name
            if name == "measure":
                measured[places[0]] += 1
            elif len(places) == 1 and name not in NO_ERROR_OPERATIONS:
                one_qubit[places[0]][name] += 1
            elif len(places) == 2 and abs(places[0] - places[1]) == 1:
                two_qubit[min(places)] += 1
        return cls(tuple(two_qubit), tuple(tuple(sorted(c.items())) for c in one_qubit), tuple(measured))


def _error_tables(
    target: Any, edges: Iterable[tuple[int, int]]
) -> tuple[dict[str, dict[int, float]], dict[tuple[int, int], float]]:
    """One-qubit operation errors per name and qubit (``measure`` among them) and the best two-qubit gate error per
    undirected edge (0 where the target has none)."""
    node_errors: dict[str, dict[int, float]] = {}
    edge_error: dict[tuple[int, int], float] = {}
    for name in target.operation_names:
        two_qubit = is_two_qubit_gate(target.operation_from_name(name))
        for qargs, properties in target[name].items():
            if qargs is None:
                continue
            if len(qargs) == 1 and not two_qubit:
                node_errors.setdefault(name, {})[qargs[0]] = _error(properties)
            elif len(qargs) == 2 and two_qubit:
                key = (min(qargs), max(qargs))
                edge_error[key] = min(edge_error.get(key, float("inf")), _error(properties))
    return node_errors, {edge: edge_error.get(edge, 0.0) for edge in edges}


def _line_costs(
    backend: Any, edges: list[tuple[int, int]], usage: LineUsage
) -> tuple[list[dict[int, float]], dict[tuple[int, int], float], list[float]]:
    """-log success of each qubit at each line position, of each edge per use, and the uses of each line edge."""
    node_errors, edge_error = _error_tables(backend.target, edges)
    qubits = range(backend.target.num_qubits or 0)
    node_at = []
    for index, measured in enumerate(usage.measured):
        counts = [*usage.one_qubit[index], *((("measure", measured),) if measured else ())]
        node_at.append({q: sum(count * _log_loss(node_errors.get(name, {}).get(q, 0.0)) for name, count in counts)
                        for q in qubits})
    edge_cost = {edge: _log_loss(error) for edge, error in edge_error.items()}
    return node_at, edge_cost, [float(uses) for uses in usage.two_qubit]


class _LineSearch:
    """Greedy disjoint simple paths of a fixed length on an undirected graph, minimising -log success probability.

    ``node_at[i][q]``: cost of qubit q at line position i; ``edge_cost[(a, b)]``: cost of one two-qubit gate on that
    edge; ``edge_weights[k]``: how often the line's k-th edge is used.
    """

    def __init__(
        self, edges: list[tuple[int, int]], node_at: list[dict[int, float]], edge_cost: dict[tuple[int, int], float],
        edge_weights: list[float],
    ) -> None:
        self.neighbours: dict[int, list[int]] = {node: [] for node in node_at[0]}
        for a, b in edges:
            self.neighbours.setdefault(a, []).append(b)
            self.neighbours.setdefault(b, []).append(a)
        self.node_at, self.edge_cost, self.edge_weights = node_at, edge_cost, edge_weights
        mean_node = {q: sum(table.get(q, 0.0) for table in node_at) / len(node_at) for q in self.neighbours}
        mean_edge = sum(edge_weights) / len(edge_weights) if edge_weights else 0.0
        for node, near in self.neighbours.items():  # cheapest continuation first, then by index (deterministic)
            near.sort(key=lambda other: (mean_edge * self._edge(node, other) + mean_node[other], other))

    def _edge(self, a: int, b: int) -> float:
        return self.edge_cost.get((min(a, b), max(a, b)), 0.0)

    def _step(self, a: int, b: int, position: int) -> float:
        """Cost of putting ``b`` at ``position`` after ``a`` at ``position - 1``."""
        return self.edge_weights[position - 1] * self._edge(a, b) + self.node_at[position].get(b, 0.0)

    def paths_from(self, start: int, length: int, free: set[int]) -> list[tuple[float, tuple[int, ...]]]:
        """Up to PATHS_PER_START simple paths of ``length`` free nodes from ``start``, cheapest steps first (DFS)."""
        found: list[tuple[float, tuple[int, ...]]] = []
        path, on_path = [start], {start}
        stack = [(start, iter(self.neighbours[start]), self.node_at[0].get(start, 0.0))]
        while stack and len(found) < PATHS_PER_START:
            node, candidates, cost = stack[-1]
            if len(path) == length:
                found.append((cost, tuple(path)))
                stack.pop()
                on_path.discard(path.pop())
                continue
            nxt = next((c for c in candidates if c in free and c not in on_path), None)
            if nxt is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            step = self._step(node, nxt, len(path))
            path.append(nxt)
            on_path.add(nxt)
            stack.append((nxt, iter(self.neighbours[nxt]), cost + step))
        return found

    def stranded(self, path: tuple[int, ...], free: set[int], length: int, modular: bool) -> int:
        """Free qubits that taking ``path`` leaves in pieces too small for another line.

        ``modular`` also counts the remainder (size mod n) of pieces up to 3n qubits: a rougher guess at what a
        piece cannot hold, which packs some devices and sizes better, others worse.
        """
        rest = free.difference(path)
        limit = 3 * length if modular else length
        seen: set[int] = set()
        lost = 0
        for node in path:
            for start in self.neighbours[node]:
                if start not in rest or start in seen:
                    continue
                piece, todo = {start}, [start]
                while todo and len(piece) < limit:
                    for other in self.neighbours[todo.pop()]:
                        if other in rest and other not in piece:
                            piece.add(other)
                            todo.append(other)
                seen |= piece
                if len(piece) < limit:
                    lost += len(piece) % length if modular else len(piece)
        return lost

    def lines(self, length: int, count: int | None, edge_starts: bool, modular: bool = False) -> list[list[int]]:
        """Greedy: each step takes the candidate path stranding the fewest qubits, then the cheapest.

        ``edge_starts`` limits candidates to paths starting at qubits with the fewest free neighbours (peeling the
        graph from its edge); otherwise every free qubit is a start.
        """
        free = set(self.neighbours)
        if length == 1:  # single qubits: the lowest errors
            ranked = sorted(free, key=lambda node: (self.node_at[0].get(node, 0.0), node))
            return [[node] for node in ranked[:count]]
        result: list[list[int]] = []
        while free and (count is None or len(result) < count):
            starts = sorted(free)
            if edge_starts:
                degree = {node: sum(other in free for other in self.neighbours[node]) for node in starts}
                starts = [node for node in starts if degree[node] == min(degree.values())]
            candidates = sorted(c for start in starts for c in self.paths_from(start, length, free))
            best: tuple[int, float, tuple[int, ...]] | None = None
            for cost, path in candidates:
                key = (self.stranded(path, free, length, modular), cost, path)
                best = key if best is None or key < best else best
                if key[0] == 0:
                    break
            if best is None:
                break
            chosen = self.oriented(list(best[2]))
            result.append(chosen)
            free.difference_update(chosen)
        return result

    def oriented(self, line: list[int]) -> list[int]:
        """The cheaper direction of ``line``; on a tie (symmetric usage) logical qubit 0 on the lower index."""
        forward, backward = self.cost(line), self.cost(line[::-1])
        if abs(forward - backward) <= 1e-12 * max(1.0, forward):
            return line if line[0] <= line[-1] else line[::-1]
        return line if forward < backward else line[::-1]

    def cost(self, line: Sequence[int]) -> float:
        """-log of the line's estimated success probability."""
        return self.node_at[0].get(line[0], 0.0) + sum(
            self._step(a, b, position) for position, (a, b) in enumerate(zip(line, line[1:]), start=1))

    def best_lines(self, length: int, count: int | None) -> list[list[int]]:
        """The best of three greedy variants: more lines first, then the lower total error."""
        variants = ((False, False), (True, False), (False, True))
        options = [self.lines(length, count, edge_starts, modular) for edge_starts, modular in variants]
        return max(options, key=lambda lines: (len(lines), -sum(self.cost(line) for line in lines)))


def find_line_layouts(
    backend: Any, num_qubits: int, count: int | None = None, usage: LineUsage | None = None
) -> list[list[int]]:
    """Disjoint lines of ``num_qubits`` physical qubits on ``backend``; ``layout[i]`` hosts logical qubit i.

    Greedy and deterministic; as many lines as fit, or at most ``count``, each as likely to succeed as the search
    finds for a circuit doing ``usage`` (default: each coupling and each readout once; ``circuit_lines`` passes the
    circuit's own). ``num_qubits == 1`` gives single qubits. A backend without a coupling map (a simulator) gets
    contiguous blocks up to ``SIMULATOR_WIDTH_LIMIT`` qubits.
    """
    if num_qubits < 1:
        raise ValueError(f"num_qubits must be >= 1, got {num_qubits}")
    if count is not None and count < 1:
        raise ValueError(f"count must be >= 1 or None, got {count}")
    edges = coupling_edges(backend)
    if edges is None:
        width = min(getattr(backend, "num_qubits", None) or SIMULATOR_WIDTH_LIMIT, SIMULATOR_WIDTH_LIMIT)
        blocks = max(1, width // num_qubits) if num_qubits <= width else 0
        blocks = blocks if count is None else min(blocks, count)
        return [list(range(k * num_qubits, (k + 1) * num_qubits)) for k in range(blocks)]
    return _search(backend, edges, usage or LineUsage.uniform(num_qubits), num_qubits).best_lines(num_qubits, count)


def _search(backend: Any, edges: list[tuple[int, int]], usage: LineUsage, num_qubits: int) -> _LineSearch:
    if len(usage.measured) != num_qubits:
        raise ValueError(f"usage describes {len(usage.measured)} qubits, not {num_qubits}")
    return _LineSearch(edges, *_line_costs(backend, edges, usage))


def success_probability(backend: Any, line: Sequence[int], usage: LineUsage | None = None) -> float:
    """The estimated success probability of a circuit doing ``usage`` on ``line``: the product over its operations
    of (1 - error) from ``backend.target`` (mapomatic's score); 1.0 without a coupling map (a simulator)."""
    edges = coupling_edges(backend)
    if edges is None:
        return 1.0
    search = _search(backend, edges, usage or LineUsage.uniform(len(line)), len(line))
    return math.exp(-search.cost(list(line)))


def circuit_usage(
    circuit: QuantumCircuit, backend: Any, optimization_level: int = 1, seed_transpiler: int = 0
) -> LineUsage | None:
    """What ``circuit`` (measurements included) does per line position once compiled for ``backend``: read from its
    ISA circuit on a probe line (the default search's first); None without a coupling map or without a line."""
    if coupling_edges(backend) is None:
        return None
    probe = find_line_layouts(backend, circuit.num_qubits, count=1)
    if not probe:
        return None
    isa = transpile_isa(circuit, backend, optimization_level, initial_layout=probe[0], seed_transpiler=seed_transpiler)
    return LineUsage.of(isa, probe[0])


def circuit_lines(
    circuit: QuantumCircuit, backend: Any, count: int | None = None, optimization_level: int = 1,
    seed_transpiler: int = 0,
) -> list[list[int]]:
    """The lines ``circuit`` runs on (everyone placing a QPG circuit asks here): ``find_line_layouts`` scored by the
    circuit's own operations (``circuit_usage``)."""
    usage = circuit_usage(circuit, backend, optimization_level, seed_transpiler)
    return find_line_layouts(backend, circuit.num_qubits, count=count, usage=usage)


def transpile_isa(
    circuit: QuantumCircuit,
    backend: Any,
    optimization_level: int = 1,
    initial_layout: Sequence[int] | None = None,
    seed_transpiler: int = 0,
) -> QuantumCircuit:
    """The preset pass manager for ``backend`` run on ``circuit``: an ISA circuit, with the routing SWAP count.

    The count of swap gates inserted by layout/routing is stored in ``metadata[ROUTING_SWAPS_KEY]`` (see module doc).
    """
    manager = generate_preset_pass_manager(
        optimization_level=optimization_level, backend=backend,
        initial_layout=list(initial_layout) if initial_layout is not None else None, seed_transpiler=seed_transpiler,
    )
    most_swaps = 0

    def watch(dag: Any = None, **_: Any) -> None:
        nonlocal most_swaps
        most_swaps = max(most_swaps, dag.count_ops().get("swap", 0))

    isa = manager.run(circuit, callback=watch)
    isa.metadata = {**(isa.metadata or {}), ROUTING_SWAPS_KEY: max(0, most_swaps - circuit.count_ops().get("swap", 0))}
    log.debug("transpiled %s for %s: depth %d, %d two-qubit gates, %d routing swaps", circuit.name,
              getattr(backend, "name", backend), isa.depth(), two_qubit_gate_count(isa), swap_count(isa))
    return isa


def swap_count(circuit: QuantumCircuit) -> int:
    """Routing SWAPs that ``transpile_isa`` inserted into this circuit (0 on a line layout for a linear ansatz)."""
    try:
        return int(circuit.metadata[ROUTING_SWAPS_KEY])
    except (KeyError, TypeError):
        raise ValueError(
            f"circuit {circuit.name!r} was not produced by transpile_isa: its routing SWAPs are unknown"
        ) from None
