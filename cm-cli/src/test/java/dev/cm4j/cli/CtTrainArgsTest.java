package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cm4j.train.TrainingOptions;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.DefaultParser;
import org.apache.commons.cli.ParseException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * ct_train.py command lines: ECT's run_ecm.sh and run_ecm_1hour.sh (4311059, copied verbatim into the test
 * resources) parsed as they stand, every resulting option checked in ECT's units; bad and unsupported options.
 */
class CtTrainArgsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  /** The ct_train.py arguments of a shell script: after "ct_train.py", continuations joined, "${@:3}" left out. */
  static String[] scriptArgs(String resource) throws IOException {
    String text;
    try (InputStream in = CtTrainArgsTest.class.getResourceAsStream("/ect/" + resource)) {
      text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    String joined = text.replace("\\\n", " ");
    String line = joined.lines().filter(l -> l.contains("ct_train.py")).findFirst().orElseThrow();
    String rest = line.substring(line.indexOf("ct_train.py") + "ct_train.py".length());
    List<String> args = new ArrayList<>();
    for (String w : rest.trim().split("\\s+")) if (!w.startsWith("${")) args.add(w);
    return args.toArray(String[]::new);
  }

  /** The bound options of a translation, with --data resolved in tmp (an empty .zip file: the kind follows the name). */
  TrainingOptions bind(CtTrainArgs.Translation t, String... cmArgs) throws Exception {
    Path data = tmp.resolve(t.data());
    Files.createDirectories(data.getParent());
    if (!Files.exists(data)) Files.createFile(data);
    CtTrainArgs.Translation r = new CtTrainArgs.Translation(t.overrides(), t.explicit(), data.toString(), t.outdir(),
        t.resume(), t.nosubdir(), t.dryRun(), t.seedDrawn(), t.transfer(), t.cmArgs());
    CommandLine cl = new DefaultParser().parse(Main.trainOptions(), cmArgs);
    return Main.ctOptions(r, cl, new PrintStream(new ByteArrayOutputStream()));
  }

  static JsonNode tree(TrainingOptions o) throws IOException {
    return JSON.readTree(o.toJson());
  }

  /** Both scripts' shared part; returns the tree for the script-specific checks. */
  JsonNode checkCommon(String script) throws Exception {
    String[] args = scriptArgs(script);
    assertTrue(CtTrainArgs.applies(args), "a ct_train.py command line");
    CtTrainArgs.Translation t = CtTrainArgs.translate(args);
    assertEquals("datasets/cifar10-32x32.zip", t.data());
    assertEquals("ct-runs", t.outdir());
    assertEquals("https://nvlabs-fi-cdn.nvidia.com/edm/pretrained/edm-cifar10-32x32-uncond-vp.pkl", t.transfer());
    assertNull(t.resume());
    assertFalse(t.dryRun());
    assertFalse(t.nosubdir());
    assertTrue(t.seedDrawn(), "no --seed: a random seed as ct_train.py draws");
    assertEquals(List.of("--bench"), t.cmArgs(), "--bench defaults to True in ct_train.py, --tf32 to False");
    JsonNode o = tree(bind(t));
    // --cond=0 --arch=ddpmpp: SongUNet with ct_train.py's ddpmpp keywords, --dropout=0.2, no augmentation (0.0)
    assertFalse(o.get("cond").asBoolean(), "--cond=0: unconditional");
    assertEquals(0.0, o.at("/augment/p").asDouble(), "--augment=0.0: no augmentation pipe");
    JsonNode net = o.get("network");
    assertEquals("ddpmpp", net.get("arch").asText());
    assertEquals(0.2, net.get("dropout").asDouble());
    assertEquals(128, net.get("model_channels").asInt());
    assertEquals("[2,2,2]", net.get("channel_mult").toString());
    assertEquals("positional", net.get("embedding_type").asText());
    assertEquals("standard", net.get("encoder_type").asText());
    assertEquals("standard", net.get("decoder_type").asText());
    assertEquals(1, net.get("channel_mult_noise").asInt());
    assertEquals("[1.0,1.0]", net.get("resample_filter").toString());
    assertEquals(0, net.get("augment_dim").asInt());
    assertEquals(0, net.get("label_dim").asInt());
    // ECMPrecond's defaults
    assertEquals(0.5, o.at("/precond/sigma_data").asDouble());
    assertEquals(0.003, o.at("/precond/sigma_min").asDouble());
    // ECMLoss: ct_train.py's defaults for --mean --std -k -b -c --mapping
    JsonNode ob = o.get("objective");
    assertEquals("ect", ob.get("kind").asText());
    assertEquals(-1.1, ob.get("P_mean").asDouble());
    assertEquals(2.0, ob.get("P_std").asDouble());
    assertEquals(8.0, ob.get("k").asDouble());
    assertEquals(1.0, ob.get("b").asDouble());
    assertEquals(0.0, ob.get("c").asDouble());
    assertEquals("sigmoid", ob.get("mapping").asText());
    assertEquals("inverse_gap", ob.get("weighting").asText());
    assertEquals(0.0, ob.get("denoise_kimg").asDouble());
    // --optim=RAdam --lr=0.0001, betas and eps as ct_train.py passes them
    assertEquals("radam", o.at("/optimizer/kind").asText());
    assertEquals(1e-4, o.at("/optimizer/lr").asDouble());
    assertEquals("[0.9,0.999]", o.at("/optimizer/betas").toString());
    assertEquals(1e-8, o.at("/optimizer/eps").asDouble());
    // --batch=128 --duration=25.6 (Mimg) --tick=12.8 (kimg)
    assertEquals(128, o.get("batch").asInt());
    assertEquals(0, o.get("batch_gpu").asInt());
    assertEquals(25600.0, o.get("duration_kimg").asDouble());
    assertEquals(12.8, o.get("tick_kimg").asDouble());
    assertEquals(500, o.get("snap_ticks").asInt(), "--snap default 500 ticks");
    assertEquals("fp32", o.get("precision").asText(), "--fp16 default False");
    assertEquals("sanitize", o.get("nan_guard").asText());
    assertEquals("[0.821]", o.get("sample_steps").toString(), "--mid_t default");
    assertEquals("[\"fid50k_full\"]", o.at("/eval/metrics").toString());
    assertEquals(t.transfer(), o.get("init_from").asText());
    assertEquals("folder", o.at("/data/kind").asText());
    assertFalse(o.at("/data/xflip").asBoolean(), "--xflip default False");
    long seed = o.get("seed").asLong();
    assertTrue(seed >= 0 && seed < (1L << 31), "seed " + seed);
    assertEquals("cifar10-32x32-uncond-ddpmpp-ect-RAdam-0.000100-batch128-fp32", o.get("desc").asText());
    return o;
  }

  @Test
  void runEcmScript() throws Exception {
    JsonNode o = checkCommon("run_ecm.sh");
    assertEquals(2.0, o.at("/objective/q").asDouble(), "-q default 2");
    assertEquals(250 * 12.8, o.at("/objective/double_kimg").asDouble(), 1e-9, "--double=250 ticks of 12.8 kimg");
    assertEquals("[{\"kind\":\"fixed\",\"beta\":0.9999}]", o.get("ema").toString(), "--ema_beta default");
    assertEquals(500, o.get("state_ticks").asInt(), "--dump default 500");
    assertEquals(50, o.at("/eval/every_ticks").asInt(), "--eval_every default 50");
  }

  @Test
  void runEcm1HourScript() throws Exception {
    JsonNode o = checkCommon("run_ecm_1hour.sh");
    assertEquals(256.0, o.at("/objective/q").asDouble(), "-q 256");
    assertEquals(10000 * 12.8, o.at("/objective/double_kimg").asDouble(), 1e-6, "--double 10000 (the later one wins)");
    assertEquals("[{\"kind\":\"fixed\",\"beta\":0.9993}]", o.get("ema").toString(), "--ema_beta 0.9993");
    assertEquals(80, o.get("state_ticks").asInt(), "--dump 80");
    assertEquals(80, o.at("/eval/every_ticks").asInt(), "--eval_every 80");
  }

  /** ct_train.py's defaults when only the required options are given; and every value form it accepts. */
  @Test
  void defaultsAndValueForms() throws Exception {
    CtTrainArgs.Translation t = CtTrainArgs.translate(new String[] {"--outdir", "o", "--data=d.zip", "--augment", "0",
        "-q3", "-k", "4", "--cbase=64", "--cres=1,2-3", "--fp16", "yes", "--tf32=1", "--bench", "off", "--seed", "7",
        "--mid_t", "1.5", "--mid_t=0.5", "--metrics", "none", "--xflip=true", "--workers", "1", "-n"});
    assertTrue(t.dryRun());
    assertEquals(List.of("--tf32"), t.cmArgs());
    JsonNode o = tree(bind(t));
    assertEquals(200000.0, o.get("duration_kimg").asDouble(), "--duration 200 Mimg");
    assertEquals(512, o.get("batch").asInt());
    assertEquals(1e-3, o.at("/optimizer/lr").asDouble(), "--lr 10e-4");
    assertEquals("adam", o.at("/optimizer/kind").asText());
    assertEquals(0.13, o.at("/network/dropout").asDouble());
    assertEquals(64, o.at("/network/model_channels").asInt());
    assertEquals("[1,2,3]", o.at("/network/channel_mult").toString());
    assertEquals(3.0, o.at("/objective/q").asDouble());
    assertEquals(4.0, o.at("/objective/k").asDouble());
    assertEquals(500 * 50.0, o.at("/objective/double_kimg").asDouble(), "--double 500 ticks of 50 kimg");
    assertEquals(50.0, o.get("tick_kimg").asDouble());
    assertEquals("fp16", o.get("precision").asText());
    assertEquals(7, o.get("seed").asLong());
    assertEquals("[1.5,0.5]", o.get("sample_steps").toString());
    assertEquals("[]", o.at("/eval/metrics").toString());
    assertTrue(o.at("/data/xflip").asBoolean());
    assertEquals("d-uncond-ddpmpp-ect-Adam-0.001000-batch512-fp16", o.get("desc").asText());
    assertFalse(t.seedDrawn());
  }

  /** --set works over a translation, and a --set of a key an explicit option sets is an error naming both. */
  @Test
  void setAppliesAndConflicts() throws Exception {
    String[] base = {"--outdir=o", "--data=d.zip", "--augment=0", "-q", "4"};
    CtTrainArgs.Translation t = CtTrainArgs.translate(base);
    JsonNode o = tree(bind(t, "--set", "objective.P_mean=-1.0", "--set", "threads=2"));
    assertEquals(-1.0, o.at("/objective/P_mean").asDouble());
    assertEquals(4.0, o.at("/objective/q").asDouble());
    assertEquals(2, o.get("threads").asInt());
    ParseException e = assertThrows(ParseException.class, () -> bind(t, "--set", "objective.q=3"));
    assertTrue(e.getMessage().contains("-q"), e.getMessage());
    e = assertThrows(ParseException.class, () -> bind(CtTrainArgs.translate(new String[] {"--outdir=o", "--data=d.zip",
        "--augment=0", "--lr=2e-4"}), "--set", "optimizer.lr=1e-4"));
    assertTrue(e.getMessage().contains("--lr"), e.getMessage());
  }

  /** --cond, --augment, --workers and --arch map onto their sections' keys and bind. */
  @Test
  void laterSectionsUseTheirKeys() throws Exception {
    CtTrainArgs.Translation t = CtTrainArgs.translate(new String[] {"--outdir=o", "--data=d.zip", "--cond=1",
        "--augment=0.12", "--workers=4", "--arch=adm"});
    assertEquals("true", t.overrides().get("cond"));
    assertEquals("0.12", t.overrides().get("augment.p"));
    assertEquals("4", t.overrides().get("data.workers"));
    assertTrue(t.overrides().get("network").contains("\"arch\":\"adm\""));
    assertTrue(t.overrides().get("network").contains("\"augment_dim\":9"));
    JsonNode o = tree(bind(t));
    assertTrue(o.get("cond").asBoolean());
    assertEquals(0.12, o.at("/augment/p").asDouble());
    assertEquals(4, o.at("/data/workers").asInt());
    assertEquals("adm", o.at("/network/arch").asText());
    assertEquals(9, o.at("/network/augment_dim").asInt());
    // the default --augment is ct_train.py's 0.12, with EDM's 9 augment labels
    CtTrainArgs.Translation d = CtTrainArgs.translate(new String[] {"--outdir=o", "--data=d.zip", "--cond=0"});
    assertEquals("0.12", d.overrides().get("augment.p"));
    JsonNode od = tree(bind(d));
    assertEquals(0.12, od.at("/augment/p").asDouble());
    assertEquals(9, od.at("/network/augment_dim").asInt());
    assertFalse(od.get("cond").asBoolean());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "--ls=2|--ls 2: a fixed loss-scaling factor is not available",
      "--ema=0.5|--ema: ct_train.py's half-life EMA",
      "--cache=0|--cache=0",
      "--ckpt=10|--ckpt:",
      "--resume-tick=3|--resume-tick:",
      "--sample_every=10|--sample_every 10",
      "--optim=SGD|--optim SGD",
      "--optim=Adagrad|torch.optim.Adagrad is not available",
      "--arch=unet|--arch: must be one of ddpmpp, ncsnpp, adm, edm2",
      "--precond=edm|--precond: ct_train.py knows only 'ect'",
      "--mapping=linear|--mapping: must be const or sigmoid",
      "--cond=maybe|--cond: not a boolean",
      "--batch=x|--batch: not an integer",
      "--lr=0|--lr: must be > 0",
      "--double=0|--double: must be >= 1",
      "--tick=0.5|--tick: must be >= 1 kimg",
      "--augment=1.5|--augment: must be in [0, 1]",
      "--cres=1,a|--cres: not a list",
      "--scheme=ect|--scheme: an option of ECT's imgnet branch",
      "--decay=2000|--set lr_decay_batches=N",
      "--preset=cifar10-ect|--preset cannot be combined with ct_train.py options",
      "--precision=bf16|--precision cannot be combined with ct_train.py options: use ct_train.py's --fp16",
      "--init-from=w.safetensors|--init-from cannot be combined with ct_train.py options: use ct_train.py's --transfer",
      "--frobnicate=1|unknown option --frobnicate",
      "--nosubdir=1|--nosubdir is a flag",
      "--transfer=a.safetensors --resume=r|--transfer and --resume cannot be specified at the same time"})
  void badOptions(String opts, String message) {
    List<String> args = new ArrayList<>(List.of("--outdir=o", "--data=d.zip", "--augment=0"));
    args.addAll(List.of(opts.split(" ")));
    ParseException e = assertThrows(ParseException.class, () -> CtTrainArgs.translate(args.toArray(String[]::new)));
    assertTrue(e.getMessage().contains(message), () -> "'" + e.getMessage() + "' lacks '" + message + "'");
  }

  @Test
  void requiredOptionsAndDetection() {
    ParseException e = assertThrows(ParseException.class, () -> CtTrainArgs.translate(new String[] {"--data=d.zip", "-q", "2"}));
    assertTrue(e.getMessage().contains("--outdir"), e.getMessage());
    assertFalse(CtTrainArgs.applies(new String[] {"--preset", "cifar10-ect", "--batch", "8", "--tf32", "--bench"}),
        "cm's own options (shared names, flag forms) stay cm's");
    assertTrue(CtTrainArgs.applies(new String[] {"--batch", "8", "--tf32=1"}), "a value for --tf32 is ct_train.py's form");
    assertTrue(CtTrainArgs.applies(new String[] {"-q", "3"}));
    assertFalse(CtTrainArgs.applies(new String[] {"--preset", "toy2d-ect", "-n"}), "-n is cm's dry run too");
    assertFalse(CtTrainArgs.applies(new String[] {"--dry-run", "-v"}));
    assertTrue(CtTrainArgs.applies(new String[] {"--dry_run"}), "ct_train.py's spelling");
  }

  /** Through cm train: the dry run prints the translated options; run-time-only refusals name the option. */
  @Test
  void throughMain() throws Exception {
    Files.createFile(tmp.resolve("d.zip"));
    String data = "--data=" + tmp.resolve("d.zip");
    MainTest.Out r = MainTest.run("train", "--outdir=" + tmp, data, "--augment=0", "--seed=3", "-q", "4", "-n");
    assertEquals(0, r.code(), r.err());
    assertEquals(4.0, JSON.readTree(r.out()).at("/objective/q").asDouble());
    r = MainTest.run("train", "--outdir=" + tmp, data, "--augment=0", "--cond=0", "--transfer=https://x/y.pkl");
    assertEquals(2, r.code(), r.err() + r.out());
    assertTrue(r.err().contains("--transfer https://x/y.pkl: cm4j reads .safetensors"), r.err());
  }

  /** --nosubdir (EDM/ECT: run_dir = outdir): a short ct_train.py run writes straight into --outdir. */
  @Test
  void nosubdirWritesIntoTheOutputDirectory() throws Exception {
    Path data = Files.createDirectories(tmp.resolve("images"));
    java.util.Random rnd = new java.util.Random(3);
    for (int i = 0; i < 8; i++) {
      byte[] px = new byte[3 * 8 * 8];
      rnd.nextBytes(px);
      dev.cm4j.image.Png.write(new dev.cm4j.image.UInt8Image(3, 8, 8, px), data.resolve("img" + i + ".png"));
    }
    Path out = tmp.resolve("flat");
    String[] args = {"train", "--outdir=" + out, "--data=" + data, "--nosubdir", "--cond=0", "--augment=0",
        "--arch=ddpmpp", "--cbase=8", "--cres=1", "--batch=4", "--metrics=none", "--seed=1", "--set", "duration_kimg=0.008", "--set",
        "network.num_blocks=1", "--set", "network.attn_resolutions=[]"};
    MainTest.Out r = MainTest.run(args);
    assertEquals(0, r.code(), r.err() + r.out());
    assertTrue(Files.isRegularFile(out.resolve("training_options.json")), "the options sit in --outdir itself");
    assertTrue(Files.isRegularFile(out.resolve("log.txt")));
    try (var f = Files.list(out)) {
      List<String> names = f.map(p -> p.getFileName().toString()).toList();
      assertTrue(names.stream().anyMatch(n -> n.startsWith("network-snapshot-")), names.toString());
      assertTrue(names.stream().noneMatch(n -> n.matches("\\d{5}-.*")), "no numbered sub-directory: " + names);
    }
    MainTest.Out again = MainTest.run(args);
    assertNotEquals(0, again.code(), "a second run into the same directory is refused");
    assertTrue(again.err().contains("--nosubdir") && again.err().contains("already holds a run"), again.err());
  }
}
