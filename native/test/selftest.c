/* A plain-C smoke test of the header: proves it compiles as C and that errors come back as values. */
#include <stdio.h>
#include <string.h>
#include "cm_torch.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "FAILED %s:%d: %s (%s)\n", __FILE__, __LINE__, #c, cm_last_error()); return 1; } } while (0)

int main(void) {
  int64_t sz[2] = {2, 3};
  float data[6] = {1, 2, 3, 4, 5, 6};
  cm_tensor a = NULL, b = NULL, c = NULL;
  CHECK(cm_from_data(data, sizeof data, sz, 2, CM_DTYPE_FLOAT32, CM_DEVICE_CPU, &a) == CM_OK);
  CHECK(cm_binary(CM_BINARY_ADD, a, a, &b) == CM_OK);
  CHECK(cm_reduce(CM_REDUCE_SUM, b, NULL, 0, 0, -1, &c) == CM_OK);
  double v = 0;
  CHECK(cm_item_double(c, &v) == CM_OK && v == 42.0);
  /* Errors are values: a shape mismatch, a NULL handle and an unknown op. */
  int64_t sz2[1] = {4};
  cm_tensor d = NULL, e = NULL;
  CHECK(cm_ones(sz2, 1, CM_DTYPE_FLOAT32, CM_DEVICE_CPU, &d) == CM_OK);
  CHECK(cm_binary(CM_BINARY_ADD, a, d, &e) == CM_ERROR && strstr(cm_last_error(), "size") != NULL);
  CHECK(cm_binary(CM_BINARY_ADD, NULL, d, &e) == CM_ERROR && strstr(cm_last_error(), "NULL") != NULL);
  CHECK(cm_unary(9999, a, &e) == CM_ERROR);
  cm_tensor all[4] = {a, b, c, d};
  CHECK(cm_tensor_free_many(all, 4) == CM_OK);
  printf("selftest ok (libtorch %s)\n", cm_torch_version());
  return 0;
}
