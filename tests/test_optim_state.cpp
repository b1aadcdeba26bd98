// Optimizer state save/load (optim/optimizer.h): for SGD (momentum, Nesterov), Adam and AdamW,
// a run interrupted after k steps, saved, and resumed in fresh parameters and a fresh optimizer
// gives bit-identical parameters to the uninterrupted run (continue against resume), including
// a parameter whose state does not exist yet when the state is saved; plus the load errors
// (wrong count, names, shapes, incomplete state) and that nothing changes when a load fails.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <vector>

#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/sgd.h"
#include "tests/expect_error.h"

namespace ember {
namespace {

using namespace optim;
using Factory = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>;

std::vector<Tensor> make_params(DType dtype) {
  return {from_vector<double>({1.0, -2.0, 0.5}, {3}, {.dtype = dtype, .requires_grad = true}),
          from_vector<double>({0.3, 0.7, -0.1, 2.0}, {2, 2}, {.dtype = dtype, .requires_grad = true})};
}

// A gradient that depends on the parameter and the step, as a real loss would; parameter 1
// gets no gradient before step 4, so its state is created only after the save at step 3.
void set_grads(std::vector<Tensor>& params, int step) {
  for (size_t i = 0; i < params.size(); ++i) {
    if (i == 1 && step < 4) {
      params[i].mutable_grad() = Tensor();
      continue;
    }
    params[i].mutable_grad() =
        add_scalar(mul_scalar(params[i].detach(), 0.3), 0.1 * step - 0.2 * static_cast<double>(i));
  }
}

// Steps from..to, the learning rate halved after every second step (so it must be restored).
void run_steps(Optimizer& opt, std::vector<Tensor>& params, int from, int to) {
  for (int step = from; step <= to; ++step) {
    set_grads(params, step);
    opt.step();
    if (step % 2 == 0) opt.set_lr(opt.lr() * 0.5);
  }
}

void expect_resume_matches(const Factory& make, DType dtype) {
  std::vector<Tensor> a = make_params(dtype);
  std::unique_ptr<Optimizer> opt_a = make(a);
  run_steps(*opt_a, a, 1, 6);

  std::vector<Tensor> b = make_params(dtype);
  std::unique_ptr<Optimizer> opt_b = make(b);
  run_steps(*opt_b, b, 1, 3);
  const OptimizerState saved = opt_b->state();
  // The saved tensors are copies: continuing b must not change them.
  std::vector<std::vector<double>> saved_values;
  for (const auto& [name, t] : saved.tensors) saved_values.push_back(t.to_vector<double>());
  run_steps(*opt_b, b, 4, 6);
  for (size_t i = 0; i < saved.tensors.size(); ++i)
    EXPECT_EQ(saved.tensors[i].second.to_vector<double>(), saved_values[i]);

  // Resume: fresh parameters holding the step-3 values, a fresh optimizer, the saved state.
  std::vector<Tensor> c = make_params(dtype);
  std::vector<Tensor> b3 = make_params(dtype);
  std::unique_ptr<Optimizer> opt_b3 = make(b3);
  run_steps(*opt_b3, b3, 1, 3);
  for (size_t i = 0; i < c.size(); ++i) copy_(c[i], b3[i].detach());
  std::unique_ptr<Optimizer> opt_c = make(c);
  opt_c->load_state(saved);
  EXPECT_EQ(opt_c->step_count(), 3);
  EXPECT_EQ(opt_c->lr(), opt_b3->lr());
  run_steps(*opt_c, c, 4, 6);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(c[i].to_vector<double>(), a[i].to_vector<double>()) << opt_a->name() << " param " << i;
    EXPECT_EQ(b[i].to_vector<double>(), a[i].to_vector<double>()) << opt_a->name() << " param " << i;
  }
  EXPECT_EQ(opt_c->step_count(), 6);
}

TEST(OptimizerState, SgdMomentumResumesExactly) {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    expect_resume_matches(
        [](std::vector<Tensor> p) {
          return std::make_unique<SGD>(std::move(p), SGDOptions{.lr = 0.1, .momentum = 0.9,
                                                                .weight_decay = 0.01});
        },
        dtype);
    expect_resume_matches(
        [](std::vector<Tensor> p) {
          return std::make_unique<SGD>(std::move(p),
                                       SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
        },
        dtype);
  }
}

TEST(OptimizerState, AdamAndAdamWResumeExactly) {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    expect_resume_matches(
        [](std::vector<Tensor> p) {
          return std::make_unique<Adam>(std::move(p), AdamOptions{.lr = 0.1, .weight_decay = 0.1});
        },
        dtype);
    expect_resume_matches(
        [](std::vector<Tensor> p) {
          return std::make_unique<AdamW>(std::move(p), AdamOptions{.lr = 0.1, .weight_decay = 0.1});
        },
        dtype);
  }
}

TEST(OptimizerState, NamesAndContents) {
  std::vector<Tensor> p = make_params(DType::Float64);
  Adam adam(p, {.lr = 0.1});
  set_grads(p, 1);
  adam.step();
  const OptimizerState st = adam.state();
  ASSERT_EQ(st.tensors.size(), 2u);  // parameter 1 has no state yet
  EXPECT_EQ(st.tensors[0].first, "0.exp_avg");
  EXPECT_EQ(st.tensors[1].first, "0.exp_avg_sq");
  EXPECT_EQ(st.scalar("num_params", "test"), 2.0);
  EXPECT_EQ(st.scalar("lr", "test"), 0.1);
  EXPECT_EQ(st.scalar("step_count", "test"), 1.0);
  EXPECT_EQ(st.scalar("0.step", "test"), 1.0);
  EXPECT_FALSE(st.has_scalar("1.step"));

  SGD plain(make_params(DType::Float64), {.lr = 0.1});
  EXPECT_TRUE(plain.state().tensors.empty());  // no momentum: no buffers
}

TEST(OptimizerState, LoadErrorsNameTheMismatch) {
  std::vector<Tensor> p = make_params(DType::Float64);
  Adam adam(p, {.lr = 0.1});
  set_grads(p, 5);
  adam.step();
  const OptimizerState good = adam.state();

  // Wrong count.
  Adam one({make_params(DType::Float64)[0]});
  EXPECT_ERROR_MENTIONS(one.load_state(good), "the loaded state is for 2 parameters, this optimizer has 1");

  Adam fresh(make_params(DType::Float64), {.lr = 0.5});
  // Wrong shape.
  OptimizerState bad = good;
  bad.tensors[0].second = zeros({2}, {.dtype = DType::Float64});
  EXPECT_ERROR_MENTIONS(fresh.load_state(bad), "'0.exp_avg' is float64[2] on cpu but parameter 0 is");
  // Unknown names.
  bad = good;
  bad.tensors[0].first = "0.momentum";
  EXPECT_ERROR_MENTIONS(fresh.load_state(bad), "unexpected state entry '0.momentum'");
  bad = good;
  bad.tensors[0].first = "7.exp_avg";
  EXPECT_ERROR_MENTIONS(fresh.load_state(bad), "names parameter 7 but this optimizer has 2");
  bad = good;
  bad.tensors[0].first = "exp_avg";
  EXPECT_ERROR_MENTIONS(fresh.load_state(bad), "<index>.<field>");
  bad = good;
  bad.scalars.emplace_back("momentum", 0.9);
  EXPECT_ERROR_MENTIONS(fresh.load_state(bad), "unexpected state scalar 'momentum'");
  // Incomplete or duplicated state.
  bad = good;
  bad.tensors.pop_back();
  EXPECT_ERROR_MENTIONS(fresh.load_state(bad), "state of parameter 1 is incomplete");
  bad = good;
  bad.tensors.push_back(bad.tensors.front());
  EXPECT_ERROR_MENTIONS(fresh.load_state(bad), "tensor '0.exp_avg' twice");
  bad = good;
  bad.scalars.erase(bad.scalars.begin() + 1);  // lr
  EXPECT_ERROR_MENTIONS(fresh.load_state(bad), "no scalar 'lr'");
  // A failed load changed nothing.
  EXPECT_EQ(fresh.lr(), 0.5);
  EXPECT_EQ(fresh.step_count(), 0);
  EXPECT_FALSE(fresh.exp_avg(0).defined());

  // SGD: buffers into an optimizer without momentum, a wrong field.
  std::vector<Tensor> q = make_params(DType::Float64);
  SGD sgd(q, {.lr = 0.1, .momentum = 0.9});
  set_grads(q, 5);
  sgd.step();
  const OptimizerState sgd_state = sgd.state();
  ASSERT_EQ(sgd_state.tensors.size(), 2u);
  EXPECT_EQ(sgd_state.tensors[1].first, "1.momentum_buffer");
  EXPECT_ERROR_MENTIONS(SGD(make_params(DType::Float64)).load_state(sgd_state), "momentum 0");
  EXPECT_ERROR_MENTIONS(SGD(make_params(DType::Float64), {.momentum = 0.9}).load_state(good),
                        "SGD: unexpected state entry '0.exp_avg'");
}

TEST(OptimizerState, LoadedStateIsCopiedIntoTheParameterDtype) {
  std::vector<Tensor> p = make_params(DType::Float64);
  SGD sgd(p, {.lr = 0.1, .momentum = 0.9});
  set_grads(p, 5);
  sgd.step();
  OptimizerState st = sgd.state();
  SGD f32(make_params(DType::Float32), {.lr = 0.1, .momentum = 0.9});
  f32.load_state(st);
  EXPECT_EQ(f32.momentum_buffer(0).dtype(), DType::Float32);
  fill_(st.tensors[0].second, 42.0);  // the optimizer does not alias the loaded tensors
  EXPECT_NE(f32.momentum_buffer(0).to_vector<float>()[0], 42.0f);
}

}  // namespace
}  // namespace ember
