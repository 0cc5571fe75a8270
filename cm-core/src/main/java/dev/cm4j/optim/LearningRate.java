package dev.cm4j.optim;

/**
 * A learning-rate schedule: the rate at progress t, counted in iterations or in training images as the record says
 * (EDM and EDM2 count images). Apply it with {@link Optimizer#setLr(double)} before each step.
 */
public sealed interface LearningRate
    permits LearningRate.Constant, LearningRate.LinearWarmup, LearningRate.InverseSqrt, LearningRate.Cosine {

  /** The learning rate at progress t. */
  double at(long t);

  /**
   * A constant rate (ECT: docs/algorithms/ect.md §3.1).
   *
   * @param lr the rate
   */
  record Constant(double lr) implements LearningRate {
    public Constant {
      if (!(lr >= 0)) throw new IllegalArgumentException("invalid learning rate: " + lr);
    }

    @Override
    public double at(long t) {
      return lr;
    }
  }

  /**
   * Linear warm-up to a constant rate, EDM's {@code lr_rampup_kimg}: lr·min(t / max(warmup, 1e-8), 1). As in EDM the
   * rate is 0 at t = 0 even when warmup is 0 (use {@link Constant} for a constant rate).
   *
   * @param lr the rate after warm-up
   * @param warmup the warm-up length (same unit as t; 0 disables it)
   */
  record LinearWarmup(double lr, double warmup) implements LearningRate {
    public LinearWarmup {
      if (!(lr >= 0)) throw new IllegalArgumentException("invalid learning rate: " + lr);
      if (!(warmup >= 0)) throw new IllegalArgumentException("invalid warm-up: " + warmup);
    }

    @Override
    public double at(long t) {
      return lr * Math.min(t / Math.max(warmup, 1e-8), 1);
    }
  }

  /**
   * EDM2's inverse-square-root decay (Karras et al. 2024, Eq. 19 and {@code learning_rate_schedule}):
   * lr = refLr / √max(t/tRef, 1), times min(t/rampup, 1) during the ramp-up; tRef ≤ 0 disables the decay and
   * rampup ≤ 0 the ramp-up.
   *
   * @param refLr α_ref, the rate before the decay starts
   * @param tRef t_ref, where the decay starts
   * @param rampup the linear ramp-up length
   */
  record InverseSqrt(double refLr, double tRef, double rampup) implements LearningRate {
    public InverseSqrt {
      if (!(refLr >= 0)) throw new IllegalArgumentException("invalid learning rate: " + refLr);
    }

    /**
     * EDM2's schedule in images: t_ref = refBatches·batchSize images, ramp-up rampupMimg·10⁶ images (EDM2's defaults
     * are refLr 100e-4, refBatches 70e3, rampupMimg 10).
     */
    public static InverseSqrt edm2(double refLr, double refBatches, long batchSize, double rampupMimg) {
      return new InverseSqrt(refLr, refBatches * batchSize, rampupMimg * 1e6);
    }

    @Override
    public double at(long t) {
      double lr = refLr;
      if (tRef > 0) lr /= Math.sqrt(Math.max(t / tRef, 1));
      if (rampup > 0) lr *= Math.min(t / rampup, 1);
      return lr;
    }
  }

  /**
   * Cosine decay (Loshchilov &amp; Hutter 2017, SGDR Eq. 5 without restarts) after an optional linear warm-up:
   * lr·t/warmup while t &lt; warmup, then minLr + ½(lr − minLr)(1 + cos(π·min((t − warmup)/(total − warmup), 1))).
   *
   * @param lr the peak rate
   * @param minLr the final rate η_min
   * @param total the schedule length, warm-up included
   * @param warmup the warm-up length (0 for none)
   */
  record Cosine(double lr, double minLr, double total, double warmup) implements LearningRate {
    public Cosine {
      if (!(lr >= 0) || !(minLr >= 0)) throw new IllegalArgumentException("invalid learning rates: " + lr + ", " + minLr);
      if (!(warmup >= 0) || !(total > warmup)) {
        throw new IllegalArgumentException("need 0 <= warmup < total, got warmup " + warmup + ", total " + total);
      }
    }

    /** Cosine decay from lr to 0 over total, without warm-up (torch's CosineAnnealingLR with η_min = 0). */
    public static Cosine of(double lr, double total) {
      return new Cosine(lr, 0, total, 0);
    }

    @Override
    public double at(long t) {
      if (t < warmup) return lr * t / warmup;
      double progress = Math.min((t - warmup) / (total - warmup), 1);
      return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
    }
  }
}
