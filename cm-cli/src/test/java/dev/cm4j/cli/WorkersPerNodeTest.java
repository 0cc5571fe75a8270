package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/**
 * The launcher's default process count: one per visible GPU with --device auto on a CUDA machine, an explicit
 * --nproc-per-node always wins, one process on a CPU machine, with an explicit device, or inside a worker.
 */
class WorkersPerNodeTest {
  static final DeviceSpec AUTO = DeviceSpec.AUTO;

  @Test
  void onePerGpuByDefault() {
    assertEquals(8, Launcher.workersPerNode(null, AUTO, 8, null, false));
    assertEquals(1, Launcher.workersPerNode(null, AUTO, 1, null, false));
  }

  @Test
  void cpuMachinesRunOneProcessAsBefore() {
    assertEquals(1, Launcher.workersPerNode(null, AUTO, 0, null, false));
    assertEquals(1, Launcher.workersPerNode(null, AUTO, 0, "0,1", false));
  }

  @Test
  void anExplicitCountWins() {
    assertEquals(3, Launcher.workersPerNode(3, AUTO, 8, null, false));
    assertEquals(2, Launcher.workersPerNode(2, AUTO, 0, null, false)); // CPU workers over Gloo, as today
    assertEquals(4, Launcher.workersPerNode(4, DeviceSpec.parse("cpu"), 8, "", false));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Launcher.workersPerNode(0, AUTO, 8, null, false));
    assertEquals("--nproc-per-node must be >= 1: 0", e.getMessage());
  }

  @Test
  void anExplicitDeviceOrALaunchedWorkerIsOneProcess() {
    assertEquals(1, Launcher.workersPerNode(null, DeviceSpec.parse("cpu"), 8, null, false));
    assertEquals(1, Launcher.workersPerNode(null, DeviceSpec.parse("cuda:1"), 8, null, false));
    assertEquals(1, Launcher.workersPerNode(null, DeviceSpec.parse("cuda"), 8, null, false));
    assertEquals(1, Launcher.workersPerNode(null, AUTO, 8, null, true));
  }

  @Test
  void cudaVisibleDevicesBoundsTheCount() {
    assertEquals(2, Launcher.workersPerNode(null, AUTO, 8, "3,5", false));
    assertEquals(2, Launcher.workersPerNode(null, AUTO, 2, "0,1,2,3", false)); // libtorch's count is the bound
    assertEquals(1, Launcher.workersPerNode(null, AUTO, 8, "", false)); // nothing visible: one (CPU) process
    assertEquals(1, Launcher.workersPerNode(null, AUTO, 8, "-1", false));
  }

  @Test
  void visibleDevicesCountUpToTheFirstInvalidEntry() {
    assertEquals(0, Launcher.visibleCount(""));
    assertEquals(0, Launcher.visibleCount(" "));
    assertEquals(1, Launcher.visibleCount("2"));
    assertEquals(3, Launcher.visibleCount("0, 1 ,2"));
    assertEquals(2, Launcher.visibleCount("0,1,-1,2"));
    assertEquals(1, Launcher.visibleCount("1,01")); // a repeat stops the list
    assertEquals(2, Launcher.visibleCount("GPU-8f2c1a,MIG-1234"));
    assertEquals(1, Launcher.visibleCount("0,,1"));
    assertEquals(1, Launcher.visibleCount("0,nope"));
  }
}
