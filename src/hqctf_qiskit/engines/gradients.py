"""Gradients of sampled probabilities for sampler engines: batched parameter-shift and SPSA, as one autograd Function.

Both methods only need ``evaluate(values [M, P]) -> probabilities [M, 2**n]``, which a sampler engine runs as ONE
sampler call (one PUB whose parameter array holds all M rows) on a circuit transpiled once. So a backward pass is
one call whatever B and P are, instead of qiskit-machine-learning's ``ParamShiftSamplerGradient``, which submits
2·P PUBs per channel and re-runs its pass manager on every call.

- ``param-shift``: exact for circuits where every parameter enters one Pauli rotation (rx, ry, rz, p, rxx, ...)
  with coefficient ±1: ∂p/∂θ_j = (p(θ + π/2·e_j) − p(θ − π/2·e_j)) / 2. 2·P rows per channel.
- ``spsa``: ∂p/∂θ ≈ (p(θ + εΔ) − p(θ − εΔ)) / (2ε) · Δ with Rademacher Δ (Δ_j = ±1 so 1/Δ_j = Δ_j),
  averaged over ``samples`` draws. 2·samples rows per channel regardless of P. With shots, ε must be large enough
  that the difference p(θ+εΔ) − p(θ−εΔ) ≈ 2ε·∇p·Δ exceeds the shot noise; 0.05 is a shot-appropriate default.

What a step costs (rows per channel, circuits with packing) is counted in ``cost``, next to this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from torch.autograd.function import once_differentiable

SHIFT = np.pi / 2

Evaluate = Callable[[np.ndarray], np.ndarray]


def param_shift_rows(theta: np.ndarray) -> np.ndarray:
    """All shifted parameter sets ``[B * 2P, P]``, ordered (channel, sign +/-, parameter)."""
    batch, count = theta.shape
    shifts = np.concatenate([np.eye(count), -np.eye(count)]) * SHIFT  # [2P, P]
    return (theta[:, None, :] + shifts[None]).reshape(batch * 2 * count, count)


def param_shift_jacobian(evaluate: Evaluate, theta: np.ndarray) -> np.ndarray:
    """``[B, 2**n, P]`` Jacobian of the probabilities from one ``evaluate`` call on ``B * 2P`` rows."""
    batch, count = theta.shape
    probs = evaluate(param_shift_rows(theta)).reshape(batch, 2, count, -1)
    return ((probs[:, 0] - probs[:, 1]) / 2).transpose(0, 2, 1)


def spsa_directions(shape: tuple[int, int], samples: int, rng: np.random.Generator) -> np.ndarray:
    """Rademacher perturbation directions ``[samples, B, P]`` with entries ±1."""
    return rng.choice(np.array([-1.0, 1.0]), size=(samples, *shape))


def spsa_vjp(
    evaluate: Evaluate, theta: np.ndarray, grad_output: np.ndarray, epsilon: float, samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """SPSA estimate of ``grad_output · ∂p/∂θ`` ``[B, P]`` from one ``evaluate`` call on 2·samples·B rows."""
    delta = spsa_directions(theta.shape, samples, rng)  # [S, B, P]
    rows = np.stack([theta + epsilon * delta, theta - epsilon * delta], axis=1)  # [S, 2, B, P]
    probs = evaluate(rows.reshape(-1, theta.shape[1])).reshape(samples, 2, theta.shape[0], -1)
    slope = np.einsum("bk,sbk->sb", grad_output, probs[:, 0] - probs[:, 1]) / (2 * epsilon)  # [S, B]
    return np.einsum("sb,sbp->bp", slope, delta) / samples


class SampledProbabilities(Protocol):
    """What ``SamplerFunction`` needs from an engine: numpy forward probabilities and a vector-Jacobian product."""

    def forward_values(self, values: np.ndarray) -> np.ndarray: ...

    def vector_jacobian(self, theta: np.ndarray, grad_output: np.ndarray) -> np.ndarray: ...


class SamplerFunction(torch.autograd.Function):
    """``theta [B, P]`` → probabilities ``[B, 2**n]`` through an engine, with the engine's gradient in backward.

    Same contract as qiskit-machine-learning's ``TorchConnector`` for a QNN whose inputs are all circuit parameters
    (numpy forward, dense input gradient contracted with ``grad_output``), but the Jacobian arrives as one array
    from one sampler call instead of per-outcome dictionaries per parameter.
    """

    @staticmethod
    def forward(ctx: Any, theta: torch.Tensor, engine: SampledProbabilities) -> torch.Tensor:  # type: ignore[override]
        values = theta.detach().to("cpu", torch.float64).numpy()
        ctx.engine = engine
        ctx.save_for_backward(theta)
        return torch.as_tensor(engine.forward_values(values), dtype=theta.dtype, device=theta.device)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None]:  # type: ignore[override]
        (theta,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        values = theta.detach().to("cpu", torch.float64).numpy()
        grad = ctx.engine.vector_jacobian(values, grad_output.detach().to("cpu", torch.float64).numpy())
        return torch.as_tensor(grad, dtype=theta.dtype, device=theta.device), None
