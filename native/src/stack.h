// The IValue stack behind cm_stack, shared by the generic operator call (generic.cpp) and TorchScript method
// calls (jit.cpp).
#pragma once
#include <ATen/core/ivalue.h>
#include <vector>

struct cm_stack_s { std::vector<c10::IValue> v; };
