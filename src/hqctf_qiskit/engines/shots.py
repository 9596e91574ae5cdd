"""Shot-noise-aware training on the torch engine: sampled probabilities forward, exact gradient backward.

The forward value is what a sampler with ``shots`` shots would return (multinomial counts / shots per channel),
the backward pass is the exact statevector gradient (straight-through: ``p + (p_sampled - p).detach()``). This
trains under the noise of a shot budget at torch speed, on CPU or CUDA, without a sampler backend.

The counts come from :func:`sample_counts`, an exact multinomial sampler whose cost does not grow with the shots
(``torch.multinomial`` draws every shot: 1.33x an exact training step at 4096 shots).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from qiskit.circuit import QuantumCircuit

from .cost import check_shots
from .statevector import StatevectorEngine


def sample_counts(probabilities: torch.Tensor, shots: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Multinomial counts ``[B, K]`` (float64) of ``shots`` draws from each row of ``probabilities`` ``[B, K]``.

    Exact in distribution, at K - 1 binomial draws per row whatever ``shots`` is: conditional binomials down a
    binary tree over the outcomes. All shots start at the root; at level k each node (the outcomes whose low k index
    bits are r) splits its count between its children (bit k = 0 or 1) by one binomial draw with the first child's
    share of the node's mass: a multinomial conditioned on a subtotal is a binomial times two independent
    multinomials. ``log2(K)`` vectorised ``torch.binomial`` calls over ``[B, 2**k]``, on the rows' device with
    ``generator`` (reproducible for a seeded one). Splitting on the low bits first keeps each level's children in
    two contiguous halves, so no level interleaves.

    Rows need not be normalised (float rounding); negative entries count as zero and are never drawn, nor is any
    zero entry (a child of zero mass gets share 0, its sibling share exactly 1). A row without positive finite mass
    is a bug upstream: ``ValueError``.
    """
    if probabilities.dim() != 2:
        raise ValueError(f"probabilities must have shape [B, K], got {tuple(probabilities.shape)}")
    weights = probabilities.detach().to(torch.float64).clamp_min(0)
    rows, outcomes = weights.shape
    depth = max(outcomes - 1, 0).bit_length()  # levels of the tree: K padded to 2**depth leaves
    if outcomes < 2**depth:
        weights = F.pad(weights, (0, 2**depth - outcomes))
    masses = [weights]  # masses[j][:, r]: mass of the outcomes whose low depth - j bits are r
    for bits in range(depth - 1, -1, -1):
        finer = masses[-1]
        masses.append(finer[:, :2**bits] + finer[:, 2**bits:])  # node = child 0 + child 1, so child 0 <= node
    masses.reverse()  # masses[k]: level k, [B, 2**k]
    root = masses[0]
    if not bool(torch.all(torch.isfinite(root) & (root > 0))):
        raise ValueError("sample_counts: every row needs positive, finite probability mass")
    counts = torch.empty_like(weights)  # level k's counts live in counts[:, :2**k]
    counts[:, :1] = float(shots)
    for level in range(depth):
        half = 2**level
        share = torch.div(masses[level + 1][:, :half], masses[level]).nan_to_num_(nan=0.0)  # 0/0: a massless node
        node = counts[:, :half]
        drawn = torch.binomial(node, share, generator=generator)
        torch.sub(node, drawn, out=counts[:, half:2 * half])
        node.copy_(drawn)
    return counts[:, :outcomes]


class ShotsStatevectorEngine:
    """``StatevectorEngine`` whose forward value is a ``shots``-shot estimate; reproducible for a given ``seed``."""

    def __init__(
        self, circuit: QuantumCircuit, shots: int, dtype: torch.dtype = torch.float32, seed: int | None = None,
        group_count: int | None = None,
    ) -> None:
        if shots is None:
            raise ValueError("ShotsStatevectorEngine needs shots; the exact engine is StatevectorEngine")
        check_shots(shots)
        self.exact = StatevectorEngine(circuit, dtype=dtype, group_count=group_count)
        self.circuit = circuit
        self.num_qubits = self.exact.num_qubits
        self.num_parameters = self.exact.num_parameters
        self.shots = shots
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        """One generator per device, seeded once: successive forwards differ, a fresh engine replays them."""
        if device not in self._generators:
            generator = torch.Generator(device=device)
            if self.seed is None:
                generator.seed()
            else:
                generator.manual_seed(self.seed)
            self._generators[device] = generator
        return self._generators[device]

    def sample(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Multinomial frequencies (counts / shots) ``[B, 2**n]`` for probability rows ``[B, 2**n]`` (no gradient)."""
        counts = sample_counts(probabilities, self.shots, self._generator(probabilities.device))
        return (counts / self.shots).to(probabilities.dtype)

    def probabilities(self, theta: torch.Tensor) -> torch.Tensor:
        exact = self.exact.probabilities(theta)
        return exact + (self.sample(exact) - exact).detach()

    __call__ = probabilities

    def __repr__(self) -> str:
        return f"ShotsStatevectorEngine(n={self.num_qubits}, P={self.num_parameters}, shots={self.shots})"
