// Emulated kernels/cuda/{reduce,activation,elementwise,loss}.cu against the CPU references
// (kernels/cpu/*.cpp): sums / amax / argmax over every plan (warp row, block row split, column,
// short rows, full reductions), softmax / log_softmax (warp, block, strided kernels), binary /
// unary (every op of kernels/elementwise.h's lists) / where / add_inplace on contiguous (vector
// and misaligned), broadcast and strided operands, fused cross-entropy forward and backward.
// Tolerances: a relative 1e-6 (1e-12 for sums, which both sides accumulate in double) plus an
// absolute 1e-7.
#include "check.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "ops/ops.h"

using namespace ember;
using namespace emu_check;

namespace {
void cmp7(const Tensor& got, const Tensor& want, double rtol, const std::string& what) {
  cmp(got, want, rtol, 1e-7, what);
}

// Every elementwise op, from the op lists of kernels/elementwise.h (a new op is checked here
// without an edit).
template <typename Op> struct OpName { Op op; const char* name; };
#define EMU_OP_NAME(name, out) {kernels::BinaryOp::name, #name},
const OpName<kernels::BinaryOp> kBinaryOps[] = {EMBER_BINARY_OPS(EMU_OP_NAME)};
#undef EMU_OP_NAME
#define EMU_OP_NAME(name, out) {kernels::UnaryOp::name, #name},
const OpName<kernels::UnaryOp> kUnaryOps[] = {EMBER_UNARY_OPS(EMU_OP_NAME)};
#undef EMU_OP_NAME

// Sum and amax over axis sets that take every plan, contiguous and transposed.
void reduce_plan_cases() {
  using namespace kernels;
  struct C { Shape s; std::vector<int64_t> axes; const char* what; };
  std::vector<C> cases = {
      {{1}, {0}, "single"}, {{3, 5, 7}, {0, 1, 2}, "full warp"}, {{4099}, {0}, "full split"},
      {{50, 4099}, {1}, "block row split"}, {{300, 37}, {1}, "warp row"}, {{1000, 3}, {1}, "short rows"}, {{1000, 8}, {1}, "rows of 8"}, {{1000, 9}, {1}, "rows of 9"}, {{5000, 37}, {0}, "column split"},
      {{3, 1000}, {0}, "column"}, {{6, 13, 11, 35}, {0, 1, 2}, "column nhw"}, {{6, 13, 11, 35}, {1, 2}, "column hw"},
      {{6, 13, 11, 35}, {3}, "row c"}, {{6, 13, 11, 35}, {0, 3}, "row nc"}, {{7, 1, 9}, {1}, "size1"},
      {{3, 40000}, {1}, "block row split 3"}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (auto& c : cases) {
      for (bool transposed : {false, true}) {
        Tensor x = rnd(c.s, 1, dt);
        if (transposed && c.s.size() >= 2) x = x.permute([&] { std::vector<int64_t> p; for (int64_t d = c.s.size() - 1; d >= 0; --d) p.push_back(d); return p; }());
        Shape keep = x.shape();
        for (auto a : c.axes) { int64_t ax = transposed && c.s.size() >= 2 ? (int64_t)c.s.size() - 1 - a : a; keep[ax] = 1; }
        Tensor o1 = empty(keep, {dt}), o2 = empty(keep, {dt});
        cpu::sum(o1, x); cuda::sum(o2, x);
        std::string w = std::string("sum ") + c.what + (transposed ? " T" : "") + " " + dtype_name(dt);
        cmp7(o2, o1, 1e-12, w.c_str());
        cpu::amax(o1, x); cuda::amax(o2, x);
        w = "amax" + w.substr(3); cmp7(o2, o1, 0, w.c_str());
      }
    }
  }
}

// argmax along every axis with ties and NaN, on a step-2 slice and a transposed input.
void argmax_cases() {
  using namespace kernels;
  for (DType dt : {DType::Float32, DType::Float64}) {
    std::vector<double> v; for (int i = 0; i < 6 * 7 * 2050; ++i) v.push_back((i * 7919) % 13);
    v[5] = NAN; v[2050 * 3] = NAN; v[2050 * 5 + 7] = NAN;
    Tensor x = from_vector(v, {6, 7, 2050}, {.dtype = dt});
    for (int64_t axis : {0, 1, 2}) {
      Shape s = x.shape(); s.erase(s.begin() + axis);
      Tensor a = empty(s, {DType::Int64}), b = empty(s, {DType::Int64});
      cpu::argmax(a, x, axis); cuda::argmax(b, x, axis);
      cmp7(b, a, 0, ("argmax axis " + std::to_string(axis)).c_str());
    }
    Tensor r = rnd({100, 10}, 3, dt);
    Tensor sl = r.slice(1, 0, 10, 2);
    Tensor a = empty({100}, {DType::Int64}), b = empty({100}, {DType::Int64});
    cpu::argmax(a, sl, 1); cuda::argmax(b, sl, 1); cmp7(b, a, 0, "argmax step 2");
    Tensor rt = r.permute({1, 0});
    Tensor a2 = empty({10}, {DType::Int64}), b2 = empty({10}, {DType::Int64});
    cpu::argmax(a2, rt, 1); cuda::argmax(b2, rt, 1); cmp7(b2, a2, 0, "argmax transposed");
    Tensor a3 = empty({100}, {DType::Int64}), b3 = empty({100}, {DType::Int64});
    cpu::argmax(a3, rt, 0); cuda::argmax(b3, rt, 0); cmp7(b3, a3, 0, "argmax transposed axis0");
  }
}

// softmax and log_softmax: warp, block and strided kernels.
void activation_cases() {
  using namespace kernels;
  struct S { Shape s; int64_t axis; };
  for (DType dt : {DType::Float32, DType::Float64})
    for (S c : {S{{5, 10}, 1}, S{{3, 1024}, 1}, S{{3, 1025}, 1}, S{{2, 5000}, 1}, S{{7, 33}, 0}, S{{4, 9, 6}, 1}, S{{3, 1}, 1}}) {
      for (bool tr : {false, true}) {
        Tensor x = rnd(c.s, 5, dt, -3, 3);
        int64_t axis = c.axis;
        if (tr) { std::vector<int64_t> p; for (int64_t d = c.s.size() - 1; d >= 0; --d) p.push_back(d); x = x.permute(p); axis = c.s.size() - 1 - axis; }
        Tensor o1 = empty(x.shape(), {dt}), o2 = empty(x.shape(), {dt});
        cpu::softmax(o1, x, axis); cuda::softmax(o2, x, axis);
        cmp7(o2, o1, 1e-6, ("softmax " + shape_str(c.s) + (tr ? " T" : "")).c_str());
        cpu::log_softmax(o1, x, axis); cuda::log_softmax(o2, x, axis);
        cmp7(o2, o1, 1e-6, ("log_softmax " + shape_str(c.s) + (tr ? " T" : "")).c_str());
      }
    }
}

// Every binary and unary op on contiguous (vector and misaligned), broadcast and strided
// operands; masks, where, add_inplace and mul_ on strided views.
void elementwise_cases() {
  using namespace kernels;
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor a = rnd({1027}, 7, dt), b = rnd({1027}, 8, dt, 0.5, 2);
    for (const OpName<BinaryOp>& op : kBinaryOps) {
      const DType od = writes_mask(op.op) ? DType::UInt8 : dt;
      Tensor o1 = empty({1027}, {od}), o2 = empty({1027}, {od});
      cpu::binary(op.op, o1, a, b, 0.3); cuda::binary(op.op, o2, a, b, 0.3);
      cmp7(o2, o1, 1e-6, std::string("binary contiguous ") + op.name);
      Tensor s1 = a.slice(0, 1, 1027), s2 = b.slice(0, 0, 1026);
      Tensor p1 = empty({1026}, {od}), p2 = empty({1026}, {od});
      cpu::binary(op.op, p1, s1, s2, 0.3); cuda::binary(op.op, p2, s1, s2, 0.3);
      cmp7(p2, p1, 1e-6, std::string("binary misaligned ") + op.name);
    }
    Tensor x = rnd({4, 1, 5}, 9, dt), y = rnd({3, 5}, 10, dt, 0.5, 2);
    Tensor o1 = empty({4, 3, 5}, {dt}), o2 = empty({4, 3, 5}, {dt});
    cpu::binary(BinaryOp::Div, o1, x, y, 0); cuda::binary(BinaryOp::Div, o2, x, y, 0); cmp7(o2, o1, 1e-6, "binary broadcast");
    Tensor e1 = empty({4, 3, 5}, {DType::UInt8}), e2 = empty({4, 3, 5}, {DType::UInt8});
    Tensor yy = rnd({1027}, 7, dt);
    Tensor q1 = empty({1027}, {DType::UInt8}), q2 = empty({1027}, {DType::UInt8});
    cpu::binary(BinaryOp::Equal, q1, a, yy, 0); cuda::binary(BinaryOp::Equal, q2, a, yy, 0); cmp7(q2, q1, 0, "equal contiguous");
    Tensor big = rnd({33, 65}, 11, dt, -2, 2);
    Tensor bt = big.permute({1, 0});
    for (const OpName<UnaryOp>& op : kUnaryOps) {
      const DType od = writes_mask(op.op) ? DType::UInt8 : dt;
      Tensor u1 = empty({65, 33}, {od}), u2 = empty({65, 33}, {od});
      cpu::unary(op.op, u1, bt, -0.5, 1.0); cuda::unary(op.op, u2, bt, -0.5, 1.0);
      cmp7(u2, u1, 1e-6, std::string("unary strided ") + op.name);
      Tensor v1 = empty({33, 65}, {od}), v2 = empty({33, 65}, {od});
      cpu::unary(op.op, v1, big, -0.5, 1.0); cuda::unary(op.op, v2, big, -0.5, 1.0);
      cmp7(v2, v1, 1e-6, std::string("unary contiguous ") + op.name);
    }
    Tensor g1 = empty({33, 65}, {DType::UInt8}), g2 = empty({33, 65}, {DType::UInt8});
    cpu::unary(UnaryOp::GreaterScalar, g1, big, 0.1, 0); cuda::unary(UnaryOp::GreaterScalar, g2, big, 0.1, 0); cmp7(g2, g1, 0, "greater");
    // where
    Tensor w1 = empty({4, 3, 5}, {dt}), w2 = empty({4, 3, 5}, {dt});
    Tensor cond = rnd({3, 1}, 12, DType::Float32);
    cpu::where(w1, cond, x, y); cuda::where(w2, cond, x, y); cmp7(w2, w1, 0, "where");
    // add_inplace on transposed self
    Tensor base1 = rnd({40, 70}, 13, dt), base2 = base1.clone(), other = rnd({40}, 14, dt);
    cpu::add_inplace(base1.permute({1, 0}), other, 0.5); cuda::add_inplace(base2.permute({1, 0}), other, 0.5);
    cmp7(base2, base1, 1e-6, "add_inplace strided");
    Tensor c1 = rnd({1027}, 15, dt), c2 = c1.clone();
    cpu::add_inplace(c1, a, -2); cuda::add_inplace(c2, a, -2); cmp7(c2, c1, 1e-6, "add_inplace contiguous");
    Tensor m1 = rnd({40, 70}, 16, dt), m2 = m1.clone();
    cpu::unary(UnaryOp::MulScalar, m1.slice(1, 1, 70, 3), m1.slice(1, 1, 70, 3), -3, 0);
    cuda::unary(UnaryOp::MulScalar, m2.slice(1, 1, 70, 3), m2.slice(1, 1, 70, 3), -3, 0);
    cmp7(m2, m1, 1e-6, "mul_ strided out");
  }
}

// Fused cross-entropy forward and backward, short and long rows.
void loss_cases() {
  using namespace kernels;
  for (DType dt : {DType::Float32, DType::Float64})
    for (int64_t C : {10, 2000}) {
      const int64_t N = 37;
      Tensor x = rnd({N, C}, 20, dt, -4, 4);
      std::vector<int64_t> t(N); for (int64_t i = 0; i < N; ++i) t[i] = (i * 7 + 3) % C;
      Tensor target = from_vector(t, {N}, {.dtype = DType::Int64});
      Tensor w = rnd({C}, 21, dt, 0.2, 2);
      Tensor l1 = empty({N}, {dt}), l2 = empty({N}, {dt}), t1 = empty({N}, {dt}), t2 = empty({N}, {dt});
      Tensor s1 = empty({N}, {DType::Float64}), s2 = empty({N}, {DType::Float64});
      cpu::cross_entropy_forward(l1, t1, s1, x, target, w, 0.1);
      cuda::cross_entropy_forward(l2, t2, s2, x, target, w, 0.1);
      cmp7(l2, l1, 1e-6, "ce loss"); cmp7(t2, t1, 0, "ce wt"); cmp7(s2, s1, 1e-12, "ce lse");
      Tensor scale = full({}, 0.37, {dt}), wsum = full({}, 11.5, {dt});
      Tensor g1 = empty({N, C}, {dt}), g2 = empty({N, C}, {dt});
      cpu::cross_entropy_backward(g1, x, target, w, s1, scale, wsum, 0.1);
      cuda::cross_entropy_backward(g2, x, target, w, s1, scale, wsum, 0.1);
      cmp7(g2, g1, 1e-6, "ce grad");
    }
}

}  // namespace

void check_pointwise() {
  section("reduce.cu");
  reduce_plan_cases();
  argmax_cases();
  section("activation.cu");
  activation_cases();
  section("elementwise.cu");
  elementwise_cases();
  section("loss.cu");
  loss_cases();
}
