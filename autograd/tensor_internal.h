// tensor_internal.h — refcount primitives for the autograd engine (not for model code).
#pragma once
#include "autograd/tensor.h"

void pt_tensor_meta_retain(pt_tensor *t);   // a node routes gradients through t
void pt_tensor_meta_release(pt_tensor *t);
void pt_tensor_unref(pt_tensor *t);          // drop a data reference that is not a scope entry
