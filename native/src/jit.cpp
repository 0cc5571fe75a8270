// TorchScript modules: load (torch::jit::load), train/eval, freeze, forward.
#include "common.h"
#include <torch/script.h>
#include <sys/stat.h>
#include "stack.h"

struct cm_jit_module_s {
  torch::jit::Module m;
  std::string path;
};

namespace {

cm_jit_module_s& M(cm_jit_module m) {
  if (!m) throw cm::ArgError("TorchScript module handle is NULL");
  return *m;
}

}  // namespace

extern "C" {

int cm_jit_load(const char* path, int device, cm_jit_module* out) {
  CM_TRY
  if (!out) throw cm::ArgError("output pointer is NULL");
  if (!path || !*path) throw cm::ArgError("TorchScript module path is NULL or empty");
  std::string p(path);
  at::Device dev = cm::device(device);
  struct stat sb {};
  if (stat(path, &sb) != 0) throw std::runtime_error("cannot load TorchScript module '" + p + "': no such file");
  if (!S_ISREG(sb.st_mode))
    throw std::runtime_error("cannot load TorchScript module '" + p + "': not a regular file");
  torch::jit::Module m;
  try {
    m = torch::jit::load(p, dev);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot load TorchScript module '" + p + "' (is it a file saved by torch.jit.save?): " +
                             e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot load TorchScript module '" + p + "' (is it a file saved by torch.jit.save?): " +
                             e.what());
  }
  *out = new cm_jit_module_s{std::move(m), p};
  CM_CATCH
}

int cm_jit_free(cm_jit_module m) {
  CM_TRY
  delete m;
  CM_CATCH
}

int cm_jit_set_training(cm_jit_module m, int training) { CM_TRY M(m).m.train(training != 0); CM_CATCH }

int cm_jit_is_training(cm_jit_module m, int* out) { CM_TRY cm::put_val<int>(out, M(m).m.is_training() ? 1 : 0); CM_CATCH }

int cm_jit_set_requires_grad(cm_jit_module m, int requires_grad) {
  CM_TRY
  for (at::Tensor p : M(m).m.parameters()) p.requires_grad_(requires_grad != 0);
  CM_CATCH
}

int cm_jit_forward(cm_jit_module m, const cm_tensor* inputs, size_t n, cm_tensor* outs, size_t cap, size_t* n_out) {
  CM_TRY
  auto& mod = M(m);
  if (!n_out) throw cm::ArgError("count pointer is NULL");
  if (cap > 0 && !outs) throw cm::ArgError("output array is NULL with non-zero capacity");
  auto in = cm::tensors(inputs, n, "forward inputs");
  std::vector<c10::IValue> args(in.begin(), in.end());
  c10::IValue r;
  try {
    r = mod.m.forward(std::move(args));
  } catch (const c10::Error& e) {
    throw std::runtime_error("forward of TorchScript module '" + mod.path + "' failed: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error("forward of TorchScript module '" + mod.path + "' failed: " + e.what());
  }
  std::vector<c10::IValue> items;
  if (r.isTensor()) {
    items.push_back(r);
  } else if (r.isTuple()) {
    for (const auto& e : r.toTupleRef().elements()) items.push_back(e);
  } else if (r.isList()) {
    for (const auto& e : r.toListRef()) items.push_back(e);
  } else {
    throw std::runtime_error("forward of TorchScript module '" + mod.path + "' returned a " + r.tagKind() +
                             ", not a tensor, tuple or list");
  }
  *n_out = items.size();
  for (size_t i = 0; i < items.size() && i < cap; i++)
    outs[i] = items[i].isTensor() && items[i].toTensor().defined() ? new cm_tensor_s{items[i].toTensor()} : nullptr;
  CM_CATCH
}

int cm_jit_call(cm_jit_module m, const char* method, cm_stack s) {
  CM_TRY
  auto& mod = M(m);
  if (!method || !*method) throw cm::ArgError("method name is NULL or empty");
  if (!s) throw cm::ArgError("stack handle is NULL");
  std::string name(method);
  auto found = mod.m.find_method(name);
  if (!found) throw cm::ArgError("TorchScript module '" + mod.path + "' has no method '" + name + "'");
  std::vector<c10::IValue> args = std::move(s->v);
  s->v.clear();
  c10::IValue r;
  try {
    // Method::operator() checks the arguments against the method's schema (types, count) and fills defaults.
    r = (*found)(std::move(args));
  } catch (const c10::Error& e) {
    throw std::runtime_error(name + " of TorchScript module '" + mod.path + "' failed: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error(name + " of TorchScript module '" + mod.path + "' failed: " + e.what());
  }
  if (r.isTuple()) {
    for (const auto& e : r.toTupleRef().elements()) s->v.push_back(e);
  } else {
    s->v.push_back(std::move(r));
  }
  CM_CATCH
}

}  // extern "C"
