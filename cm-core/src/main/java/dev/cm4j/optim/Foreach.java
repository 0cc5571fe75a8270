package dev.cm4j.optim;

import dev.cm4j.tensor.Op;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TorchException;
import java.util.List;

/**
 * ATen's multi-tensor ({@code _foreach_*}) and fused optimizer kernels, called by name through {@link Op}. The
 * {@code ScalarList} overloads are not used (cm4j's generic call pushes a {@code float[]}, which the schema check
 * rejects for {@code Scalar[]}); callers partition tensors so that one scalar serves the whole list.
 */
final class Foreach {
  private Foreach() {}

  /** The operator, or null when this libtorch does not register it. */
  static Op find(String name, String overload) {
    try {
      return Op.of(name, overload);
    } catch (TorchException e) {
      return null;
    }
  }

  private static final Op ADD_LIST_ = Op.of("aten::_foreach_add_", "List");
  private static final Op ADD_LIST = Op.of("aten::_foreach_add", "List");
  private static final Op ADD_SCALAR_ = Op.of("aten::_foreach_add_", "Scalar");
  private static final Op MUL_SCALAR_ = Op.of("aten::_foreach_mul_", "Scalar");
  private static final Op MUL_TENSOR_ = Op.of("aten::_foreach_mul_", "Tensor");
  private static final Op DIV_SCALAR_ = Op.of("aten::_foreach_div_", "Scalar");
  private static final Op LERP_SCALAR_ = Op.of("aten::_foreach_lerp_", "Scalar");
  private static final Op LERP_SCALAR = Op.of("aten::_foreach_lerp", "Scalar");
  private static final Op ADDCMUL_ = Op.of("aten::_foreach_addcmul_", "Scalar");
  private static final Op ADDCDIV_ = Op.of("aten::_foreach_addcdiv_", "Scalar");
  private static final Op SQRT = Op.of("aten::_foreach_sqrt", "");
  private static final Op RECIPROCAL_ = Op.of("aten::_foreach_reciprocal_", "");
  private static final Op MAXIMUM_ = Op.of("aten::_foreach_maximum_", "List");
  private static final Op COPY_ = Op.of("aten::_foreach_copy_", "");
  private static final Op NORM = Op.of("aten::_foreach_norm", "Scalar");

  @SuppressWarnings("unchecked")
  private static List<Tensor> list(List<Object> r) {
    return (List<Tensor>) r.get(0);
  }

  /** xs[i] += alpha·ys[i]. */
  static void add_(List<Tensor> xs, List<Tensor> ys, double alpha) {
    if (!xs.isEmpty()) ADD_LIST_.call(xs, ys, alpha);
  }

  /** xs[i] + alpha·ys[i]. */
  static List<Tensor> add(List<Tensor> xs, List<Tensor> ys, double alpha) {
    return list(ADD_LIST.call(xs, ys, alpha));
  }

  /** xs[i] += s. */
  static void add_(List<Tensor> xs, double s) {
    if (!xs.isEmpty()) ADD_SCALAR_.call(xs, s);
  }

  /** xs[i] *= s. */
  static void mul_(List<Tensor> xs, double s) {
    if (!xs.isEmpty()) MUL_SCALAR_.call(xs, s);
  }

  /** xs[i] *= t (a 0-D tensor). */
  static void mul_(List<Tensor> xs, Tensor t) {
    if (!xs.isEmpty()) MUL_TENSOR_.call(xs, t);
  }

  /** xs[i] /= s. */
  static void div_(List<Tensor> xs, double s) {
    if (!xs.isEmpty()) DIV_SCALAR_.call(xs, s);
  }

  /** xs[i] += w·(ys[i] − xs[i]). */
  static void lerp_(List<Tensor> xs, List<Tensor> ys, double w) {
    if (!xs.isEmpty()) LERP_SCALAR_.call(xs, ys, w);
  }

  /** xs[i] + w·(ys[i] − xs[i]) as new tensors. */
  static List<Tensor> lerp(List<Tensor> xs, List<Tensor> ys, double w) {
    return list(LERP_SCALAR.call(xs, ys, w));
  }

  /** xs[i] += value·as[i]·bs[i]. */
  static void addcmul_(List<Tensor> xs, List<Tensor> as, List<Tensor> bs, double value) {
    if (!xs.isEmpty()) ADDCMUL_.call(xs, as, bs, value);
  }

  /** xs[i] += value·as[i]/bs[i]. */
  static void addcdiv_(List<Tensor> xs, List<Tensor> as, List<Tensor> bs, double value) {
    if (!xs.isEmpty()) ADDCDIV_.call(xs, as, bs, value);
  }

  /** √xs[i] as new tensors. */
  static List<Tensor> sqrt(List<Tensor> xs) {
    return list(SQRT.call(xs));
  }

  /** xs[i] = 1/xs[i]. */
  static void reciprocal_(List<Tensor> xs) {
    if (!xs.isEmpty()) RECIPROCAL_.call(xs);
  }

  /** xs[i] = max(xs[i], ys[i]). */
  static void maximum_(List<Tensor> xs, List<Tensor> ys) {
    if (!xs.isEmpty()) MAXIMUM_.call(xs, ys);
  }

  /** xs[i] ← ys[i]. */
  static void copy_(List<Tensor> xs, List<Tensor> ys) {
    if (!xs.isEmpty()) COPY_.call(xs, ys, false);
  }

  /** ‖xs[i]‖_p as 0-D tensors. */
  static List<Tensor> norm(List<Tensor> xs, double p) {
    return list(NORM.call(xs, p));
  }
}
