// Convolution ops (ops/conv.h): forward, input-grad and weight-grad values against a naive
// 7-loop reference written below, TF 'same' padding, first- and second-order gradient checks
// (strided, asymmetric padding, grouped, depthwise, pointwise), conv_transpose2d as the adjoint
// of conv2d, and error messages. Run: ember_tests --gtest_filter='Conv*'.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>

#include "tests/conv_reference.h"
#include "tests/gradcheck.h"

namespace ember {
namespace {

using testing::params_of;
using testing::random_input;

struct ConvCase {
  int64_t N, H, W, C, K, R, S;
  Conv2dParams params;
};

std::vector<double> random_values(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

// The definition, one multiply-add per (n, p, q, k, r, s, c) that lands inside the input:
//   y[n,p,q,k]  += x[n,h,w,grp*Cg+c] * w[k,r,s,c]        (forward)
//   dx[n,h,w,.] += dy[n,p,q,k] * w[k,r,s,c]               (input grad)
//   dw[k,r,s,c] += dy[n,p,q,k] * x[n,h,w,grp*Cg+c]        (weight grad)
// with h = p*stride_h - pad_top + r, w = q*stride_w - pad_left + s, grp = k / (K / groups).
struct NaiveConv {
  ConvCase c;
  int64_t P, Q;
  explicit NaiveConv(const ConvCase& cc)
      : c(cc),
        P(testing::conv_out_size(cc.H, cc.params.pad_top, cc.params.pad_bottom, cc.R,
                                 cc.params.stride_h)),
        Q(testing::conv_out_size(cc.W, cc.params.pad_left, cc.params.pad_right, cc.S,
                                 cc.params.stride_w)) {}

  template <typename Fn>
  void visit(Fn&& fn) const {
    testing::for_each_conv_tap(c.N, c.H, c.W, c.C, c.K, c.R, c.S, c.params, fn);
  }
  Shape x_shape() const { return {c.N, c.H, c.W, c.C}; }
  Shape w_shape() const { return {c.K, c.R, c.S, c.C / c.params.groups}; }
  Shape y_shape() const { return {c.N, P, Q, c.K}; }

  std::vector<double> forward(const std::vector<double>& x, const std::vector<double>& w,
                              const std::vector<double>& bias) const {
    std::vector<double> y(numel_of(y_shape()), 0.0);
    for (size_t i = 0; i < y.size(); ++i) y[i] = bias.empty() ? 0.0 : bias[i % c.K];
    visit([&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += x[xi] * w[wi]; });
    return y;
  }
  std::vector<double> input_grad(const std::vector<double>& dy, const std::vector<double>& w) const {
    std::vector<double> dx(numel_of(x_shape()), 0.0);
    visit([&](int64_t xi, int64_t wi, int64_t yi) { dx[xi] += dy[yi] * w[wi]; });
    return dx;
  }
  std::vector<double> weight_grad(const std::vector<double>& x, const std::vector<double>& dy) const {
    std::vector<double> dw(numel_of(w_shape()), 0.0);
    visit([&](int64_t xi, int64_t wi, int64_t yi) { dw[wi] += dy[yi] * x[xi]; });
    return dw;
  }
};

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::abs(got[i] - want[i]) > worst) worst = std::abs(got[i] - want[i]), at = i;
  EXPECT_LE(worst, tol) << what << ": element " << at << " got " << got[at] << " want " << want[at];
}

// Runs forward, input grad and weight grad of one case through the ops in `dtype` and compares
// each with the naive loops.
void check_against_naive(const ConvCase& cc, bool with_bias, DType dtype, uint64_t seed) {
  const NaiveConv ref(cc);
  const auto xv = random_values(numel_of(ref.x_shape()), seed);
  const auto wv = random_values(numel_of(ref.w_shape()), seed + 1);
  const auto bv = with_bias ? random_values(cc.K, seed + 2) : std::vector<double>{};
  const auto gv = random_values(numel_of(ref.y_shape()), seed + 3);
  const TensorOptions opt{.dtype = dtype};
  const Tensor x = from_vector(xv, ref.x_shape(), opt), w = from_vector(wv, ref.w_shape(), opt);
  const Tensor b = with_bias ? from_vector(bv, {cc.K}, opt) : Tensor();
  const Tensor g = from_vector(gv, ref.y_shape(), opt);
  const double tol = dtype == DType::Float64 ? 1e-12 : 2e-5 * (cc.R * cc.S * cc.C + 1);
  const std::string what = "case N" + std::to_string(cc.N) + " H" + std::to_string(cc.H) + " W" +
                           std::to_string(cc.W) + " C" + std::to_string(cc.C) + " K" +
                           std::to_string(cc.K) + " R" + std::to_string(cc.R) + " S" +
                           std::to_string(cc.S) + " groups " + std::to_string(cc.params.groups) +
                           " " + dtype_name(dtype);

  const Tensor y = conv2d(x, w, b, cc.params);
  ASSERT_EQ(y.shape(), ref.y_shape()) << what;
  expect_near_all(y.to_vector<double>(), ref.forward(xv, wv, bv), tol, what + " forward");
  const Tensor dx = conv2d_input_grad(g, w, ref.x_shape(), cc.params);
  expect_near_all(dx.to_vector<double>(), ref.input_grad(gv, wv), tol, what + " input grad");
  const Tensor dw = conv2d_weight_grad(x, g, ref.w_shape(), cc.params);
  const double wtol = tol * static_cast<double>(cc.N * ref.P * ref.Q) / (cc.R * cc.S * cc.C + 1);
  expect_near_all(dw.to_vector<double>(), ref.weight_grad(xv, gv), std::max(tol, wtol),
                  what + " weight grad");
}

TEST(Conv, ForwardAndAdjointsMatchNaiveLoops) {
  const std::vector<std::pair<ConvCase, bool>> cases = {
      // 3x3 stride 1, symmetric padding, bias, non-square input
      {{2, 5, 6, 3, 4, 3, 3, symmetric_padding(1, 1, 1, 1)}, true},
      // stride 2, asymmetric padding
      {{2, 7, 6, 3, 5, 3, 3, params_of(2, 2, 0, 1, 1, 0)}, false},
      // different strides and filter sizes per axis
      {{1, 6, 7, 2, 3, 2, 3, params_of(1, 2, 1, 0, 0, 2)}, true},
      // TF 'same', odd and even H with stride 2
      {{2, 7, 7, 3, 4, 3, 3, same_padding(7, 7, 3, 3, 2, 2)}, true},
      {{2, 8, 8, 3, 4, 3, 3, same_padding(8, 8, 3, 3, 2, 2)}, false},
      // groups = 2
      {{2, 5, 5, 4, 6, 3, 3, symmetric_padding(1, 1, 1, 1, 2)}, true},
      {{1, 6, 6, 6, 3, 2, 2, params_of(2, 1, 0, 1, 1, 1, 3)}, false},
      // depthwise (C == K == groups), stride 1 and TF 'same' stride 2
      {{2, 5, 5, 4, 4, 3, 3, symmetric_padding(1, 1, 1, 1, 4)}, true},
      {{2, 8, 7, 5, 5, 3, 3, same_padding(8, 7, 3, 3, 2, 2, 5)}, false},
      // depthwise with a channel multiplier of 2 (K = 2 C), and a single input channel
      {{2, 5, 4, 3, 6, 3, 3, symmetric_padding(1, 0, 1, 1, 3)}, true},
      {{1, 5, 5, 1, 3, 3, 3, symmetric_padding(0, 0, 1, 1)}, false},
      // 1x1: pointwise (ungrouped and grouped), and strided
      {{2, 4, 5, 6, 4, 1, 1, {}}, true},
      {{2, 4, 5, 6, 4, 1, 1, symmetric_padding(0, 0, 1, 1, 2)}, false},
      {{2, 5, 5, 6, 4, 1, 1, symmetric_padding(0, 0, 2, 2)}, true},
      // 1x1 stride 1 with bottom/right padding only: the output is larger than the input
      {{2, 4, 3, 3, 2, 1, 1, params_of(1, 1, 0, 1, 0, 2)}, true},
  };
  uint64_t seed = 10;
  for (const auto& [cc, with_bias] : cases) {
    check_against_naive(cc, with_bias, DType::Float64, seed);
    check_against_naive(cc, with_bias, DType::Float32, seed);
    seed += 10;
  }
}

TEST(Conv, LargeBatchIsChunkedCorrectly) {
  // The im2col buffer is capped at 2^24 elements: one image here needs 48*48*9*288 = 6.0M, so
  // the batch of 3 runs as a chunk of 2 images and a chunk of 1 (the weight grad accumulates
  // across chunks).
  check_against_naive({3, 48, 48, 288, 1, 3, 3, symmetric_padding(1, 1, 1, 1)}, true,
                      DType::Float32, 7);
}

TEST(Conv, EmptyBatch) {
  // N = 0: empty outputs, and a weight gradient that is zero (nothing to sum over).
  for (const int64_t groups : {1, 4}) {
    const Conv2dParams p = symmetric_padding(1, 1, 1, 1, groups);
    const Tensor x = zeros({0, 5, 5, 4}, {.dtype = DType::Float64});
    const Tensor w = ones({4, 3, 3, 4 / groups}, {.dtype = DType::Float64});
    EXPECT_EQ(conv2d(x, w, Tensor(), p).shape(), (Shape{0, 5, 5, 4}));
    const Tensor g = zeros({0, 5, 5, 4}, {.dtype = DType::Float64});
    EXPECT_EQ(conv2d_input_grad(g, w, {0, 5, 5, 4}, p).shape(), (Shape{0, 5, 5, 4}));
    const auto dw = conv2d_weight_grad(x, g, w.shape(), p).to_vector<double>();
    EXPECT_EQ(dw, std::vector<double>(dw.size(), 0.0)) << "groups " << groups;
  }
}

TEST(Conv, SamePaddingFollowsTensorFlow) {
  struct Expect { int64_t H, R, stride, top, bottom; };
  for (const Expect& e : std::vector<Expect>{{7, 3, 2, 1, 1},   // P 4, total 2
                                             {8, 3, 2, 0, 1},   // P 4, total 1: extra at bottom
                                             {8, 3, 1, 1, 1},   // P 8, total 2
                                             {8, 4, 1, 1, 2},   // even filter
                                             {8, 1, 2, 0, 0},   // max(-1, 0)
                                             {5, 5, 3, 1, 2},   // P 2, total 3: extra at bottom
                                             {6, 4, 2, 1, 1}}) {  // Keras k4 s2: pads 1/1
    const Conv2dParams p = same_padding(e.H, 2 * e.H, e.R, 1, e.stride, 1);
    EXPECT_EQ(p.pad_top, e.top) << "H " << e.H << " R " << e.R << " stride " << e.stride;
    EXPECT_EQ(p.pad_bottom, e.bottom) << "H " << e.H << " R " << e.R << " stride " << e.stride;
    EXPECT_EQ(p.pad_left, 0);
    EXPECT_EQ(p.pad_right, 0);
    // The output is ceil(H / stride) in each direction.
    const Tensor y = conv2d(zeros({1, e.H, 2 * e.H, 1}), zeros({1, e.R, 1, 1}), Tensor(), p);
    EXPECT_EQ(y.shape(), (Shape{1, (e.H + e.stride - 1) / e.stride, 2 * e.H, 1}));
  }
  EXPECT_EQ(same_padding(8, 8, 3, 3, 2, 2, 4).groups, 4);
}

TEST(Conv, NonContiguousInputsAndExpandedGradient) {
  // x is an NCHW tensor permuted to NHWC (a strided view); backward of sum() hands conv2d an
  // expanded (stride 0) gradient. Both must be read correctly.
  const ConvCase cc{2, 4, 5, 3, 2, 3, 3, params_of(2, 1, 1, 0, 1, 1)};
  const NaiveConv ref(cc);
  const auto nchw = random_values(cc.N * cc.C * cc.H * cc.W, 3);
  Tensor x_nchw = from_vector(nchw, {cc.N, cc.C, cc.H, cc.W}, {.dtype = DType::Float64});
  x_nchw.set_requires_grad(true);
  const Tensor x = permute(x_nchw, {0, 2, 3, 1});
  ASSERT_FALSE(x.is_contiguous());
  const auto wv = random_values(numel_of(ref.w_shape()), 4);
  Tensor w = from_vector(wv, ref.w_shape(), {.dtype = DType::Float64});
  w.set_requires_grad(true);
  const auto xv = x.contiguous().to_vector<double>();
  expect_near_all(conv2d(x, w, Tensor(), cc.params).to_vector<double>(), ref.forward(xv, wv, {}),
                  1e-12, "permuted x forward");
  conv2d(x, w, Tensor(), cc.params).sum().backward();
  const std::vector<double> ones(numel_of(ref.y_shape()), 1.0);
  const Tensor dx_nhwc = permute(x_nchw.grad(), {0, 2, 3, 1}).contiguous();
  expect_near_all(dx_nhwc.to_vector<double>(), ref.input_grad(ones, wv), 1e-12, "dx");
  expect_near_all(w.grad().to_vector<double>(), ref.weight_grad(xv, ones), 1e-12, "dw");
}

// ---- first-order gradient checks (float64, tiny shapes) ----

Tensor conv_of(const TensorList& t, const Conv2dParams& p) {
  return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), p);
}

TEST(Conv, GradcheckStridedPaddedGroupedDepthwise) {
  struct G { Shape x, w; Conv2dParams p; };
  const std::vector<G> cases = {
      {{2, 4, 5, 3}, {2, 3, 3, 3}, symmetric_padding(1, 1, 1, 1)},
      {{1, 5, 6, 2}, {3, 3, 2, 2}, params_of(2, 2, 1, 0, 0, 1)},          // strided, asymmetric
      {{1, 5, 4, 4}, {4, 2, 2, 2}, params_of(1, 2, 0, 1, 1, 0, 2)},       // groups 2
      {{2, 5, 5, 3}, {3, 3, 3, 1}, same_padding(5, 5, 3, 3, 2, 2, 3)},    // depthwise, 'same' s2
      {{1, 4, 4, 2}, {4, 3, 3, 1}, symmetric_padding(1, 1, 1, 1, 2)},     // depthwise, multiplier 2
      {{2, 3, 3, 4}, {6, 1, 1, 2}, symmetric_padding(0, 0, 1, 1, 2)},     // pointwise, grouped
  };
  uint64_t seed = 100;
  for (const G& c : cases) {
    const Tensor x = random_input(c.x, seed++), w = random_input(c.w, seed++);
    const Tensor b = random_input({c.w[0]}, seed++);
    const Conv2dParams p = c.p;
    EXPECT_GRADCHECK([p](const TensorList& t) { return conv_of(t, p); }, {x, w, b})
        << "x " << shape_str(c.x) << " w " << shape_str(c.w);
  }
}

TEST(Conv, GradcheckWithOnlyTheWeightRequiringGrad) {
  // x is a plain constant: backward must still find x (saved because w needs its gradient).
  Tensor x = from_vector(random_values(2 * 4 * 4 * 2, 5), {2, 4, 4, 2}, {.dtype = DType::Float64});
  const Tensor w = random_input({3, 3, 3, 2}, 6);
  const Conv2dParams p = params_of(2, 1, 1, 1, 0, 1);
  EXPECT_GRADCHECK([p](const TensorList& t) { return conv_of(t, p); }, {x, w});
  EXPECT_GRADCHECK([p](const TensorList& t) { return conv_of(t, p); }, {random_input({2, 4, 4, 2}, 7),
                                                                        w.detach()});
}

TEST(Conv, GradcheckConvTranspose) {
  // Keras Conv2DTranspose(padding='same'), kernel 4, stride 2: pads 1/1, output 2H.
  const Tensor x = random_input({1, 3, 3, 2}, 20), w = random_input({2, 4, 4, 3}, 21);
  const Tensor b = random_input({3}, 22);
  const Conv2dParams keras_same = symmetric_padding(1, 1, 2, 2);
  EXPECT_EQ(conv_transpose2d(x, w, b, keras_same).shape(), (Shape{1, 6, 6, 3}));
  EXPECT_GRADCHECK([keras_same](const TensorList& t) {
    return conv_transpose2d(t[0], t[1], t[2], keras_same);
  }, {x, w, b});
  // Kernel 3, stride 2, pads 1/1 with output_padding 1 (also 2H), asymmetric stride and groups.
  const Tensor x2 = random_input({2, 3, 2, 4}, 23), w2 = random_input({4, 3, 2, 1}, 24);
  const Conv2dParams p2 = params_of(2, 1, 1, 1, 0, 1, 2);
  EXPECT_EQ(conv_transpose2d(x2, w2, Tensor(), p2, 1, 0).shape(), (Shape{2, 6, 2, 2}));
  EXPECT_GRADCHECK([p2](const TensorList& t) {
    return conv_transpose2d(t[0], t[1], Tensor(), p2, 1, 0);
  }, {x2, w2});
}

TEST(Conv, GradcheckInputGradAndWeightGradAsOps) {
  const Conv2dParams p = params_of(2, 1, 1, 0, 1, 1);
  const Shape xs{2, 5, 4, 2}, ws{3, 3, 3, 2};
  const Shape ys{2, 2, 4, 3};  // P = (5 + 1 - 3) / 2 + 1, Q = (4 + 2 - 3) + 1
  EXPECT_GRADCHECK([&](const TensorList& t) { return conv2d_input_grad(t[0], t[1], xs, p); },
                   {random_input(ys, 30), random_input(ws, 31)});
  EXPECT_GRADCHECK([&](const TensorList& t) { return conv2d_weight_grad(t[0], t[1], ws, p); },
                   {random_input(xs, 32), random_input(ys, 33)});
  const Conv2dParams dw = symmetric_padding(1, 1, 1, 1, 2);  // depthwise path
  EXPECT_GRADCHECK([&](const TensorList& t) {
    return conv2d_weight_grad(t[0], t[1], {2, 3, 3, 1}, dw);
  }, {random_input({1, 3, 4, 2}, 34), random_input({1, 3, 4, 2}, 35)});
}

// ---- second order ----

TEST(Conv, GradgradcheckConv2d) {
  const Tensor x = random_input({1, 4, 4, 2}, 40), w = random_input({2, 3, 3, 2}, 41);
  const Tensor b = random_input({2}, 42);
  const Conv2dParams same = symmetric_padding(1, 1, 1, 1);
  EXPECT_GRADGRADCHECK([same](const TensorList& t) { return conv_of(t, same); }, {x, w, b});
  // strided, asymmetric padding, grouped
  const Tensor x2 = random_input({1, 5, 4, 4}, 43), w2 = random_input({2, 3, 2, 2}, 44);
  const Conv2dParams p2 = params_of(2, 2, 0, 1, 1, 0, 2);
  EXPECT_GRADGRADCHECK([p2](const TensorList& t) { return conv_of(t, p2); }, {x2, w2});
  // depthwise
  const Tensor x3 = random_input({1, 4, 4, 2}, 45), w3 = random_input({2, 3, 3, 1}, 46);
  const Conv2dParams p3 = same_padding(4, 4, 3, 3, 2, 2, 2);
  EXPECT_GRADGRADCHECK([p3](const TensorList& t) { return conv_of(t, p3); }, {x3, w3});
}

TEST(Conv, GradgradcheckConvTransposeAndAdjointOps) {
  const Tensor x = random_input({1, 2, 2, 2}, 50), w = random_input({2, 4, 4, 2}, 51);
  const Tensor b = random_input({2}, 52);
  const Conv2dParams keras_same = symmetric_padding(1, 1, 2, 2);
  EXPECT_GRADGRADCHECK([keras_same](const TensorList& t) {
    return conv_transpose2d(t[0], t[1], t[2], keras_same);
  }, {x, w, b});
  const Conv2dParams p = params_of(2, 1, 1, 0, 0, 1);
  const Shape xs{1, 4, 3, 2}, ws{2, 3, 2, 2}, ys{1, 2, 3, 2};
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return conv2d_input_grad(t[0], t[1], xs, p); },
                       {random_input(ys, 53), random_input(ws, 54)});
  EXPECT_GRADGRADCHECK([&](const TensorList& t) { return conv2d_weight_grad(t[0], t[1], ws, p); },
                       {random_input(xs, 55), random_input(ys, 56)});
}

// ---- conv_transpose2d is the adjoint of conv2d ----

TEST(Conv, TransposeIsTheAdjointOfConv2d) {
  struct A { Shape x, w; Conv2dParams p; };
  for (const A& a : std::vector<A>{{{2, 7, 6, 4}, {6, 3, 3, 2}, params_of(2, 2, 0, 1, 1, 0, 2)},
                                   {{1, 8, 8, 3}, {5, 4, 4, 3}, symmetric_padding(1, 1, 2, 2)},
                                   {{2, 6, 5, 3}, {3, 3, 3, 1}, same_padding(6, 5, 3, 3, 2, 2, 3)}}) {
    const NaiveConv ref({a.x[0], a.x[1], a.x[2], a.x[3], a.w[0], a.w[1], a.w[2], a.p});
    NoGradGuard no_grad;
    const Tensor x = random_input(a.x, 60).detach(), w = random_input(a.w, 61).detach();
    const Tensor y = random_input(ref.y_shape(), 62).detach();
    // output_padding recovers the H rows that the forward's floor division dropped.
    const int64_t oph = (a.x[1] + a.p.pad_top + a.p.pad_bottom - a.w[1]) % a.p.stride_h;
    const int64_t opw = (a.x[2] + a.p.pad_left + a.p.pad_right - a.w[2]) % a.p.stride_w;
    const Tensor xt = conv_transpose2d(y, w, Tensor(), a.p, oph, opw);
    ASSERT_EQ(xt.shape(), a.x);
    const double lhs = sum(mul(conv2d(x, w, Tensor(), a.p), y)).item<double>();
    const double rhs = sum(mul(x, xt)).item<double>();
    EXPECT_NEAR(lhs, rhs, 1e-10 * (1 + std::abs(lhs))) << shape_str(a.x) << " " << shape_str(a.w);
  }
}

// ---- errors ----

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  const std::string message = error_of(fn);
  for (const std::string& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "missing '" << part << "' in: " << message;
}

TEST(Conv, ErrorsNameTheProblem) {
  const Tensor x = zeros({1, 5, 5, 4}), w = zeros({6, 3, 3, 4});
  expect_error([&] { conv2d(zeros({5, 5, 4}), w); }, {"conv2d", "4-D NHWC", "[5, 5, 4]"});
  expect_error([&] { conv2d(x, zeros({6, 3, 4})); }, {"conv2d", "KRSC", "[6, 3, 4]"});
  expect_error([&] { conv2d(x, zeros({6, 3, 3, 1}), Tensor(), symmetric_padding(0, 0, 1, 1, 3)); },
               {"conv2d", "C = 4", "not divisible by groups = 3"});
  expect_error([&] { conv2d(x, zeros({3, 3, 3, 2}), Tensor(), symmetric_padding(0, 0, 1, 1, 2)); },
               {"conv2d", "K = 3", "not divisible by groups = 2"});
  expect_error([&] { conv2d(x, zeros({6, 3, 3, 3})); },
               {"conv2d", "[6, 3, 3, 3]", "[1, 5, 5, 4]", "C / groups = 4"});
  expect_error([&] { conv2d(x, zeros({6, 7, 3, 4})); }, {"conv2d", "output size", "<= 0"});
  expect_error([&] { conv2d(x, w, zeros({4})); }, {"conv2d", "bias", "[6]", "float32[4]"});
  expect_error([&] { conv2d(x, zeros({6, 3, 3, 4}, {.dtype = DType::Float64})); },
               {"conv2d", "different dtypes", "float32[1, 5, 5, 4]", "float64[6, 3, 3, 4]"});
  expect_error([&] { conv2d(x, w, zeros({6}, {.dtype = DType::Float64})); },
               {"conv2d", "different dtypes"});
  expect_error([&] { conv2d(x, w, Tensor(), params_of(0, 1, 0, 0, 0, 0)); },
               {"conv2d", "strides must be >= 1"});
  expect_error([&] { conv2d(x, w, Tensor(), params_of(1, 1, 0, -1, 0, 0)); },
               {"conv2d", "padding must be >= 0"});
  expect_error([&] { conv2d(zeros({1, 5, 5, 4}, {.dtype = DType::Int32}),
                            zeros({6, 3, 3, 4}, {.dtype = DType::Int32})); },
               {"conv2d", "float32 or float64"});
  expect_error([&] { conv2d_input_grad(zeros({1, 2, 2, 6}), w, {1, 5, 5, 4}, {}); },
               {"conv2d_input_grad", "[1, 3, 3, 6]", "float32[1, 2, 2, 6]"});
  expect_error([&] { conv2d_weight_grad(x, zeros({1, 3, 3, 5}), {6, 3, 3, 4}, {}); },
               {"conv2d_weight_grad", "[1, 3, 3, 6]"});
  expect_error([&] { conv_transpose2d(zeros({1, 3, 3, 2}), zeros({2, 4, 4, 3}), Tensor(),
                                      symmetric_padding(1, 1, 2, 2), 2, 0); },
               {"conv_transpose2d", "output_padding", "smaller than the stride"});
  expect_error([&] { conv_transpose2d(zeros({1, 3, 3, 2}), zeros({3, 4, 4, 3})); },
               {"conv_transpose2d", "2 channels", "[3, 4, 4, 3]"});
  expect_error([&] { conv_transpose2d(zeros({1, 3, 3, 2}), zeros({2, 4, 4, 3}), zeros({2})); },
               {"conv_transpose2d", "bias", "[3]"});
  expect_error([] { same_padding(0, 4, 3, 3, 1, 1); }, {"same_padding"});
}

TEST(Conv, DeviceMismatchIsAnError) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU visible: a CUDA tensor cannot be made";
  const Tensor x = zeros({1, 5, 5, 4}), w = zeros({6, 3, 3, 4}, {.device = Device::cuda()});
  expect_error([&] { conv2d(x, w); }, {"conv2d", "cpu", "cuda"});
}

}  // namespace
}  // namespace ember
