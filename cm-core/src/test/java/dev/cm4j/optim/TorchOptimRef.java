package dev.cm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.optim.Optimizer.Impl;
import dev.cm4j.tensor.GradMode;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.testing.PythonRef;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * Runs the same optimisation in torch.optim (reference venv) and in cm4j: four float32 parameters with deterministic
 * initial values, and at step t the gradient g = sin(3θ + 0.1t) + 0.05θ of the current parameters, computed with the
 * same ATen ops on both sides, so that equal updates give bit-equal trajectories.
 */
final class TorchOptimRef {
  private TorchOptimRef() {}

  static final long[][] SHAPES = {{5, 7}, {7}, {3, 4, 2}, {1}};

  /** A parameter group of the parameters with the given indices (NaN: the optimizer's value). */
  record GroupSpec(int[] idx, double lr, double weightDecay) {}

  /**
   * One optimisation to compare.
   *
   * @param name case name
   * @param torchClass torch.optim class name
   * @param kwargs Python keyword arguments as a JSON object
   * @param groups parameter groups, or null for one group of all parameters
   * @param fused whether torch supports fused=True for this case
   * @param steps number of steps
   * @param factory builds the cm4j optimizer for the groups and an implementation
   */
  record Case(String name, String torchClass, String kwargs, List<GroupSpec> groups, boolean fused, int steps,
      BiFunction<List<ParamGroup>, Impl, Optimizer> factory) {}

  static float[] init(int i, long n) {
    float[] v = new float[(int) n];
    for (int k = 0; k < n; k++) v[k] = (float) (1.5 * Math.sin(0.7 * (k + 1) + 1.3 * i));
    return v;
  }

  static long numel(long[] s) {
    long n = 1;
    for (long d : s) n *= d;
    return n;
  }

  /** Fresh parameters (caller-owned, requiring grad). */
  static List<Tensor> freshParams() {
    List<Tensor> ps = new ArrayList<>();
    for (int i = 0; i < SHAPES.length; i++) {
      ps.add(Tensor.of(init(i, numel(SHAPES[i])), SHAPES[i]).requiresGrad_(true));
    }
    return ps;
  }

  static List<ParamGroup> groups(List<Tensor> ps, List<GroupSpec> specs) {
    List<ParamRef> refs = ParamRef.ofTensors(ps);
    if (specs == null) return ParamGroup.single(refs);
    List<ParamGroup> gs = new ArrayList<>();
    for (GroupSpec g : specs) {
      List<ParamRef> l = new ArrayList<>();
      for (int i : g.idx()) l.add(refs.get(i));
      gs.add(new ParamGroup(l, g.lr(), g.weightDecay()));
    }
    return gs;
  }

  /** Sets g = sin(3θ + 0.1t) + 0.05θ as every parameter's gradient. */
  static void setGrads(List<Tensor> ps, int t) {
    try (GradMode ng = GradMode.noGrad(); TensorScope s = TensorScope.open()) {
      for (Tensor p : ps) p.setGrad(p.mul(3.0).add(0.1 * t).sin().add(p.mul(0.05)));
    }
  }

  static float[] flat(List<Tensor> ps) {
    int n = 0;
    for (Tensor p : ps) n += (int) p.numel();
    float[] out = new float[n];
    int o = 0;
    for (Tensor p : ps) {
      float[] a = p.detach().toFloatArray();
      System.arraycopy(a, 0, out, o, a.length);
      o += a.length;
    }
    return out;
  }

  /** Runs a case in cm4j with the given implementation; returns the final parameters, flattened. */
  static float[] runJava(Case c, Impl impl) {
    List<Tensor> ps = freshParams();
    try (Optimizer opt = c.factory().apply(groups(ps, c.groups()), impl)) {
      for (int t = 0; t < c.steps(); t++) {
        setGrads(ps, t);
        opt.step();
      }
      return flat(ps);
    } finally {
      ps.forEach(Tensor::close);
    }
  }

  private static final String SCRIPT = """
      import json, sys, torch
      spec = json.load(open(sys.argv[1]))
      shapes, inits = spec['shapes'], spec['inits']
      def grad(p, t):
          return torch.sin(p * 3.0 + 0.1 * t) + p * 0.05
      for case in spec['cases']:
          for mode in ['single', 'foreach', 'fused']:
              kw = dict(case['kwargs'])
              if mode == 'fused':
                  if not case['fused']:
                      continue
                  kw['fused'] = True
              else:
                  kw['foreach'] = (mode == 'foreach')
              ps = [torch.tensor(v, dtype=torch.float32).reshape(s).requires_grad_(True) for v, s in zip(inits, shapes)]
              if case['groups'] is not None:
                  params = []
                  for g in case['groups']:
                      d = dict(params=[ps[i] for i in g['idx']])
                      for k in ('lr', 'weight_decay'):
                          if g[k] is not None:
                              d[k] = g[k]
                      params.append(d)
              else:
                  params = ps
              opt = getattr(torch.optim, case['opt'])(params, **kw)
              for t in range(case['steps']):
                  with torch.no_grad():
                      for p in ps:
                          p.grad = grad(p, t)
                  opt.step()
              vals = [x for p in ps for x in p.detach().reshape(-1).tolist()]
              print(case['name'], mode, ' '.join(repr(x) for x in vals))
      """;

  private static String num(double v) {
    return Double.isNaN(v) ? "null" : Double.toString(v);
  }

  /** Runs every case in torch (modes single, foreach, fused); keys are "name/mode". */
  static Map<String, float[]> runTorch(List<Case> cases) {
    StringBuilder js = new StringBuilder("{\"shapes\": [");
    for (int i = 0; i < SHAPES.length; i++) {
      js.append(i == 0 ? "" : ",").append(java.util.Arrays.toString(SHAPES[i]));
    }
    js.append("], \"inits\": [");
    for (int i = 0; i < SHAPES.length; i++) {
      float[] v = init(i, numel(SHAPES[i]));
      js.append(i == 0 ? "" : ",").append("[");
      for (int k = 0; k < v.length; k++) js.append(k == 0 ? "" : ",").append(Float.toString(v[k]));
      js.append("]");
    }
    js.append("], \"cases\": [");
    for (int ci = 0; ci < cases.size(); ci++) {
      Case c = cases.get(ci);
      js.append(ci == 0 ? "" : ",").append("{\"name\": \"").append(c.name()).append("\", \"opt\": \"")
          .append(c.torchClass()).append("\", \"kwargs\": ").append(c.kwargs()).append(", \"fused\": ")
          .append(c.fused() ? "true" : "false").append(", \"steps\": ").append(c.steps()).append(", \"groups\": ");
      if (c.groups() == null) {
        js.append("null");
      } else {
        js.append("[");
        for (int gi = 0; gi < c.groups().size(); gi++) {
          GroupSpec g = c.groups().get(gi);
          js.append(gi == 0 ? "" : ",").append("{\"idx\": ").append(java.util.Arrays.toString(g.idx()))
              .append(", \"lr\": ").append(num(g.lr())).append(", \"weight_decay\": ").append(num(g.weightDecay()))
              .append("}");
        }
        js.append("]");
      }
      js.append("}");
    }
    js.append("]}");
    try {
      Path f = Files.createTempFile("cm4j-optim", ".json");
      Files.writeString(f, js);
      String out = PythonRef.run(SCRIPT, f.toString());
      Files.deleteIfExists(f);
      Map<String, float[]> r = new HashMap<>();
      for (String line : out.split("\n")) {
        if (line.isBlank()) continue;
        String[] parts = line.trim().split(" ");
        float[] v = new float[parts.length - 2];
        for (int k = 0; k < v.length; k++) v[k] = (float) Double.parseDouble(parts[k + 2]);
        r.put(parts[0] + "/" + parts[1], v);
      }
      return r;
    } catch (IOException e) {
      throw new RuntimeException(e);
    }
  }

  /** max|a − b| / max|b| (∞-norm relative error). */
  static double relError(float[] a, float[] b) {
    assertEquals(b.length, a.length, "length");
    double num = 0;
    double den = 0;
    for (int i = 0; i < a.length; i++) {
      num = Math.max(num, Math.abs((double) a[i] - b[i]));
      den = Math.max(den, Math.abs((double) b[i]));
    }
    return num / den;
  }

  /** Number of elements that differ in any bit. */
  static int bitDiffs(float[] a, float[] b) {
    int n = 0;
    for (int i = 0; i < a.length; i++) if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) n++;
    return n;
  }

  /**
   * Compares every cm4j implementation with torch: the matching torch mode (PER_TENSOR ↔ foreach=False, FOREACH ↔
   * foreach=True, FUSED ↔ fused=True) and torch's CPU default (foreach=False), both within tol; prints the errors.
   * Returns the largest relative error against torch's default.
   */
  static double check(List<Case> cases, List<Impl> impls, double tol) {
    Map<String, float[]> ref = runTorch(cases);
    List<Tensor> init = freshParams();
    float[] start = flat(init);
    init.forEach(Tensor::close);
    double worst = 0;
    for (Case c : cases) {
      float[] single = ref.get(c.name() + "/single");
      assertNotNull(single, "torch result for " + c.name());
      assertTrue(relError(single, start) > 1e-3, c.name() + ": the parameters hardly moved");
      for (Impl impl : impls) {
        if (impl == Impl.FUSED && !c.fused()) continue;
        float[] mine = runJava(c, impl);
        String mode = switch (impl) {
          case PER_TENSOR -> "single";
          case FOREACH -> "foreach";
          case FUSED, AUTO -> c.fused() ? "fused" : "foreach";
        };
        float[] match = ref.get(c.name() + "/" + mode);
        double eMatch = relError(mine, match);
        double eDefault = relError(mine, single);
        worst = Math.max(worst, eDefault);
        System.out.printf("[optim-parity] %-24s %-10s vs torch %-7s rel %.3e (%d/%d elements differ); vs torch "
            + "default rel %.3e%n", c.name(), impl, mode, eMatch, bitDiffs(mine, match), mine.length, eDefault);
        assertTrue(eMatch <= tol, c.name() + " " + impl + " vs torch " + mode + ": " + eMatch);
        assertTrue(eDefault <= tol, c.name() + " " + impl + " vs torch default: " + eDefault);
      }
    }
    return worst;
  }
}
