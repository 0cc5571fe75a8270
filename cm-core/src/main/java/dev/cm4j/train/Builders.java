package dev.cm4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cm4j.data.Cifar10Dataset;
import dev.cm4j.data.Dataset;
import dev.cm4j.data.IdxDataset;
import dev.cm4j.data.ImageFolderDataset;
import dev.cm4j.data.InMemoryPointDataset;
import dev.cm4j.data.PointClouds;
import dev.cm4j.data.SplitMix64;
import dev.cm4j.data.Toy2D;
import dev.cm4j.nn.MLPDenoiser;
import dev.cm4j.nn.Module;
import dev.cm4j.nn.SongUNet;
import dev.cm4j.optim.Adam;
import dev.cm4j.optim.AdamW;
import dev.cm4j.optim.EMA;
import dev.cm4j.optim.Optimizer;
import dev.cm4j.optim.RAdam;
import dev.cm4j.optim.SGD;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Builds the run's objects from {@link TrainingOptions}: dataset, raw network, optimizer and EMA rules. */
public final class Builders {
  private Builders() {}

  static String str(JsonNode n, String key, String dflt) {
    JsonNode v = n.get(key);
    return v == null || v.isNull() ? dflt : v.asText();
  }

  static double num(JsonNode n, String key, double dflt) {
    JsonNode v = n.get(key);
    if (v == null || v.isNull()) return dflt;
    if (!v.isNumber()) throw new IllegalArgumentException("option " + key + " must be a number, got " + v);
    return v.asDouble();
  }

  static boolean bool(JsonNode n, String key, boolean dflt) {
    JsonNode v = n.get(key);
    return v == null || v.isNull() ? dflt : v.asBoolean();
  }

  /** The training dataset described by data options. */
  public static Dataset dataset(ObjectNode d) {
    String kind = str(d, "kind", "");
    String path = str(d, "path", null);
    switch (kind) {
      case "fashion-mnist": {
        if (path != null) return IdxDataset.openStandard(Path.of(path), true);
        return IdxDataset.debianFashionMnist(true).orElseThrow(() -> new IllegalArgumentException(
            "Fashion-MNIST not found in " + IdxDataset.DEBIAN_FASHION_MNIST
                + ": install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or set data.path"));
      }
      case "cifar10":
        requirePath(path, kind);
        return Cifar10Dataset.open(Path.of(path), true);
      case "folder":
        requirePath(path, kind);
        return ImageFolderDataset.open(Path.of(path), bool(d, "use_labels", false));
      case "npy":
        requirePath(path, kind);
        return PointClouds.read(Path.of(path), str(d, "key", null));
      case "toy2d": {
        String name = str(d, "name", "eight-gaussians");
        Toy2D toy = switch (name) {
          case "eight-gaussians" -> Toy2D.EightGaussians.DEFAULT;
          case "checkerboard" -> Toy2D.Checkerboard.DEFAULT;
          case "two-moons" -> Toy2D.TwoMoons.DEFAULT;
          case "swiss-roll" -> Toy2D.SwissRoll.DEFAULT;
          default -> throw new IllegalArgumentException("unknown toy2d name '" + name
              + "' (eight-gaussians, checkerboard, two-moons, swiss-roll)");
        };
        int n = (int) num(d, "size", 100_000);
        double scale = num(d, "scale", 0.25);
        double[] pts = toy.sample(n, new SplitMix64((long) num(d, "seed", 0)));
        float[] f = new float[pts.length];
        for (int i = 0; i < pts.length; i++) f[i] = (float) (pts[i] * scale);
        return new InMemoryPointDataset(f, 2, null);
      }
      default:
        throw new IllegalArgumentException("unknown data.kind '" + kind
            + "' (fashion-mnist, cifar10, folder, npy, toy2d)");
    }
  }

  private static void requirePath(String path, String kind) {
    if (path == null) throw new IllegalArgumentException("data.path is required for data.kind " + kind);
    if (!Files.exists(Path.of(path))) throw new IllegalArgumentException("data.path does not exist: " + path);
  }

  /** The raw network for data of the given resolution and channels (0 resolution: point data of that dimension). */
  public static Module network(ObjectNode n, int resolution, int channels,
      boolean sEmbedding) {
    String arch = str(n, "arch", "ddpmpp");
    ObjectNode kw = n.deepCopy();
    kw.remove("arch");
    if (arch.equals("mlp")) {
      return new MLPDenoiser(new MLPDenoiser.Config(channels, (int) num(kw, "hidden", 256), (int) num(kw, "blocks", 4),
          (int) num(kw, "emb_channels", 64), num(kw, "dropout", 0), sEmbedding));
    }
    kw.put("img_resolution", resolution);
    kw.put("img_channels", channels);
    SongUNet.Config base = switch (arch) {
      case "ddpmpp" -> SongUNet.Config.ddpmpp(resolution, channels, num(kw, "dropout", 0.13));
      case "ncsnpp" -> SongUNet.Config.ncsnpp(resolution, channels, num(kw, "dropout", 0.13));
      case "songunet" -> SongUNet.Config.defaults(resolution, channels);
      default -> throw new IllegalArgumentException("unknown network.arch '" + arch + "' (ddpmpp, ncsnpp, songunet, mlp)");
    };
    ObjectNode merged = TrainingOptions.JSON.valueToTree(base);
    merged.setAll(kw);
    if (sEmbedding) merged.put("s_embedding", true);
    return new SongUNet(SongUNet.Config.fromKwargs(merged.toString()));
  }

  /** The optimizer over a module's parameters. */
  public static Optimizer optimizer(ObjectNode o, Module m) {
    String kind = str(o, "kind", "adam").toLowerCase(java.util.Locale.ROOT);
    double lr = num(o, "lr", 1e-3);
    JsonNode betas = o.get("betas");
    double b1 = betas != null ? betas.get(0).asDouble() : 0.9;
    double b2 = betas != null ? betas.get(1).asDouble() : 0.999;
    double eps = num(o, "eps", 1e-8);
    double wd = num(o, "weight_decay", kind.equals("adamw") ? 1e-2 : 0);
    return switch (kind) {
      case "adam" -> new Adam(m, Adam.Config.defaults().withLr(lr).withBetas(b1, b2).withEps(eps).withWeightDecay(wd));
      case "adamw" -> new AdamW(m, AdamW.defaults().withLr(lr).withBetas(b1, b2).withEps(eps).withWeightDecay(wd));
      case "radam" -> new RAdam(m, new RAdam.Config(lr, b1, b2, eps, wd, false, Optimizer.Impl.AUTO));
      case "sgd" -> new SGD(m, new SGD.Config(lr, num(o, "momentum", 0), 0, wd, bool(o, "nesterov", false),
          Optimizer.Impl.AUTO));
      default -> throw new IllegalArgumentException("unknown optimizer.kind '" + kind + "' (adam, adamw, radam, sgd)");
    };
  }

  /** EMA rules from options. */
  public static List<EMA.Beta> emaRules(List<ObjectNode> ema) {
    List<EMA.Beta> rules = new ArrayList<>();
    for (ObjectNode e : ema) {
      String kind = str(e, "kind", "fixed");
      rules.add(switch (kind) {
        case "fixed" -> new EMA.Fixed(num(e, "beta", 0.9999));
        case "halflife" -> new EMA.HalfLife(num(e, "halflife_kimg", 500), num(e, "rampup_ratio", 0.05));
        case "power" -> new EMA.PowerFunction(num(e, "sigma_rel", 0.05));
        default -> throw new IllegalArgumentException("unknown ema.kind '" + kind + "' (fixed, halflife, power)");
      });
    }
    return rules;
  }
}
