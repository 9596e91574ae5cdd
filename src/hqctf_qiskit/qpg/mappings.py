"""Mappings from a channel's basis-state probabilities to its filter weights (a registry by name).

Every mapping takes ``probs [C, 2**n]`` and returns ``weights [C, fan_in]``, and owns a learnable output gain and
bias that ``calibrate`` sets so the generated weights start with the replaced layer's init statistics (mean 0, the
layer's init std): a QPG model must train from its first step, not after the scale has drifted into place.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..native import mlp as mlp_native


def qubits_for(count: int) -> int:
    """Fewest qubits whose 2**n basis states cover ``count`` values (at least one qubit)."""
    return max(1, math.ceil(math.log2(max(count, 1))))


def basis_bits(num_states: int, num_qubits: int) -> torch.Tensor:
    """±1 encoding of the bits of basis indices 0..num_states-1, Qiskit order (column q = qubit q): [S, n]."""
    index = torch.arange(num_states)[:, None]
    bits = (index >> torch.arange(num_qubits)[None, :]) & 1
    return bits.float() * 2 - 1


class WeightMapping(nn.Module):
    """Base class: ``raw(probs)`` gives unscaled weights; ``scale·(gain·raw + bias)`` gives the layer's weights."""

    per_channel_gain = False

    def __init__(self, channels: int, fan_in: int, num_qubits: int) -> None:
        super().__init__()
        self.channels, self.fan_in, self.num_qubits = channels, fan_in, num_qubits
        shape = (channels, 1) if self.per_channel_gain else (1, 1)
        self.gain = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        # The layer's init std as a fixed factor: gain and bias stay O(1), so a learning rate means the same
        # relative step for every layer (a gain of ~0.02 trained at lr 1e-2 would jump 50% a step).
        self.register_buffer("scale", torch.tensor(1.0))

    @classmethod
    def num_qubits_for(cls, fan_in: int, **options: Any) -> int:
        return qubits_for(fan_in)

    def raw(self, probs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        return self.scale * (self.gain * self.raw(probs) + self.bias)

    @torch.no_grad()
    def calibrate(self, probs: torch.Tensor, target_std: float) -> None:
        """Choose gain and bias so the weights generated from ``probs`` have mean 0 and std ``target_std``."""
        raw = self.raw(probs).double()
        # per channel where a channel has several weights; a fan_in of 1 has no per-channel spread to normalize
        dims = 1 if self.per_channel_gain and raw.shape[1] > 1 else None
        mean = raw.mean(dim=dims, keepdim=True) if dims else raw.mean().reshape(1, 1)
        std = raw.std(dim=dims, keepdim=True, correction=0) if dims else raw.std(correction=0).reshape(1, 1)
        gain = 1.0 / std.clamp_min(1e-8)
        self.scale.fill_(float(target_std))
        self.gain.copy_(gain.to(self.gain.dtype).expand_as(self.gain))
        self.bias.copy_((-gain * mean).to(self.bias.dtype).expand_as(self.bias))


class AffineMapping(WeightMapping):
    """``w = s·(a_c·(2**n·p − 1) + b_c)`` on the first fan_in probabilities (s: the layer's init std, fixed).

    Trade-off: 2 parameters per channel and a map that is linear in the probabilities, so it works directly on
    measured (shot-estimated) probabilities — the hardware-friendly choice. Expressiveness comes from the circuit alone.
    """

    per_channel_gain = True

    def raw(self, probs: torch.Tensor) -> torch.Tensor:
        return probs[:, : self.fan_in] * (2**self.num_qubits) - 1

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        # The same affine map folded into one pass over the [C, fan_in] weights (the step-by-step form makes five
        # full-size temporaries, measured ~10% of a QPG training step's overhead on the 512-channel layers).
        coefficient = self.scale * self.gain * (2**self.num_qubits)
        offset = self.scale * (self.bias - self.gain)
        return torch.addcmul(offset, probs[:, : self.fan_in], coefficient)


class _MLPMapping(WeightMapping):
    """Shared machinery of the Quantum-Train style mappings: squashed probabilities plus a small MLP on (bits, x)."""

    def __init__(
        self, channels: int, fan_in: int, num_qubits: int, *, hidden: int, outputs: int, num_states: int,
        alpha: float = 1.0,
    ) -> None:
        super().__init__(channels, fan_in, num_qubits)
        self.alpha = float(alpha)
        self.num_states = num_states
        self.beta = nn.Parameter(torch.tensor(1.0))
        self.gamma = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("bits", basis_bits(num_states, num_qubits), persistent=False)
        # The first layer is split into a bitstring part (shared by all channels, computed once per call) and an
        # x part, so the MLP never materializes a [C, S, n+1] input.
        self.bits_in = nn.Linear(num_qubits, hidden)
        self.x_in = nn.Linear(1, hidden, bias=False)
        # x is tiny (probabilities ~2**-n); calibration scales it to unit std so the MLP's nonlinearity acts on it
        # and blocks of a chunk are not just linear in x (which would cap the weight matrix's rank).
        self.register_buffer("x_gain", torch.tensor(1.0))
        self.out = nn.Linear(hidden, outputs)
        self.act = nn.GELU()  # exact (erf) GELU, as the CPU kernel computes it
        self.use_native = True  # False: always the torch form (the kernel's reference in tests)

    def squash(self, probs: torch.Tensor) -> torch.Tensor:
        """``x = (β·tanh(γ·2**(n−1)·p))**α − mean(x)`` per channel over its used basis states."""
        p = probs[:, : self.num_states]
        x = self.beta.abs() * torch.tanh(self.gamma.abs() * (2 ** (self.num_qubits - 1)) * p)
        if self.alpha != 1.0:
            x = x.clamp_min(1e-12).pow(self.alpha)
        # centring over a channel's states; a single state (fan_in 1) would be centred to 0, so it is kept as is
        return x - x.mean(dim=1, keepdim=True) if x.shape[1] > 1 else x

    def mlp(self, probs: torch.Tensor) -> torch.Tensor:
        """MLP outputs ``[C, S, outputs]``, centred over channels.

        The bitstring part of the MLP is the same for every channel, so its outputs carry a component shared by all
        channels (a rank-1 "mean filter") that at initialization dwarfs the channel-specific part driven by x:
        measured on a 64x576 layer, the generated weight matrix had an entropy rank of 9 (chunked) and 28 (qt) of
        64. Removing the channel mean leaves the channel-specific part, which is what the circuits control.
        """
        x = self.squash(probs) * self.x_gain  # [C, S]
        bits_part = self.bits_in(self.bits.to(x.dtype))  # [S, hidden], shared by all channels
        if self.out.out_features == 1 and self.use_native and mlp_native.kernel_applies(x):
            # the same MLP without its [C, S, hidden] intermediate (the qt mapping's cost on large layers)
            out = mlp_native.gelu_mlp(x, bits_part.t(), self.x_in.weight[:, 0], self.out.weight[0])
            out = (out + self.out.bias)[..., None]
        else:
            out = self.out(self.act(bits_part[None] + x[..., None] * self.x_in.weight[:, 0]))
        return out - out.mean(dim=0, keepdim=True) if out.shape[0] > 1 else out

    @torch.no_grad()
    def calibrate(self, probs: torch.Tensor, target_std: float) -> None:
        self.x_gain.fill_(1.0 / float(self.squash(probs).std().clamp_min(1e-8)))
        super().calibrate(probs, target_std)


class QuantumTrainMapping(_MLPMapping):
    """Quantum-Train: each basis state's (±1 bitstring, squashed probability) → one weight via an MLP shared by the layer.

    Trade-off: more parameters (the MLP, ~hidden·(n+3)) and a nonlinear map, so it is more expressive than
    ``affine``; but it needs all fan_in probabilities, which shots estimate poorly for large n.
    """

    def __init__(self, channels: int, fan_in: int, num_qubits: int, *, hidden: int = 16, alpha: float = 1.0) -> None:
        super().__init__(channels, fan_in, num_qubits, hidden=hidden, outputs=1, num_states=fan_in, alpha=alpha)

    def raw(self, probs: torch.Tensor) -> torch.Tensor:
        return self.mlp(probs)[..., 0]


class ChunkedMapping(_MLPMapping):
    """QPA-style: each basis state yields a chunk of ``chunk`` weights through an MLP on (bitstring, x) → R^chunk.

    Trade-off: a channel needs only ceil(log2(ceil(fan_in/chunk))) qubits, so there are far fewer probabilities to
    estimate with shots (the choice for hardware trials); weights within a chunk share one probability.
    """

    MIN_STATES = 4

    def __init__(
        self, channels: int, fan_in: int, num_qubits: int, *, chunk: int = 32, hidden: int = 32, alpha: float = 1.0
    ) -> None:
        chunk = self.layer_chunk(fan_in, chunk)
        states = math.ceil(fan_in / chunk)
        super().__init__(channels, fan_in, num_qubits, hidden=hidden, outputs=chunk, num_states=states, alpha=alpha)
        self.chunk = chunk

    @classmethod
    def layer_chunk(cls, fan_in: int, chunk: int) -> int:
        """``chunk``, made smaller where a layer would get fewer than MIN_STATES basis states (fan_in permitting).

        With a single state (e.g. a 3x3 depthwise conv, fan_in 9, at chunk 32) every channel's only probability is
        centred away and all channels get the same filter, whatever the circuits do: measured in the experiment
        preset, deeplabv3plus's separable convs trained to kidney Dice 0. Four states keep each channel's filter a
        function of its circuit, and leave layers with fan_in >= 4·chunk (the large ones) unchanged.
        """
        return max(1, min(chunk, math.ceil(fan_in / cls.MIN_STATES)))

    @classmethod
    def num_qubits_for(cls, fan_in: int, *, chunk: int = 32, **options: Any) -> int:
        return qubits_for(math.ceil(fan_in / cls.layer_chunk(fan_in, chunk)))

    def raw(self, probs: torch.Tensor) -> torch.Tensor:
        return self.mlp(probs).reshape(probs.shape[0], -1)[:, : self.fan_in]


MAPPINGS: dict[str, type[WeightMapping]] = {
    "affine": AffineMapping,
    "qt": QuantumTrainMapping,
    "chunked": ChunkedMapping,
}


def mapping_class(name: str) -> type[WeightMapping]:
    try:
        return MAPPINGS[name]
    except KeyError:
        raise ConfigError(f"--mapping: unknown mapping {name!r}; choose from {', '.join(sorted(MAPPINGS))}") from None
