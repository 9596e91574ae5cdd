// Fused CPU kernel of the Quantum-Train mapping's MLP: out[c, s] = sum_k v_k * gelu(bt[k, s] + x[c, s] * u_k).
//
// Why: in torch this is a [C, S, H] hidden tensor (113 MB for a 256 x 6912 layer at H = 16) written and read by
// several ops forward and again backward, so the mapping cost more than the circuits it serves (~0.45 s of a 0.62 s
// training step of Unet at 64x64). Here every hidden value lives in registers: the forward pass reads x and writes
// out; the backward pass recomputes the hidden values from x and accumulates all four gradients in one sweep.
//
// gelu is the exact (erf) form, as torch.nn.GELU(). The file is compiled with -ffast-math (never linked with it, see
// hqctf_qiskit.native_build) so that glibc's vectorized erf/exp are used; elsewhere the scalar libm ones are.
//
// Layout (row-major, contiguous): x, out, grad_out, grad_x [C, S]; bt, grad_bt [H, S] (the bitstring half of the
// first layer, transposed so a block of basis states is contiguous); u, v, grad_u, grad_v [H].
// Work is split into blocks of basis states with a fixed size, and every reduction runs in block order, so the
// results do not depend on the thread count.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t kBlock = 128;  // basis states per work item: its [H, kBlock] accumulators stay in L1/L2

template <typename T>
inline T gelu_cdf(T h) {  // Phi(h), the standard normal CDF
    return T(0.5) * (T(1) + std::erf(h * T(0.70710678118654752440)));
}

template <typename T>
void forward(int64_t channels, int64_t states, int hidden, const T* x, const T* bt, const T* u, const T* v, T* out,
             int threads) {
    const int64_t blocks = (states + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t task = 0; task < channels * blocks; ++task) {
        const int64_t c = task / blocks, s0 = (task % blocks) * kBlock, len = std::min(kBlock, states - s0);
        const T* xr = x + c * states + s0;
        T acc[kBlock] = {};
        for (int k = 0; k < hidden; ++k) {
            const T uk = u[k], vk = v[k];
            const T* b = bt + k * states + s0;
#pragma omp simd
            for (int64_t j = 0; j < len; ++j) {
                const T h = b[j] + xr[j] * uk;
                acc[j] += vk * h * gelu_cdf(h);
            }
        }
        std::copy(acc, acc + len, out + c * states + s0);
    }
}

template <typename T>
void backward(int64_t channels, int64_t states, int hidden, const T* x, const T* bt, const T* u, const T* v,
              const T* grad_out, T* grad_x, T* grad_bt, T* grad_u, T* grad_v, int threads) {
    const int64_t blocks = (states + kBlock - 1) / kBlock;
    // per block: sum over its states of dL/du_k and dL/dv_k (reduced in block order afterwards)
    std::vector<T> partial(static_cast<size_t>(blocks) * 2 * hidden, T(0));
    const T inv_sqrt_2pi = T(0.39894228040143267794);
#pragma omp parallel num_threads(threads)
    {
        std::vector<T> lanes(static_cast<size_t>(2 * hidden) * kBlock);  // [2, H, kBlock]: du, dv per state
#pragma omp for schedule(static)
        for (int64_t block = 0; block < blocks; ++block) {
            const int64_t s0 = block * kBlock, len = std::min(kBlock, states - s0);
            std::fill(lanes.begin(), lanes.end(), T(0));
            for (int k = 0; k < hidden; ++k) std::fill(grad_bt + k * states + s0, grad_bt + k * states + s0 + len, T(0));
            for (int64_t c = 0; c < channels; ++c) {
                const T* xr = x + c * states + s0;
                const T* gr = grad_out + c * states + s0;
                T dx[kBlock] = {};
                for (int k = 0; k < hidden; ++k) {
                    const T uk = u[k], vk = v[k];
                    const T* b = bt + k * states + s0;
                    T* db = grad_bt + k * states + s0;
                    T* du = lanes.data() + static_cast<size_t>(k) * kBlock;
                    T* dv = lanes.data() + static_cast<size_t>(hidden + k) * kBlock;
#pragma omp simd
                    for (int64_t j = 0; j < len; ++j) {
                        const T h = b[j] + xr[j] * uk;
                        const T cdf = gelu_cdf(h);
                        const T dgelu = cdf + h * inv_sqrt_2pi * std::exp(T(-0.5) * h * h);
                        const T dh = gr[j] * vk * dgelu;  // dL/dh_k
                        dx[j] += dh * uk;
                        db[j] += dh;
                        du[j] += dh * xr[j];
                        dv[j] += gr[j] * h * cdf;
                    }
                }
                std::copy(dx, dx + len, grad_x + c * states + s0);
            }
            T* mine = partial.data() + static_cast<size_t>(block) * 2 * hidden;
            for (int row = 0; row < 2 * hidden; ++row) {
                const T* lane = lanes.data() + static_cast<size_t>(row) * kBlock;
                T sum = 0;
                for (int64_t j = 0; j < len; ++j) sum += lane[j];
                mine[row] = sum;
            }
        }
    }
    for (int k = 0; k < hidden; ++k) grad_u[k] = grad_v[k] = T(0);
    for (int64_t block = 0; block < blocks; ++block) {
        const T* mine = partial.data() + static_cast<size_t>(block) * 2 * hidden;
        for (int k = 0; k < hidden; ++k) {
            grad_u[k] += mine[k];
            grad_v[k] += mine[hidden + k];
        }
    }
}

}  // namespace

extern "C" {

void mlp_forward_f32(int64_t channels, int64_t states, int hidden, const float* x, const float* bt, const float* u,
                     const float* v, float* out, int threads) {
    forward<float>(channels, states, hidden, x, bt, u, v, out, threads);
}

void mlp_forward_f64(int64_t channels, int64_t states, int hidden, const double* x, const double* bt,
                     const double* u, const double* v, double* out, int threads) {
    forward<double>(channels, states, hidden, x, bt, u, v, out, threads);
}

void mlp_backward_f32(int64_t channels, int64_t states, int hidden, const float* x, const float* bt, const float* u,
                      const float* v, const float* grad_out, float* grad_x, float* grad_bt, float* grad_u,
                      float* grad_v, int threads) {
    backward<float>(channels, states, hidden, x, bt, u, v, grad_out, grad_x, grad_bt, grad_u, grad_v, threads);
}

void mlp_backward_f64(int64_t channels, int64_t states, int hidden, const double* x, const double* bt,
                      const double* u, const double* v, const double* grad_out, double* grad_x, double* grad_bt,
                      double* grad_u, double* grad_v, int threads) {
    backward<double>(channels, states, hidden, x, bt, u, v, grad_out, grad_x, grad_bt, grad_u, grad_v, threads);
}

int mlp_abi_version() { return 1; }

}  // extern "C"
