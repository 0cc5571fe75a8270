package dev.cm4j.gpu;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Map;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.reporting.ReportEntry;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Runs the GPU test group (package dev.cm4j.gpu, tag cuda) with the JUnit Platform launcher, for machines without
 * Maven (scripts/gpu-check.sh). Prints one line per test: PASS, FAIL (with the failure's first line), or SKIP (with
 * the assumption's reason), then a count; exits 1 if any test failed or none ran.
 */
public final class GpuTestRunner {
  private GpuTestRunner() {}

  public static void main(String[] args) {
    System.exit(run(System.out));
  }

  static int run(PrintStream out) {
    LauncherDiscoveryRequest req = LauncherDiscoveryRequestBuilder.request()
        .selectors(selectPackage("dev.cm4j.gpu"))
        .filters(TagFilter.includeTags(GpuGroup.TAG))
        .build();
    int[] counts = new int[3]; // pass, fail, skip
    Map<String, Long> started = new ConcurrentHashMap<>();
    TestExecutionListener l = new TestExecutionListener() {
      @Override
      public void executionStarted(TestIdentifier id) {
        if (id.isTest()) started.put(id.getUniqueId(), System.nanoTime());
      }

      @Override
      public void executionSkipped(TestIdentifier id, String reason) {
        if (id.isTest() || id.isContainer()) {
          counts[2]++;
          out.printf(Locale.ROOT, "SKIP  %-58s | %s%n", name(id), reason);
        }
      }

      @Override
      public void executionFinished(TestIdentifier id, TestExecutionResult r) {
        if (!id.isTest()) {
          if (r.getStatus() == TestExecutionResult.Status.FAILED) {
            counts[1]++;
            out.printf(Locale.ROOT, "FAIL  %-58s | %s%n", name(id), firstLine(r));
          }
          return;
        }
        double sec = (System.nanoTime() - started.getOrDefault(id.getUniqueId(), System.nanoTime())) / 1e9;
        switch (r.getStatus()) {
          case SUCCESSFUL -> {
            counts[0]++;
            out.printf(Locale.ROOT, "PASS  %-58s %.1f s%n", name(id), sec);
          }
          case ABORTED -> {
            counts[2]++;
            out.printf(Locale.ROOT, "SKIP  %-58s | %s (after %.1f s)%n", name(id),
                firstLine(r).replaceFirst("^Assumption failed: ", ""), sec);
          }
          case FAILED -> {
            counts[1]++;
            out.printf(Locale.ROOT, "FAIL  %-58s | %s%n", name(id), firstLine(r));
            r.getThrowable().ifPresent(t -> t.printStackTrace(out));
          }
        }
      }

      @Override
      public void reportingEntryPublished(TestIdentifier id, ReportEntry e) {
        out.println("      " + e.getKeyValuePairs());
      }
    };
    Launcher launcher = LauncherFactory.create();
    launcher.execute(req, l);
    out.printf(Locale.ROOT, "GPU group: %d passed, %d failed, %d skipped%n", counts[0], counts[1], counts[2]);
    return counts[1] > 0 || counts[0] + counts[2] == 0 ? 1 : 0;
  }

  private static String name(TestIdentifier id) {
    String u = id.getUniqueId();
    String cls = u.replaceAll(".*\\[class:dev\\.cm4j\\.gpu\\.([^\\]]+)\\].*", "$1");
    return cls + " " + id.getDisplayName();
  }

  private static String firstLine(TestExecutionResult r) {
    return r.getThrowable().map(t -> {
      String m = t.getMessage() == null ? t.toString() : t.getMessage();
      int nl = m.indexOf('\n');
      return nl < 0 ? m : m.substring(0, nl);
    }).orElse("");
  }
}
