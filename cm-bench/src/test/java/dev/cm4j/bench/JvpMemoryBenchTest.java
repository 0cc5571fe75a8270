package dev.cm4j.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cm4j.tensor.CpuAllocator;
import dev.cm4j.tensor.Torch;
import org.junit.jupiter.api.Test;

/** Keeps bench/jvp_memory.sh's Java harness runnable: each variant measures at batch 2 and gives its bytes back. */
class JvpMemoryBenchTest {
  @Test
  void everyVariantMeasuresAndGivesItsBytesBack() throws Exception {
    Torch.load();
    Torch.setNumThreads(1);
    CpuAllocator.Settings previous = CpuAllocator.current();
    CpuAllocator.enable(JvpMemory.COUNT_ALL);
    try {
      for (String v : new String[] {"sct-plain", "sct", "sct-fwd", "sct-jvp", "mf-plain", "mf", "edm2-fwd",
          "edm2-jvp", "adm-fwd", "adm-jvp"}) {
        JvpMemory.Result r = JvpMemory.measure(v, 2);
        assertTrue(r.peak() > r.liveBefore(), r.toString());
        // (the Cleaner may free other tests' leaked tensors meanwhile: "not above")
        assertTrue(r.liveAfter() <= r.liveBefore(), "the step leaves nothing live: " + r);
        // VmHWM comes from the kernel's RSS counters, which are per-CPU and synced lazily: a reading right after the
        // reset can exceed a later one by a few pages (seen: 44 KiB on a CI run), so "not below" holds up to 1 MiB
        assertTrue(r.hwmReset() > 0 && r.hwm() >= r.hwmReset() - (1 << 20), r.toString());
        assertTrue(r.json().startsWith("{\"side\": \"java\", \"variant\": \"" + v + "\""), r.json());
      }
    } finally {
      if (previous != null) CpuAllocator.enable(previous);
      else CpuAllocator.disable();
    }
  }
}
