// Same-device copies and fills on a GPU (tensor/cuda/copy.cu): what tensor/copy.cpp's copy_ and
// fill_ run for CUDA tensors, through the hooks of tensor/cuda_hooks.h. Named apart from those
// hooks so that tools/emulate_cuda can link this file's code beside a CPU-only libember.a, whose
// hooks only throw.
#pragma once

namespace ember {
class Tensor;
namespace cuda {

// dst = src converted to dst's dtype, element by element; same shape, one device, any strides.
void copy_tensor(const Tensor& dst, const Tensor& src);
// Every element of dst = value converted to dst's dtype (as convert_scalar does).
void fill_tensor(const Tensor& dst, double value);

}  // namespace cuda
}  // namespace ember
