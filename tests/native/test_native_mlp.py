"""The qt mapping's fused MLP kernel against the mapping's torch form (the reference), and its fallbacks."""

import pytest
import torch

from hqctf_qiskit.native import build as native_build
from hqctf_qiskit.native import mlp as mlp_native
from hqctf_qiskit.qpg.mappings import ChunkedMapping, QuantumTrainMapping

requires_kernel = pytest.mark.skipif(native_build.compiler() is None, reason="no C++ compiler on this machine")


def mapping_and_probs(channels: int, fan_in: int, dtype: torch.dtype, seed: int = 0):
    torch.manual_seed(seed)
    num_qubits = QuantumTrainMapping.num_qubits_for(fan_in)
    mapping = QuantumTrainMapping(channels, fan_in, num_qubits).to(dtype)
    probs = torch.softmax(3 * torch.randn(channels, 2**num_qubits, dtype=dtype), dim=1)
    mapping.calibrate(probs, 0.05)
    with torch.no_grad():  # move the MLP away from its init so every weight matters
        for parameter in mapping.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return mapping, probs


def weights_and_grads(mapping, probs, use_native: bool):
    mapping.use_native = use_native
    mapping.zero_grad()
    p = probs.clone().requires_grad_(True)
    weights = mapping(p)
    upstream = torch.randn(weights.shape, generator=torch.Generator().manual_seed(1), dtype=weights.dtype)
    (weights * upstream).sum().backward()
    return [weights.detach(), p.grad] + [q.grad.clone() for q in mapping.parameters()]


@requires_kernel
@pytest.mark.parametrize("channels,fan_in", [(1, 9), (3, 27), (16, 144), (32, 1152), (5, 300)])
def test_kernel_equals_the_torch_form_in_float64(channels, fan_in):
    mapping, probs = mapping_and_probs(channels, fan_in, torch.float64)
    assert mlp_native.kernel_applies(probs)
    native = weights_and_grads(mapping, probs, True)
    reference = weights_and_grads(mapping, probs, False)
    names = ["weights", "probs.grad"] + [name for name, _ in mapping.named_parameters()]
    for name, a, b in zip(names, native, reference):
        # rounding-level agreement, measured against the tensor's scale (cancellation leaves tiny entries noisy)
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12 * b.abs().max().item() + 1e-15, msg=name)


@requires_kernel
def test_kernel_equals_the_torch_form_in_float32():
    mapping, probs = mapping_and_probs(64, 576, torch.float32)
    for a, b in zip(weights_and_grads(mapping, probs, True), weights_and_grads(mapping, probs, False)):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5 * b.abs().max().item())


@requires_kernel
def test_kernel_gradcheck():
    torch.manual_seed(3)
    x = torch.randn(3, 130, dtype=torch.float64, requires_grad=True)  # 130: a full block and a partial one
    bt = torch.randn(5, 130, dtype=torch.float64, requires_grad=True)
    u = torch.randn(5, dtype=torch.float64, requires_grad=True)
    v = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mlp_native.gelu_mlp, (x, bt, u, v))


@requires_kernel
def test_results_do_not_depend_on_the_thread_count():
    mapping, probs = mapping_and_probs(8, 1000, torch.float32)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = weights_and_grads(mapping, probs, True)
        torch.set_num_threads(2)
        double = weights_and_grads(mapping, probs, True)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(single, double):
        assert torch.equal(a, b)


@requires_kernel
def test_loading_the_fast_math_kernel_keeps_denormals_in_the_process():
    # Linking with -ffast-math would set flush-to-zero for the whole process when the library loads.
    assert mlp_native.load_kernel() is not None
    tiny = torch.tensor([1e-300], dtype=torch.float64) * torch.tensor([1e-10], dtype=torch.float64)
    assert tiny.item() > 0.0
    assert (torch.tensor([1e-38], dtype=torch.float32) / 100).item() > 0.0


def test_hqctf_native_0_keeps_the_torch_form(monkeypatch):
    mapping, probs = mapping_and_probs(4, 36, torch.float64)
    first = mapping(probs)  # a first use: with the kernel where it builds
    monkeypatch.setenv("HQCTF_NATIVE", "0")

    def kernel_called(*args):
        raise AssertionError("the kernel ran although HQCTF_NATIVE=0")

    monkeypatch.setattr(mlp_native.GeluMLP, "apply", kernel_called)
    assert not mlp_native.kernel_applies(probs)
    weights = mapping(probs)  # the torch form
    assert weights.shape == (4, 36) and torch.isfinite(weights).all()
    torch.testing.assert_close(weights, first, atol=1e-12, rtol=1e-10)


def test_chunked_mapping_keeps_the_torch_form():
    # chunked has one output per weight of a chunk: the single-output kernel does not apply, and it must not be used
    mapping = ChunkedMapping(4, 288, ChunkedMapping.num_qubits_for(288), chunk=32).double()
    probs = torch.softmax(torch.randn(4, 2**mapping.num_qubits, dtype=torch.float64), dim=1)
    mapping.calibrate(probs, 0.05)
    mapping.use_native = False
    reference = mapping(probs)
    mapping.use_native = True
    assert torch.equal(mapping(probs), reference)
