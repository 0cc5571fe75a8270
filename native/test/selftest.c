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
  /* The message stays until the next failing call: a successful call leaves it unchanged. */
  const char* msg = cm_last_error();
  char saved[256];
  strncpy(saved, msg, sizeof saved - 1);
  saved[sizeof saved - 1] = 0;
  int64_t numel = 0;
  CHECK(cm_tensor_numel(a, &numel) == CM_OK && numel == 6 && cm_last_error() == msg && strcmp(msg, saved) == 0);
  cm_clear_error();
  CHECK(cm_last_error() != NULL && cm_last_error()[0] == 0);
  /* Variant codes: an unknown code is an error naming it. */
  CHECK(cm_var_std(7, a, NULL, 0, 1.0, 0, &e) == CM_ERROR && strstr(cm_last_error(), "7") != NULL);
  CHECK(cm_arg(-1, a, 0, 0, 0, &e) == CM_ERROR && strstr(cm_last_error(), "-1") != NULL);
  CHECK(cm_softmax(2, a, 0, &e) == CM_ERROR && strstr(cm_last_error(), "2") != NULL);
  /* In place with the '_' suffix: a <- a + 2 * a = 3 a (sum 63). */
  CHECK(cm_add_scaled_(a, a, 2.0) == CM_OK);
  CHECK(cm_reduce(CM_REDUCE_SUM, a, NULL, 0, 0, -1, &e) == CM_OK && cm_item_double(e, &v) == CM_OK && v == 63.0);
  CHECK(cm_tensor_free(e) == CM_OK);
  /* One device encoding. */
  int dev = 7;
  CHECK(cm_tensor_device(a, &dev) == CM_OK && dev == CM_DEVICE_CPU);
  CHECK(cm_zeros(sz2, 1, CM_DTYPE_FLOAT32, -2, &e) == CM_ERROR && strstr(cm_last_error(), "device code -2") != NULL);
  CHECK(cm_zeros(sz2, 1, CM_DTYPE_FLOAT32, CM_DEVICE_PRIVATEUSE1_BASE + 1, &e) == CM_ERROR);
  CHECK(cm_zeros(sz2, 1, CM_DTYPE_FLOAT32, CM_DEVICE_PRIVATEUSE1_BASE - 128, &e) == CM_ERROR);
  /* A PrivateUse1 code is valid, but with no backend registered (the test device is not loaded here) it fails. */
  cm_generator g = NULL;
  CHECK(cm_generator_new(CM_DEVICE_PRIVATEUSE1_BASE, 1, &g) == CM_ERROR && strstr(cm_last_error(), "PrivateUse1"));
  CHECK(cm_zeros(sz2, 1, CM_DTYPE_FLOAT32, CM_DEVICE_PRIVATEUSE1_BASE, &e) == CM_ERROR);
  /* Allocator statistics come as named fields. */
  cm_allocator_stats st;
  memset(&st, 0xff, sizeof st);
  CHECK(cm_cpu_allocator_stats(&st) == CM_OK && st.allocated_bytes >= 0);
  CHECK(st.peak_allocated_bytes >= st.allocated_bytes && st.live_blocks >= 0 && st.hits >= 0);
  CHECK(cm_cpu_allocator_stats(NULL) == CM_ERROR);
  cm_tensor all[4] = {a, b, c, d};
  CHECK(cm_tensor_free_many(all, 4) == CM_OK);
  printf("selftest ok (libtorch %s)\n", cm_torch_version());
  return 0;
}
