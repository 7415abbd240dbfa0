// The hand-written LSTM's time loop in C++: seed 000's gate equations, forward and backward.
//
// Per step one matrix product (ATen's, the same BLAS as torch.mm) and one fused pass over the
// batch that applies every gate nonlinearity and the cell update (forward) or every local
// derivative (backward), so the whole sequence costs 2T products and 2T passes instead of ~12T
// small tensor ops. Built on first use by lstm_bptt.py (with OpenMP, as ATen's parallel_for needs);
// the Python version there is the fallback.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// exp(x) to ~2 ulp with a degree-6 polynomial on [-ln2/2, ln2/2]: straight-line code that the
// compiler vectorizes. NaN stays NaN (comparisons with NaN are false, so the clamps let it through).
inline float exp_approx(float x) {
  x = x > 88.0f ? 88.0f : x;
  x = x < -87.0f ? -87.0f : x;
  const float shift = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const float n = (x * 1.44269504088896341f + shift) - shift;
  float r = x - n * 0.693359375f;  // ln 2 split in two parts for an exact reduction
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

inline float tanh_approx(float x) { return 2.0f / (1.0f + exp_approx(-2.0f * x)) - 1.0f; }

// Rows [b0, b1) of one forward step. z holds the pre-activations (B, 4H) on entry and the gates
// i, f, g, o on exit; c_prev, c (B, H); tc = tanh(c); h (row stride h_stride).
void forward_rows(float* z, const float* c_prev, float* c, float* tc, float* h, int64_t h_stride,
                  int64_t H, int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    float* __restrict zi = z + b * 4 * H;
    float* __restrict zf = zi + H;
    float* __restrict zg = zf + H;
    float* __restrict zo = zg + H;
    const float* __restrict cp = c_prev + b * H;
    float* __restrict cb = c + b * H;
    float* __restrict tb = tc + b * H;
    float* __restrict hb = h + b * h_stride;
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      const float i = sigmoid(zi[j]);
      const float f = sigmoid(zf[j]);
      const float g = tanh_approx(zg[j]);
      const float o = sigmoid(zo[j]);
      const float cj = f * cp[j] + i * g;
      const float t = tanh_approx(cj);
      zi[j] = i;
      zf[j] = f;
      zg[j] = g;
      zo[j] = o;
      cb[j] = cj;
      tb[j] = t;
      hb[j] = o * t;
    }
  }
}

// Rows [b0, b1) of one backward step: from dh (rows b0..b1 only) and the carried dc (updated in
// place to dc_{t-1}) to dz (B, 4H), the gradient of the pre-activations.
void backward_rows(const float* gates, const float* c_prev, const float* tc, const float* dh,
                   float* dc, float* dz, int64_t H, int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const float* gi = gates + b * 4 * H;
    const float* gf = gi + H;
    const float* gg = gf + H;
    const float* go = gg + H;
    const float* cp = c_prev + b * H;
    const float* tb = tc + b * H;
    const float* dhb = dh + (b - b0) * H;
    float* dcb = dc + b * H;
    float* di = dz + b * 4 * H;
    float* df = di + H;
    float* dg = df + H;
    float* dq = dg + H;
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      const float i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tb[j];
      const float d = dcb[j] + dhb[j] * o * (1.0f - t * t);
      dq[j] = dhb[j] * t * o * (1.0f - o);
      di[j] = d * g * i * (1.0f - i);
      df[j] = d * cp[j] * f * (1.0f - f);
      dg[j] = d * i * (1.0f - g * g);
      dcb[j] = d * f;
    }
  }
}

// Rows per thread: the batch is split once and each thread runs the whole sequence on its rows,
// its own (single-threaded) matrix products included, so no thread waits for another inside the
// time loop (a barrier per product and per pass costs more than the products gain from sharing).
int64_t rows_per_thread(int64_t B) {
  const int64_t n = at::get_num_threads();
  const int64_t per = (B + n - 1) / n;
  return per > 16 ? per : 16;  // below that a product is too small to be worth a thread
}

// Saturated gates make derivatives underflow to denormal floats, which are ~100x slower on CPU:
// flush them to zero while a loop runs (on whichever thread runs it), as
// torch.set_flush_denormal(True) does for the calling thread.
#if defined(__x86_64__) || defined(_M_X64)
class FlushDenormals {
 public:
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
};
#else
struct FlushDenormals {};
#endif

}  // namespace

// x (B, T, D), weight (K = H + D + 1, 4H) with rows W_h, W_x, b -> h_T (B, H) and the saved
// tensors: hx (T, B, K) rows [h_{t-1}, x_t, 1], gates (T, B, 4H), c (T + 1, B, H), tc (T, B, H).
std::vector<at::Tensor> lstm_forward(const at::Tensor& x, const at::Tensor& weight) {
  TORCH_CHECK(x.dim() == 3 && x.scalar_type() == at::kFloat, "x must be float32 (B, T, D)");
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == at::kFloat, "weight must be float32");
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2);
  const int64_t H = weight.size(1) / 4, K = H + D + 1;
  TORCH_CHECK(weight.size(0) == K && weight.size(1) == 4 * H, "weight must be (H + D + 1, 4H)");
  TORCH_CHECK(B >= 1 && T >= 1 && H >= 1, "empty batch, sequence or hidden state");
  const at::Tensor w = weight.detach().contiguous();
  at::Tensor hx = at::empty({T, B, K}, x.options());
  hx[0].narrow(1, 0, H).zero_();  // h_0 = 0; the loop writes h_t into hx[t + 1]
  hx.narrow(2, H, D).copy_(x.transpose(0, 1));
  hx.select(2, H + D).fill_(1.0);
  at::Tensor gates = at::empty({T, B, 4 * H}, x.options());
  at::Tensor c = at::zeros({T + 1, B, H}, x.options());
  at::Tensor tc = at::empty({T, B, H}, x.options());
  at::Tensor h_last = at::empty({B, H}, x.options());
  at::parallel_for(0, B, rows_per_thread(B), [&](int64_t b0, int64_t b1) {
    FlushDenormals flush;
    at::NoGradGuard no_grad;  // grad mode is per thread: the caller's does not reach this one
    const int64_t n = b1 - b0;
    for (int64_t t = 0; t < T; ++t) {
      at::Tensor z_t = gates[t].narrow(0, b0, n);
      const at::Tensor hx_t = hx[t].narrow(0, b0, n);
      if (t == 0) {  // h_0 = 0: only the rows of W_x and b take part
        at::mm_out(z_t, hx_t.narrow(1, H, D + 1), w.narrow(0, H, D + 1));
      } else {
        at::mm_out(z_t, hx_t, w);  // (n, K) @ (K, 4H)
      }
      float* h_ptr = t + 1 < T ? hx[t + 1].data_ptr<float>() : h_last.data_ptr<float>();
      const int64_t h_stride = t + 1 < T ? K : H;
      forward_rows(gates[t].data_ptr<float>(), c[t].data_ptr<float>(), c[t + 1].data_ptr<float>(),
                   tc[t].data_ptr<float>(), h_ptr, h_stride, H, b0, b1);
    }
  });
  return {h_last, hx, gates, c, tc};
}

// grad_h (B, H) and the saved tensors -> dz (T, B, 4H), the gradient of every step's
// pre-activations; the weight and input gradients are products of dz (done by the caller).
at::Tensor lstm_backward(const at::Tensor& grad_h, const at::Tensor& weight, const at::Tensor& gates,
                         const at::Tensor& c, const at::Tensor& tc) {
  const int64_t T = gates.size(0), B = gates.size(1), H = gates.size(2) / 4;
  const at::Tensor w_h_t = weight.detach().narrow(0, 0, H).t().contiguous();  // (4H, H)
  at::Tensor dz = at::empty({T, B, 4 * H}, grad_h.options());
  at::Tensor dc = at::zeros({B, H}, grad_h.options());
  const at::Tensor dh_last = grad_h.contiguous();
  at::parallel_for(0, B, rows_per_thread(B), [&](int64_t b0, int64_t b1) {
    FlushDenormals flush;
    at::NoGradGuard no_grad;  // grad mode is per thread: the caller's does not reach this one
    const int64_t n = b1 - b0;
    at::Tensor dh = dh_last.narrow(0, b0, n);
    for (int64_t t = T - 1; t >= 0; --t) {
      at::Tensor dz_t = dz[t].narrow(0, b0, n);
      backward_rows(gates[t].data_ptr<float>(), c[t].data_ptr<float>(), tc[t].data_ptr<float>(),
                    dh.data_ptr<float>(), dc.data_ptr<float>(), dz[t].data_ptr<float>(), H, b0, b1);
      if (t > 0) dh = at::mm(dz_t, w_h_t);  // (n, 4H) @ (4H, H)
    }
  });
  return dz;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &lstm_forward, "LSTM forward over a sequence");
  m.def("backward", &lstm_backward, "LSTM backward over a sequence");
}
