package dev.cm4j.cli;

import dev.cm4j.data.IdxDataset;
import dev.cm4j.data.ImageDataset;
import dev.cm4j.data.InMemoryPointDataset;
import dev.cm4j.data.PointClouds;
import dev.cm4j.eval.FeatureNetwork;
import dev.cm4j.eval.FmnistClassifier;
import dev.cm4j.eval.GaussianStats;
import dev.cm4j.eval.Frechet;
import dev.cm4j.eval.ImageSource;
import dev.cm4j.eval.KernelDistance;
import dev.cm4j.eval.Metrics;
import dev.cm4j.eval.SlicedWasserstein;
import dev.cm4j.eval.TorchScriptDetector;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import dev.cm4j.tensor.TensorScope;
import dev.cm4j.train.Snapshot;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.DefaultParser;
import org.apache.commons.cli.HelpFormatter;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

/**
 * {@code cm eval}: FID, KID and FD-fmnist of generated images against reference statistics or a dataset; the sliced
 * Wasserstein distance of point samples to reference points; writing reference statistics; training the FD-fmnist
 * feature network.
 */
final class EvalCommand {
  private EvalCommand() {}

  /** Where the FD-fmnist classifier lives unless --fmnist-net says otherwise. */
  static Path defaultFmnistNet() {
    String cache = System.getenv("CM4J_CACHE");
    Path base = cache != null && !cache.isBlank() ? Path.of(cache) : Path.of(System.getProperty("user.home"), ".cache", "cm4j");
    return base.resolve("fmnist-classifier-seed0-2000.safetensors");
  }

  static Options options() {
    Options o = new Options();
    o.addOption(Option.builder().longOpt("metric").hasArgs().argName("name")
        .desc("fid, kid, fd-fmnist; swd for point samples (repeatable; default fid, or swd for a point snapshot)").get());
    o.addOption(Option.builder().longOpt("snapshot").hasArg().argName("file").desc("generate images from a network snapshot").get());
    o.addOption(Option.builder().longOpt("images").hasArg().argName("dir|file.npz")
        .desc("evaluate existing images (PNG folder or .npz), or with swd existing points (.npy/.npz/.safetensors)").get());
    o.addOption(Option.builder().longOpt("n").hasArg().argName("N").desc("images to generate (50000)").get());
    o.addOption(Option.builder().longOpt("steps").hasArg().argName("K").desc("sampling steps: 1, or more with --t-mid (1)").get());
    o.addOption(Option.builder().longOpt("t-mid").hasArgs().argName("t").desc("intermediate time(s) of multistep sampling").get());
    o.addOption(Option.builder().longOpt("seed").hasArg().argName("N").desc("seed of the generated images (0)").get());
    o.addOption(Option.builder().longOpt("ref").hasArg().argName("stats.npz").desc("reference statistics (EDM .npz: mu, sigma)").get());
    o.addOption(Option.builder().longOpt("ref-data").hasArg().argName("source")
        .desc("reference images: fashion-mnist (Debian's, train split), a PNG folder or an .npz; "
            + "with swd: reference points (.npy/.npz/.safetensors [N, D])").get());
    o.addOption(Option.builder().longOpt("detector").hasArg().argName("inception.pt")
        .desc("TorchScript feature detector for fid/kid (StyleGAN2-ADA's inception-2015-12-05.pt)").get());
    o.addOption(Option.builder().longOpt("fmnist-net").hasArg().argName("file")
        .desc("FD-fmnist classifier (default: trained once into ~/.cache/cm4j)").get());
    o.addOption(Option.builder().longOpt("batch").hasArg().argName("N").desc("images per batch (250)").get());
    o.addOption(Option.builder().longOpt("kid-subsets").hasArg().argName("N").desc("KID subsets (100)").get());
    o.addOption(Option.builder().longOpt("kid-subset-size").hasArg().argName("N").desc("KID subset size (1000)").get());
    o.addOption(Option.builder().longOpt("out").hasArg().argName("file")
        .desc("with 'ref': the statistics file to write; with 'train-fmnist-net': the classifier file").get());
    o.addOption(Option.builder().longOpt("projections").hasArg().argName("N")
        .desc("swd: random directions (200)").get());
    o.addOption(Option.builder().longOpt("train-steps").hasArg().argName("N").desc("train-fmnist-net: Adam steps (2000)").get());
    o.addOption(Main.deviceOption("run the snapshot's network, its sampling and the feature network on it"));
    o.addOption(Option.builder("v").longOpt("verbose").desc("stack traces on errors").get());
    o.addOption(Option.builder("h").longOpt("help").desc("this help").get());
    return o;
  }

  static int run(String[] args, PrintStream out) throws ParseException {
    Options spec = options();
    CommandLine cl = new DefaultParser().parse(spec, args);
    String action = cl.getArgList().isEmpty() ? "metrics" : cl.getArgList().get(0);
    if (cl.hasOption("help") || args.length == 0) {
      PrintWriter pw = new PrintWriter(out);
      new HelpFormatter().printHelp(pw, 100, "cm eval [ref | train-fmnist-net] [options]", """
          Evaluate generated images.
            cm eval --metric fid --snapshot S --ref cifar10-32x32.npz --detector inception-2015-12-05.pt
            cm eval --metric fd-fmnist --snapshot S --steps 2 --t-mid 0.821 --n 10000
            cm eval --metric kid --images samples.npz --ref-data refs/ --detector inception.pt
            cm eval --metric swd --snapshot S --steps 2 --t-mid 0.1 --ref-data held-out.npy
            cm eval ref --ref-data fashion-mnist --fmnist-net F --out fmnist-stats.npz
            cm eval train-fmnist-net --out fmnist-classifier.safetensors""", spec, 2, 2, "", false);
      pw.flush();
      return cl.hasOption("help") ? 0 : 2;
    }
    int batch = Integer.parseInt(cl.getOptionValue("batch", "250"));
    DeviceSpec spec0 = Main.device(cl);
    Device device = action.equals("train-fmnist-net") ? Device.CPU : spec0.resolveHere();
    switch (action) {
      case "train-fmnist-net":
        return trainNet(cl, out);
      case "ref":
        return writeRef(cl, out, batch, device);
      case "metrics":
        return metrics(cl, out, batch, device);
      default:
        throw new ParseException("unknown action '" + action + "' (ref, train-fmnist-net, or none)");
    }
  }

  private static int trainNet(CommandLine cl, PrintStream out) throws ParseException {
    Path file = cl.hasOption("out") ? Path.of(cl.getOptionValue("out")) : defaultFmnistNet();
    int steps = Integer.parseInt(cl.getOptionValue("train-steps", "2000"));
    trainFmnistNet(file, steps, Long.parseLong(cl.getOptionValue("seed", "0")), out);
    return 0;
  }

  static FmnistClassifier trainFmnistNet(Path file, int steps, long seed, PrintStream out) {
    ImageDataset train = fashionMnist(true);
    ImageDataset test = fashionMnist(false);
    out.printf(Locale.ROOT, "training the FD-fmnist classifier: %d steps of 64 images, seed %d%n", steps, seed);
    FmnistClassifier net = FmnistClassifier.train(train, steps, 64, seed, out);
    double acc = net.accuracy(test, test.size(), 500);
    net.save(file, Map.of("steps", Integer.toString(steps), "batch", "64", "seed", Long.toString(seed),
        "test_accuracy", String.format(Locale.ROOT, "%.4f", acc)));
    out.printf(Locale.ROOT, "test accuracy %.4f; wrote %s%n", acc, file);
    return net;
  }

  private static ImageDataset fashionMnist(boolean train) {
    return IdxDataset.debianFashionMnist(train).orElseThrow(() -> new IllegalArgumentException(
        "Fashion-MNIST not found in " + IdxDataset.DEBIAN_FASHION_MNIST + ": apt-get install dataset-fashion-mnist"));
  }

  /**
   * A feature network whose module lives on device: images arrive on any device and are moved there first (the
   * TorchScript detector does this itself; the FD-fmnist classifier does not).
   */
  static FeatureNetwork onDevice(FmnistClassifier net, Device device) {
    if (device.equals(Device.CPU)) return net;
    net.to(device, null);
    return new FeatureNetwork() {
      @Override
      public Tensor features(Tensor images) {
        return net.features(images.to(device));
      }

      @Override
      public String name() {
        return net.name();
      }

      @Override
      public void close() {
        net.close();
      }
    };
  }

  private static FeatureNetwork network(CommandLine cl, String metric, PrintStream out, Device device) {
    if (metric.equals("fd-fmnist")) {
      Path f = cl.hasOption("fmnist-net") ? Path.of(cl.getOptionValue("fmnist-net")) : defaultFmnistNet();
      if (!Files.exists(f)) {
        if (cl.hasOption("fmnist-net")) throw new IllegalArgumentException("no such classifier file: " + f);
        out.println("no FD-fmnist classifier at " + f + " yet: training it once (a few minutes)");
        return onDevice(trainFmnistNet(f, 2000, 0, out), device);
      }
      return onDevice(FmnistClassifier.load(f), device);
    }
    if (!cl.hasOption("detector")) {
      throw new IllegalArgumentException(metric + " needs --detector (the Inception-v3 TorchScript file, e.g. "
          + "StyleGAN2-ADA's inception-2015-12-05.pt)");
    }
    return TorchScriptDetector.load(Path.of(cl.getOptionValue("detector")), device);
  }

  private static ImageSource referenceImages(CommandLine cl) {
    String r = cl.getOptionValue("ref-data");
    if (r.equals("fashion-mnist")) return ImageSource.dataset(fashionMnist(true), Integer.MAX_VALUE);
    return ImageSource.path(Path.of(r));
  }

  private static int writeRef(CommandLine cl, PrintStream out, int batch, Device device) throws ParseException {
    if (!cl.hasOption("ref-data") || !cl.hasOption("out")) throw new ParseException("ref needs --ref-data and --out");
    String metric = cl.hasOption("detector") ? "fid" : "fd-fmnist";
    try (FeatureNetwork net = network(cl, metric, out, device); TensorScope s = TensorScope.open()) {
      ImageSource src = referenceImages(cl);
      GaussianStats st = Metrics.stats(net, src, batch);
      Path file = Path.of(cl.getOptionValue("out"));
      st.save(file);
      out.printf(Locale.ROOT, "wrote %s: %s features of %d images, dimension %d%n", file, net.name(), st.count(), st.dim());
    }
    return 0;
  }

  private static int metrics(CommandLine cl, PrintStream out, int batch, Device device) throws ParseException {
    String[] metrics = cl.hasOption("metric") ? cl.getOptionValues("metric") : null;
    if (metrics != null) {
      for (String m : metrics) {
        if (!Arrays.asList("fid", "kid", "fd-fmnist", "swd").contains(m)) {
          throw new ParseException("unknown metric '" + m + "' (fid, kid, fd-fmnist, swd)");
        }
      }
    }
    if (cl.hasOption("snapshot") == cl.hasOption("images")) throw new ParseException("give one of --snapshot or --images");
    boolean swd = metrics != null && Arrays.asList(metrics).contains("swd");
    if (swd && metrics.length > 1) throw new ParseException("swd (points) cannot be combined with image metrics");
    if (swd || (metrics == null && cl.hasOption("snapshot") && snapshotSamplesPoints(cl))) return swd(cl, out);
    if (metrics == null) metrics = new String[] {"fid"};
    Snapshot snap = null;
    try {
      ImageSource images;
      String what;
      if (cl.hasOption("snapshot")) {
        snap = Snapshot.load(Path.of(cl.getOptionValue("snapshot")), device);
        if (snap.samplesPoints()) {
          throw new IllegalArgumentException(cl.getOptionValue("snapshot") + " samples points: use --metric swd "
              + "--ref-data points.npy (fid, kid and fd-fmnist need images)");
        }
        double[] mids = Main.mids(cl);
        int n = Integer.parseInt(cl.getOptionValue("n", "50000"));
        images = ImageSource.snapshot(snap, n, mids, Long.parseLong(cl.getOptionValue("seed", "0")));
        what = n + " samples (" + (mids.length + 1) + "-step) of " + cl.getOptionValue("snapshot");
      } else {
        images = ImageSource.path(Path.of(cl.getOptionValue("images")));
        what = images.size() + " images of " + cl.getOptionValue("images");
      }
      for (String m : metrics) {
        long t0 = System.nanoTime();
        double v;
        try (FeatureNetwork net = network(cl, m, out, device); TensorScope s = TensorScope.open()) {
          if (m.equals("kid")) {
            if (!cl.hasOption("ref-data")) throw new ParseException("kid needs reference images: --ref-data");
            Tensor gen = Metrics.features(net, images, batch);
            Tensor real = Metrics.features(net, referenceImages(cl), batch);
            v = KernelDistance.kid(gen, real, Integer.parseInt(cl.getOptionValue("kid-subsets", "100")),
                Integer.parseInt(cl.getOptionValue("kid-subset-size", "1000")), 0);
          } else {
            GaussianStats ref;
            if (cl.hasOption("ref")) ref = GaussianStats.load(Path.of(cl.getOptionValue("ref")));
            else if (cl.hasOption("ref-data")) ref = Metrics.stats(net, referenceImages(cl), batch);
            else if (m.equals("fd-fmnist")) ref = Metrics.stats(net, ImageSource.dataset(fashionMnist(true), Integer.MAX_VALUE), batch);
            else throw new ParseException(m + " needs --ref stats.npz or --ref-data");
            v = Frechet.distance(Metrics.stats(net, images, batch), ref);
          }
        }
        out.printf(Locale.ROOT, "%-10s %.6g   (%s; %.0f s)%n", m, v, what, (System.nanoTime() - t0) / 1e9);
      }
    } finally {
      if (snap != null) snap.close();
    }
    return 0;
  }

  private static boolean snapshotSamplesPoints(CommandLine cl) {
    try (Snapshot s = Snapshot.load(Path.of(cl.getOptionValue("snapshot")))) {
      return s.samplesPoints();
    }
  }

  /**
   * Sliced Wasserstein-2 distance between point samples (of a snapshot, or a file) and reference points. Both sides
   * are cut to the same count m = min(N_gen, N_ref): the first m samples, and m reference points drawn without
   * replacement (seeded), since reference files are often ordered.
   */
  private static int swd(CommandLine cl, PrintStream out) throws ParseException {
    if (!cl.hasOption("ref-data")) throw new ParseException("swd needs reference points: --ref-data points.npy");
    long t0 = System.nanoTime();
    InMemoryPointDataset ref = PointClouds.read(Path.of(cl.getOptionValue("ref-data")));
    int dim = ref.dim();
    long seed = Long.parseLong(cl.getOptionValue("seed", "0"));
    double[] gen;
    String what;
    if (cl.hasOption("snapshot")) {
      try (Snapshot snap = Snapshot.load(Path.of(cl.getOptionValue("snapshot")))) {
        if (!snap.samplesPoints()) {
          throw new IllegalArgumentException(cl.getOptionValue("snapshot") + " samples images: swd compares points");
        }
        double[] mids = Main.mids(cl);
        int n = Integer.parseInt(cl.getOptionValue("n", Integer.toString(Math.min(ref.size(), 10_000))));
        if (n < 2) throw new ParseException("--n must be >= 2");
        int batch = Integer.parseInt(cl.getOptionValue("batch", "8192"));
        float[] f = SampleWriter.samplePoints(snap, n, mids, seed, batch);
        gen = new double[f.length];
        for (int i = 0; i < f.length; i++) gen[i] = f[i];
        checkDim((int) snap.itemShape()[0], dim, cl);
        what = n + " samples (" + (mids.length + 1) + "-step) of " + cl.getOptionValue("snapshot");
      }
    } else {
      InMemoryPointDataset g = PointClouds.read(Path.of(cl.getOptionValue("images")));
      checkDim(g.dim(), dim, cl);
      gen = points(g, null, g.size());
      what = g.size() + " points of " + cl.getOptionValue("images");
    }
    int m = Math.min(gen.length / dim, ref.size());
    double[] a = Arrays.copyOf(gen, m * dim);
    double[] b = points(ref, new java.util.Random(seed ^ 0x5eedL), m);
    int projections = Integer.parseInt(cl.getOptionValue("projections", "200"));
    if (projections < 1) throw new ParseException("--projections must be >= 1");
    double v = SlicedWasserstein.sw2(a, b, dim, projections, 7);
    out.printf(Locale.ROOT, "%-10s %.6g   (%s vs %d reference points of %s; %.0f s)%n", "swd", v, what, m,
        cl.getOptionValue("ref-data"), (System.nanoTime() - t0) / 1e9);
    return 0;
  }

  private static void checkDim(int gen, int ref, CommandLine cl) {
    if (gen != ref) {
      throw new IllegalArgumentException("the samples are " + gen + "-D but the reference points of "
          + cl.getOptionValue("ref-data") + " are " + ref + "-D");
    }
  }

  /** m points of d as a row-major array: the first m (rnd null) or m drawn without replacement. */
  private static double[] points(InMemoryPointDataset d, java.util.Random rnd, int m) {
    int n = d.size();
    int dim = d.dim();
    int[] idx = new int[n];
    for (int i = 0; i < n; i++) idx[i] = i;
    if (rnd != null) {
      for (int i = 0; i < m; i++) {
        int j = i + rnd.nextInt(n - i);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
      }
    }
    double[] out = new double[m * dim];
    float[] p = new float[dim];
    for (int i = 0; i < m; i++) {
      d.readPoint(idx[i], p, 0);
      for (int c = 0; c < dim; c++) out[i * dim + c] = p[c];
    }
    return out;
  }
}
