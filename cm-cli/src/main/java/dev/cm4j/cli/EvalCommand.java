package dev.cm4j.cli;

import dev.cm4j.data.IdxDataset;
import dev.cm4j.data.ImageDataset;
import dev.cm4j.eval.FeatureNetwork;
import dev.cm4j.eval.FmnistClassifier;
import dev.cm4j.eval.GaussianStats;
import dev.cm4j.eval.Frechet;
import dev.cm4j.eval.ImageSource;
import dev.cm4j.eval.KernelDistance;
import dev.cm4j.eval.Metrics;
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
 * {@code cm eval}: FID, KID and FD-fmnist of generated images against reference statistics or a dataset; writing
 * reference statistics; training the FD-fmnist feature network.
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
    o.addOption(Option.builder().longOpt("metric").hasArgs().argName("name").desc("fid, kid, fd-fmnist (repeatable; default fid)").get());
    o.addOption(Option.builder().longOpt("snapshot").hasArg().argName("file").desc("generate images from a network snapshot").get());
    o.addOption(Option.builder().longOpt("images").hasArg().argName("dir|file.npz").desc("evaluate existing images (PNG folder or .npz)").get());
    o.addOption(Option.builder().longOpt("n").hasArg().argName("N").desc("images to generate (50000)").get());
    o.addOption(Option.builder().longOpt("steps").hasArg().argName("K").desc("sampling steps: 1, or more with --t-mid (1)").get());
    o.addOption(Option.builder().longOpt("t-mid").hasArgs().argName("t").desc("intermediate time(s) of multistep sampling").get());
    o.addOption(Option.builder().longOpt("seed").hasArg().argName("N").desc("seed of the generated images (0)").get());
    o.addOption(Option.builder().longOpt("ref").hasArg().argName("stats.npz").desc("reference statistics (EDM .npz: mu, sigma)").get());
    o.addOption(Option.builder().longOpt("ref-data").hasArg().argName("source")
        .desc("reference images: fashion-mnist (Debian's, train split), a PNG folder or an .npz").get());
    o.addOption(Option.builder().longOpt("detector").hasArg().argName("inception.pt")
        .desc("TorchScript feature detector for fid/kid (StyleGAN2-ADA's inception-2015-12-05.pt)").get());
    o.addOption(Option.builder().longOpt("fmnist-net").hasArg().argName("file")
        .desc("FD-fmnist classifier (default: trained once into ~/.cache/cm4j)").get());
    o.addOption(Option.builder().longOpt("batch").hasArg().argName("N").desc("images per batch (250)").get());
    o.addOption(Option.builder().longOpt("kid-subsets").hasArg().argName("N").desc("KID subsets (100)").get());
    o.addOption(Option.builder().longOpt("kid-subset-size").hasArg().argName("N").desc("KID subset size (1000)").get());
    o.addOption(Option.builder().longOpt("out").hasArg().argName("file")
        .desc("with 'ref': the statistics file to write; with 'train-fmnist-net': the classifier file").get());
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
    String[] metrics = cl.hasOption("metric") ? cl.getOptionValues("metric") : new String[] {"fid"};
    for (String m : metrics) {
      if (!Arrays.asList("fid", "kid", "fd-fmnist").contains(m)) {
        throw new ParseException("unknown metric '" + m + "' (fid, kid, fd-fmnist)");
      }
    }
    if (cl.hasOption("snapshot") == cl.hasOption("images")) throw new ParseException("give one of --snapshot or --images");
    Snapshot snap = null;
    try {
      ImageSource images;
      String what;
      if (cl.hasOption("snapshot")) {
        snap = Snapshot.load(Path.of(cl.getOptionValue("snapshot")), device);
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
}
