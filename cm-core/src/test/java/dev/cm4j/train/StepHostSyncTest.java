package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jdk.jfr.Event;
import jdk.jfr.Name;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * No training step reads a tensor on the host: with JFR's method tracing (JDK 25) on every {@code Tensor} method that
 * copies data to the host ({@code item}, {@code to*Array}, {@code copyTo}, {@code toSegment}), a run of each objective
 * records no such call between a step's {@code beforeStep} and {@code afterStep} — the loss, statistics, clipping and
 * λ_DSM stay on the device until the tick ends. On the CPU these calls are cheap; on a GPU each is a wait for the
 * device, which is what this guards against. Reads at tick ends (the report, snapshots, states) are outside the steps
 * and allowed.
 *
 * <p>One host computation is exempt: {@code ConsistencyTraining.pairProbabilities} evaluates erf on a CPU tensor made
 * from a Java array (iCT's pair distribution); it never touches the run's device.
 */
class StepHostSyncTest {
  @TempDir static Path dir;

  /** Marks one training step on the training thread. */
  @Name("cm4j.test.TrainingStep")
  static final class StepWindow extends Event {}

  static final String[] READS = {"item", "itemLong", "itemBoolean", "toFloatArray", "toDoubleArray", "toLongArray",
      "toIntArray", "toBooleanArray", "toByteArray", "copyTo", "toSegment"};
  static final List<String> EXEMPT = List.of("dev.cm4j.objectives.ConsistencyTraining.pairProbabilities");

  /** The host reads inside steps of a short run with these options, as "method <- caller frames". */
  static List<String> readsInsideSteps(TrainingOptions o, Path out) throws Exception {
    StringBuilder filter = new StringBuilder();
    for (String m : READS) filter.append(filter.isEmpty() ? "" : ";").append("dev.cm4j.tensor.Tensor::").append(m);
    List<RecordedEvent> events;
    int steps;
    try (Recording r = new Recording()) {
      r.enable("jdk.MethodTrace").with("filter", filter.toString()).withStackTrace();
      r.enable(StepWindow.class);
      int[] count = {0};
      try (Trainer t = Trainer.start(o, out, TrainerTest.QUIET)) {
        StepWindow[] w = new StepWindow[1];
        t.setStepListener(new Trainer.StepListener() {
          @Override
          public void beforeStep(long iteration, long images) {
            w[0] = new StepWindow();
            w[0].begin();
          }

          @Override
          public void afterStep(long iteration, long images, dev.cm4j.tensor.Tensor loss) {
            w[0].commit();
            count[0]++;
          }
        });
        r.start();
        t.run();
        r.stop();
      }
      steps = count[0];
      Path f = Files.createTempFile(dir, "sync", ".jfr");
      r.dump(f);
      events = RecordingFile.readAllEvents(f);
    }
    List<Instant[]> windows = new ArrayList<>();
    List<RecordedEvent> reads = new ArrayList<>();
    for (RecordedEvent e : events) {
      if (e.getEventType().getName().equals("cm4j.test.TrainingStep")) windows.add(new Instant[] {e.getStartTime(), e.getEndTime()});
      else if (e.getEventType().getName().equals("jdk.MethodTrace")) reads.add(e);
    }
    assertEquals(steps, windows.size(), "one window per step");
    assertTrue(steps >= 2, "the run takes several steps: " + steps);
    assertFalse(reads.isEmpty(), "the tracer sees the tick-end reads (else it would see nothing at all)");
    List<String> inside = new ArrayList<>();
    for (RecordedEvent e : reads) {
      Instant t = e.getStartTime();
      boolean in = windows.stream().anyMatch(w -> !t.isBefore(w[0]) && !t.isAfter(w[1]));
      if (!in) continue;
      jdk.jfr.consumer.RecordedMethod m = e.getValue("method");
      StringBuilder where = new StringBuilder(m.getType().getName() + "." + m.getName());
      boolean exempt = false;
      for (RecordedFrame fr : e.getStackTrace().getFrames()) {
        String name = fr.getMethod().getType().getName() + "." + fr.getMethod().getName();
        if (EXEMPT.contains(name)) exempt = true;
        if (fr.getMethod().getType().getName().startsWith("dev.cm4j.") && !name.startsWith("dev.cm4j.tensor.Tensor.")) {
          where.append(" <- ").append(name).append(':').append(fr.getLineNumber());
        }
      }
      if (!exempt) inside.add(where.toString());
    }
    return inside;
  }

  @Test
  void noObjectiveReadsTheDeviceInsideAStep() throws Exception {
    // the stand-in EDM teacher of TrainerObjectivesTest, written here
    dev.cm4j.tensor.Torch.manualSeed(42);
    try (var t = new dev.cm4j.precond.EDMPrecond(new dev.cm4j.nn.MLPDenoiser(
        new dev.cm4j.nn.MLPDenoiser.Config(2, 32, 1, 32, 0, false)), 0.5, 0.002, 80,
        dev.cm4j.precond.EDMPrecond.Boundary.EDM); var s = dev.cm4j.tensor.TensorScope.open()) {
      TrainerObjectivesTest.teacher = dir.resolve("teacher.safetensors");
      dev.cm4j.io.SafeTensors.write(TrainerObjectivesTest.teacher, t.stateDict());
    }
    Map<String, TrainingOptions> runs = new java.util.LinkedHashMap<>();
    // ECT past its denoising stage (the target pass runs) with clipping; sCT with its JVP and sanitized gradients
    runs.put("ect", TrainerTest.toy(0.192, "ect").with(Map.of("objective.denoise_kimg", "0", "clip_grad_norm", "1")));
    runs.put("sct", TrainerTest.toy(0.192, "sct").with(Map.of("nan_guard", "sanitize")));
    runs.put("ict", TrainerTest.toy(0.192, "ect").with(Map.of("objective", "{\"kind\": \"ict\"}")));
    for (String k : List.of("scd", "cd", "ct", "ctm")) runs.put(k, TrainerObjectivesTest.forKind(k, 0.192));
    runs.put("ctm", runs.get("ctm").with(Map.of("objective.dsm", "true")));
    runs.put("meanflow", TrainerTest.toy(0.192, "meanflow"));
    runs.put("imm", TrainerTest.toy(0.192, "imm")); // (AYF, which needs a teacher run: AyfObjectiveTest counts syncs)
    // images with EDM's augmentation pipe (geometric warp included) feeding the network's augment labels
    runs.put("ect-augment", AugmentTrainingTest.small(Map.of("augment.p", "1", "duration_kimg", "0.024",
        "tick_kimg", "0.024", "batch", "8", "data.workers", "0")));
    // the per-step decisions made on the device: fp16's loss scaling (found-inf, scale update) and nan_guard skip
    runs.put("sct-fp16", TrainerTest.toy(0.192, "sct").with(Map.of("precision", "fp16")));
    runs.put("ect-skip", TrainerTest.toy(0.192, "ect").with(Map.of("nan_guard", "skip")));
    runs.put("sct-fp16-skip", TrainerTest.toy(0.192, "sct").with(Map.of("precision", "fp16", "nan_guard", "skip")));
    // SGD's device-side (masked) step under fp16 loss scaling
    runs.put("ect-fp16-sgd", TrainerTest.toy(0.192, "ect").with(Map.of("precision", "fp16",
        "optimizer", "{\"kind\": \"sgd\", \"lr\": 0.01, \"momentum\": 0.9}")));
    StringBuilder bad = new StringBuilder();
    for (var e : runs.entrySet()) {
      List<String> inside = readsInsideSteps(e.getValue(), dir.resolve(e.getKey()));
      if (!inside.isEmpty()) bad.append(e.getKey()).append(": ").append(inside.size()).append(" reads, first ")
          .append(inside.get(0)).append('\n');
    }
    assertEquals("", bad.toString(), "host reads inside training steps");
  }
}
