import math

import pytest
import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.diagnostics import effective_ranks, flatten_ranks, layer_ranks, plot_ranks
from hqctf_qiskit.lowrank import apply_lowrank
from hqctf_qiskit.qpg import apply_qpg


def orthonormal(n: int, generator: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=generator))
    return q


def test_identity_is_full_rank_with_entropy_rank_n():
    ranks = effective_ranks(torch.eye(8))
    assert ranks["rank_1pct"] == 8 and ranks["max_rank"] == 8
    assert ranks["entropy_rank"] == pytest.approx(8.0, abs=1e-9)


def test_product_of_random_rank_k_factors():
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(20, 5, generator=g) @ torch.randn(5, 30, generator=g)
    ranks = effective_ranks(weight)
    assert ranks["rank_1pct"] == 5 and ranks["max_rank"] == 20
    assert 1.0 < ranks["entropy_rank"] <= 5.0 + 1e-9


def test_geometric_spectrum_entropy_rank_by_hand():
    # σ_i = 2^-i, i = 0..7: p_i = 2^-i / T with T = Σ2^-i = 255/128 and Σ i·2^-i = 247/128, so
    # H = -Σ p_i ln p_i = ln T + ln2·Σ i·p_i = ln(255/128) + (247/255)·ln 2 and exp(H) = (255/128)·2^(247/255).
    g = torch.Generator().manual_seed(1)
    singular = torch.tensor([0.5**i for i in range(8)], dtype=torch.float64)
    u, v = orthonormal(8, g), orthonormal(12, g)[:8]
    ranks = effective_ranks((u * singular) @ v)
    assert ranks["entropy_rank"] == pytest.approx(255 / 128 * 2 ** (247 / 255), rel=1e-9)
    assert ranks["entropy_rank"] == pytest.approx(3.8986668754773928, rel=1e-9)
    assert ranks["rank_1pct"] == 7  # 2^-6 = 0.0156 > 1%, 2^-7 = 0.0078 < 1%


def test_conv_weight_is_read_as_out_channels_by_fan_in_and_edge_cases():
    conv_weight = torch.zeros(4, 2, 3, 3)
    conv_weight[:, 0, 1, 1] = 1.0  # every filter identical: rank 1 of a [4, 18] matrix
    assert effective_ranks(conv_weight) == {"rank_1pct": 1, "entropy_rank": pytest.approx(1.0), "max_rank": 4}
    assert effective_ranks(torch.zeros(3, 5)) == {"rank_1pct": 0, "entropy_rank": 0.0, "max_rank": 3}
    diverged = effective_ranks(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    assert math.isnan(diverged["entropy_rank"]) and math.isnan(diverged["rank_1pct"])


def small_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))


def test_low_rank_weight_is_capped_while_a_qpg_weight_is_full_rank():
    torch.manual_seed(0)
    model = small_model()
    apply_lowrank(model, "0", rank=2)
    apply_qpg(model, "2", AnsatzSpec(reps=2), mapping="affine")
    ranks = layer_ranks(model)
    assert set(ranks) == {"0", "2"}
    assert ranks["0"]["rank_1pct"] == 2 and ranks["0"]["entropy_rank"] <= 2.0 + 1e-4
    assert ranks["2"]["max_rank"] == 16
    assert ranks["2"]["rank_1pct"] == 16 and ranks["2"]["entropy_rank"] > 12.0
    flat = flatten_ranks(ranks)
    assert flat["rank_1pct/0"] == 2 and flat["max_rank/2"] == 16 and len(flat) == 6
    assert layer_ranks(small_model()) == {}


def test_plot_ranks_writes_a_png_atomically_from_flat_or_nested_history(tmp_path):
    nested = [{"epoch": e, "ranks": {"a": {"rank_1pct": 2, "entropy_rank": 1.5 + e / 10, "max_rank": 4}}}
              for e in range(3)]
    flat = [{"epoch": row["epoch"], "train_loss": 1.0, **flatten_ranks(row["ranks"])} for row in nested]
    for name, history in (("nested.png", nested), ("flat.png", flat)):
        path = plot_ranks(history, tmp_path / name)
        assert path == tmp_path / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.png", "nested.png"], "no temp files left behind"
    assert plot_ranks([{"epoch": 0, "train_loss": 1.0}], tmp_path / "classical.png") is None
    assert not (tmp_path / "classical.png").exists()
