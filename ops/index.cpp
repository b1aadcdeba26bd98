// Indexing ops: gather <-> scatter_add and embedding <-> embedding_backward. Each pair are
// adjoints of each other (both linear in their float operand), so each one's backward is the
// other and double backward comes for free. Indices are int64 and never get a gradient.
// Matches torch.gather, Tensor.scatter_add (with src of index's shape) and F.embedding.
// Tested in tests/test_index.cpp.
#include "ops/index.h"

#include "autograd/function.h"
#include "kernels/index.h"

namespace ember {

namespace {

void check_index_tensor(const Tensor& index, const Tensor& other, const char* op) {
  check_defined(index, op, "index");
  EMBER_CHECK(index.dtype() == DType::Int64, op, ": index must be int64, got ", index.describe());
  check_same_device(other, index, op);
}

// gather/scatter_add: index has the rank of the indexed tensor and fits inside it off `axis`.
void check_axis_index(const Shape& indexed, int64_t axis, const Tensor& index, const char* op,
                      const char* indexed_name) {
  EMBER_CHECK(index.dim() == static_cast<int64_t>(indexed.size()), op, ": index ",
              index.describe(), " must have the rank of ", indexed_name, " ", shape_str(indexed));
  for (size_t d = 0; d < indexed.size(); ++d)
    EMBER_CHECK(static_cast<int64_t>(d) == axis || index.shape()[d] <= indexed[d], op, ": index ",
                index.describe(), " is larger than ", indexed_name, " ", shape_str(indexed),
                " in dimension ", d, " (only axis ", axis, " may differ)");
}

}  // namespace

Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
  check_defined(x, "gather", "x");
  check_index_tensor(index, x, "gather");
  axis = normalize_axis(axis, x.dim(), "gather");
  check_axis_index(x.shape(), axis, index, "gather", "x");
  Tensor out = empty(index.shape(), {x.dtype(), x.device()});
  kernels::gather(out, x, axis, index);
  record("gather", {x}, out, [si = save(index), xs = x.shape(), axis](const BackwardContext& ctx) {
    return TensorList{scatter_add(xs, axis, si.get("gather"), ctx.grad())};
  });
  return out;
}

Tensor scatter_add(const Shape& shape, int64_t axis, const Tensor& index, const Tensor& src) {
  check_defined(src, "scatter_add", "src");
  check_index_tensor(index, src, "scatter_add");
  axis = normalize_axis(axis, static_cast<int64_t>(shape.size()), "scatter_add");
  EMBER_CHECK(src.shape() == index.shape(), "scatter_add: src ", src.describe(),
              " must have the shape of index ", index.describe());
  check_axis_index(shape, axis, index, "scatter_add", "the output");
  Tensor out = zeros(shape, {src.dtype(), src.device()});
  kernels::scatter_add(out, axis, index, src);
  record("scatter_add", {src}, out, [si = save(index), axis](const BackwardContext& ctx) {
    return TensorList{gather(ctx.grad(), axis, si.get("scatter_add"))};
  });
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& index) {
  check_defined(weight, "embedding", "weight");
  check_index_tensor(index, weight, "embedding");
  EMBER_CHECK(weight.dim() == 2, "embedding: weight must be [V, D], got ", weight.describe());
  Shape shape = index.shape();
  shape.push_back(weight.shape()[1]);
  Tensor out = empty(shape, {weight.dtype(), weight.device()});
  kernels::embedding(out, weight, index);
  record("embedding", {weight}, out,
         [si = save(index), V = weight.shape()[0]](const BackwardContext& ctx) {
           return TensorList{embedding_backward(ctx.grad(), si.get("embedding"), V)};
         });
  return out;
}

Tensor embedding_backward(const Tensor& g, const Tensor& index, int64_t num_embeddings) {
  check_defined(g, "embedding_backward", "g");
  check_index_tensor(index, g, "embedding_backward");
  EMBER_CHECK(num_embeddings > 0, "embedding_backward: num_embeddings must be positive, got ",
              num_embeddings);
  EMBER_CHECK(g.dim() == index.dim() + 1 &&
                  Shape(g.shape().begin(), g.shape().end() - 1) == index.shape(),
              "embedding_backward: g ", g.describe(), " must be [index..., D] for index ",
              index.describe());
  Tensor out = zeros({num_embeddings, g.shape().back()}, {g.dtype(), g.device()});
  kernels::embedding_backward(out, g, index);
  record("embedding_backward", {g}, out, [si = save(index)](const BackwardContext& ctx) {
    return TensorList{embedding(ctx.grad(), si.get("embedding_backward"))};
  });
  return out;
}

}  // namespace ember
