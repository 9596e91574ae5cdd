"""Hardware-aware compilation: qubit lines on a device's coupling graph and ISA transpilation on them.

A QPG ansatz entangles with a CX chain (``linear``): placed on a *line* of physical qubits (a simple path in the
coupling graph, logical qubit i on the i-th qubit of the path) it needs no routing SWAPs. Disjoint lines also let
several channels' circuits share one wide circuit (see ``packing``).

Line search is greedy and deterministic. Each step takes the candidate path that strands the fewest free qubits (in
pieces too small for another line), then the one with the lowest error: two-qubit gate errors of its edges plus
readout errors of its qubits, from ``backend.target`` (all zero without error data). Candidates come from a
depth-first search from every free qubit in order of increasing error, stopped after ``PATHS_PER_START`` complete
paths. Three variants (all starts; only starts at the edge of what is left; a modular stranding estimate) run and
the one with more lines, then lower total error, wins: on 127-156-qubit heavy-hex devices that takes 0.05-0.3 s and
reaches the maximum matching for n=2 and 70-100% of floor(N/n) lines for n <= 6.

Routing SWAPs: ``transpile_isa`` counts the ``swap`` gates that layout/routing insert (the maximum number of swap
gates seen after any pass, minus those in the input circuit) and records it in ``circuit.metadata``
(``ROUTING_SWAPS_KEY``); ``swap_count`` reads it. Counting gates after the run cannot do this, because the basis
translation decomposes each swap into three two-qubit gates that optimization may then partly cancel.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
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


def _error_tables(
    target: Any, edges: Iterable[tuple[int, int]]
) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
    """Readout error per qubit and the best two-qubit gate error per undirected edge (0 where the target has none)."""
    node_error: dict[int, float] = {}
    if "measure" in target.operation_names:
        for qargs, properties in target["measure"].items():
            if qargs is not None:
                node_error[qargs[0]] = _error(properties)
    edge_error: dict[tuple[int, int], float] = {}
    for name in target.operation_names:
        if not is_two_qubit_gate(target.operation_from_name(name)):
            continue
        for qargs, properties in target[name].items():
            if qargs is None or len(qargs) != 2:
                continue
            key = (min(qargs), max(qargs))
            edge_error[key] = min(edge_error.get(key, float("inf")), _error(properties))
    return node_error, {edge: edge_error.get(edge, 0.0) for edge in edges}


class _LineSearch:
    """Greedy disjoint simple paths of a fixed length on an undirected graph with node and edge costs."""

    def __init__(
        self, edges: list[tuple[int, int]], node_cost: dict[int, float], edge_cost: dict[tuple[int, int], float]
    ) -> None:
        self.neighbours: dict[int, list[int]] = {node: [] for node in node_cost}
        for a, b in edges:
            self.neighbours.setdefault(a, []).append(b)
            self.neighbours.setdefault(b, []).append(a)
        self.node_cost = node_cost
        self.edge_cost = edge_cost
        for node, near in self.neighbours.items():  # cheapest continuation first, then by index (deterministic)
            near.sort(key=lambda other: (self._step(node, other), other))

    def _step(self, a: int, b: int) -> float:
        return self.edge_cost.get((min(a, b), max(a, b)), 0.0) + self.node_cost.get(b, 0.0)

    def paths_from(self, start: int, length: int, free: set[int]) -> list[tuple[float, tuple[int, ...]]]:
        """Up to PATHS_PER_START simple paths of ``length`` free nodes from ``start``, cheapest steps first (DFS)."""
        found: list[tuple[float, tuple[int, ...]]] = []
        path, on_path = [start], {start}
        stack = [(start, iter(self.neighbours[start]), self.node_cost.get(start, 0.0))]
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
            path.append(nxt)
            on_path.add(nxt)
            stack.append((nxt, iter(self.neighbours[nxt]), cost + self._step(node, nxt)))
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
        if length == 1:  # single qubits: the lowest readout errors
            ranked = sorted(free, key=lambda node: (self.node_cost.get(node, 0.0), node))
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
            chosen = list(best[2])
            # Orient the line so that logical qubit 0 sits on the end with the lower physical index (stable output).
            result.append(chosen if chosen[0] <= chosen[-1] else chosen[::-1])
            free.difference_update(chosen)
        return result

    def cost(self, line: list[int]) -> float:
        return self.node_cost.get(line[0], 0.0) + sum(self._step(a, b) for a, b in zip(line, line[1:]))

    def best_lines(self, length: int, count: int | None) -> list[list[int]]:
        """The best of three greedy variants: more lines first, then the lower total error."""
        variants = ((False, False), (True, False), (False, True))
        options = [self.lines(length, count, edge_starts, modular) for edge_starts, modular in variants]
        return max(options, key=lambda lines: (len(lines), -sum(self.cost(line) for line in lines)))


def find_line_layouts(backend: Any, num_qubits: int, count: int | None = None) -> list[list[int]]:
    """Disjoint lines of ``num_qubits`` physical qubits on ``backend``; ``layout[i]`` hosts logical qubit i.

    Greedy and deterministic; as many lines as fit, or at most ``count``. ``num_qubits == 1`` gives single qubits.
    A backend without a coupling map (a simulator) gets contiguous blocks up to ``SIMULATOR_WIDTH_LIMIT`` qubits.
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
    node_cost, edge_cost = _error_tables(backend.target, edges)
    for qubit in range(backend.target.num_qubits or 0):
        node_cost.setdefault(qubit, 0.0)
    return _LineSearch(edges, node_cost, edge_cost).best_lines(num_qubits, count)


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
