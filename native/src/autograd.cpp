// Reverse-mode autograd entry points.
#include "common.h"
#include <torch/csrc/autograd/autograd.h>

using cm::T;

extern "C" {

int cm_backward(const cm_tensor* outputs, size_t n, const cm_tensor* grads, int retain_graph, int create_graph) {
  CM_TRY
  auto outs = cm::tensors(outputs, n, "outputs");
  std::vector<at::Tensor> gs;
  if (grads) {
    for (size_t i = 0; i < n; i++) gs.push_back(grads[i] ? grads[i]->t : at::Tensor());
  }
  c10::optional<bool> retain = retain_graph ? c10::optional<bool>(true) : c10::nullopt;
  torch::autograd::backward(outs, gs, retain, create_graph != 0);
  CM_CATCH
}

int cm_autograd_grad(const cm_tensor* outputs, size_t n_out, const cm_tensor* grad_outputs, const cm_tensor* inputs,
                     size_t n_in, int retain_graph, int create_graph, int allow_unused, cm_tensor* results) {
  CM_TRY
  auto outs = cm::tensors(outputs, n_out, "outputs");
  auto ins = cm::tensors(inputs, n_in, "inputs");
  if (n_in == 0) throw cm::ArgError("grad needs at least one input to differentiate with respect to");
  if (n_in > 0 && !results) throw cm::ArgError("results array is NULL");
  std::vector<at::Tensor> gs;
  if (grad_outputs) {
    for (size_t i = 0; i < n_out; i++) gs.push_back(grad_outputs[i] ? grad_outputs[i]->t : at::Tensor());
  }
  c10::optional<bool> retain = retain_graph ? c10::optional<bool>(true) : c10::nullopt;
  auto r = torch::autograd::grad(outs, ins, gs, retain, create_graph != 0, allow_unused != 0);
  for (size_t i = 0; i < n_in; i++) results[i] = r[i].defined() ? new cm_tensor_s{r[i]} : nullptr;
  CM_CATCH
}

}  // extern "C"
