"""The per-step cost model: its numbers, and that they are what a sampler engine actually submits."""

import pytest
import torch
from qiskit.primitives import BaseSamplerV2
from qiskit.primitives.containers.sampler_pub import SamplerPub

from hqctf_qiskit.backends import BackendSession, BackendSpec
from hqctf_qiskit.backends import fake
from hqctf_qiskit.circuits import AnsatzSpec, build_ansatz
from hqctf_qiskit.engines.cost import GRADIENTS, StepCost, rows_per_channel, step_cost
from hqctf_qiskit.errors import BackendError


class RecordingSampler(BaseSamplerV2):
    """Records the parameter sets (rows) of every PUB and delegates to the real sampler it wraps."""

    def __init__(self, sampler: BaseSamplerV2) -> None:
        self.sampler = sampler
        self.rows: list[int] = []

    def run(self, pubs, *, shots=None):
        pubs = [SamplerPub.coerce(pub, shots) for pub in pubs]
        self.rows.append(sum(pub.parameter_values.size for pub in pubs))
        return self.sampler.run(pubs, shots=shots)


def recording_fake_sampler(spec, device):
    """The fake device's own sampler (its noise model on Aer), recorded."""
    backend = fake.open_sampler(spec, device)
    backend.sampler = RecordingSampler(backend.sampler)
    return backend


def test_step_cost_param_shift_and_spsa():
    assert GRADIENTS == ("param-shift", "spsa")
    assert step_cost(16, 9, "param-shift").to_dict() == {"forward": 16, "backward": 288, "total": 304}
    assert step_cost(16, 9, "param-shift", slots=5).to_dict() == {"forward": 4, "backward": 58, "total": 62}
    assert step_cost(16, 9, "spsa").to_dict() == {"forward": 16, "backward": 32, "total": 48}
    assert step_cost(16, 9, "spsa", slots=5).to_dict() == {"forward": 4, "backward": 7, "total": 11}
    assert step_cost(16, 9, "spsa", spsa_samples=3) == StepCost(16, 96)
    assert [rows_per_channel("param-shift", 9), rows_per_channel("spsa", 9, 2)] == [18, 4]
    with pytest.raises(BackendError, match="--gradient: unknown value 'adjoint'"):
        step_cost(16, 9, "adjoint")


@pytest.mark.parametrize("gradient, spsa_samples", [("param-shift", 1), ("spsa", 1), ("spsa", 2)])
@pytest.mark.parametrize("pack", [False, 2])
def test_cost_model_is_what_the_engine_submits_on_a_fake_device(gradient, spsa_samples, pack):
    """Rows the sampler receives in one training step (forward + backward) equal ``step_cost`` for the engine.

    A 5-qubit fake device keeps the noisy local simulation fast; packed, two 2-qubit channels share one circuit.
    """
    channels = 5
    spec = BackendSpec("fake_manila", shots=32, gradient=gradient, pack=pack, seed=1)
    with BackendSession(spec, open_sampler=recording_fake_sampler) as session:
        engine = session.engine(build_ansatz(AnsatzSpec(2, reps=1)), spsa_samples=spsa_samples)
        theta = torch.rand(channels, engine.num_parameters, dtype=torch.float64, requires_grad=True)
        engine.probabilities(theta).sum().backward()
        recorded = session.sampler_backend.sampler.rows
    cost = step_cost(channels, engine.num_parameters, gradient, engine.slots, spsa_samples)
    assert engine.slots == (2 if pack else 1)
    assert recorded == [cost.forward, cost.backward]
    assert engine.circuits_per_step(channels) == (cost.forward, cost.backward)
