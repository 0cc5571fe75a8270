package dev.cm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.tensor.Device;
import org.junit.jupiter.api.Test;

/** --device: what parses, what each spec resolves to with 0, 1 or 4 GPUs, and the one-line errors. */
class DeviceSpecTest {
  @Test
  void parsesTheFourFormsCaseInsensitively() {
    assertEquals("auto", DeviceSpec.parse("auto").text());
    assertEquals("cpu", DeviceSpec.parse(" CPU ").text());
    assertEquals("cuda", DeviceSpec.parse("cuda").text());
    assertEquals("cuda:3", DeviceSpec.parse("Cuda:3").text());
    assertTrue(DeviceSpec.parse("auto").isAuto());
    assertFalse(DeviceSpec.parse("cuda:0").isAuto());
  }

  @Test
  void badValuesAreOneLineErrorsNamingTheValue() {
    for (String bad : new String[] {"cdua", "gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "", "cpu:0", "cuda:99999"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceSpec.parse(bad), bad);
      assertEquals("--device: bad device '" + bad + "' (expected auto, cpu, cuda or cuda:N)", e.getMessage());
    }
  }

  @Test
  void autoIsCudaLocalRankWithCudaAndTheCpuWithout() {
    assertEquals(Device.CPU, DeviceSpec.AUTO.resolve(0, 0));
    assertEquals(Device.CPU, DeviceSpec.AUTO.resolve(3, 0));
    assertEquals(Device.cuda(0), DeviceSpec.AUTO.resolve(0, 4));
    assertEquals(Device.cuda(3), DeviceSpec.AUTO.resolve(3, 4));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceSpec.AUTO.resolve(4, 4));
    assertEquals("--device auto: local rank 4 has no GPU (4 CUDA device(s) visible); start at most 4 worker(s) per "
        + "node or pass --device cpu", e.getMessage());
  }

  @Test
  void explicitDevicesIgnoreTheRankAndAreCheckedAgainstTheMachine() {
    assertEquals(Device.CPU, DeviceSpec.parse("cpu").resolve(2, 4));
    assertEquals(Device.cuda(0), DeviceSpec.parse("cuda").resolve(2, 4));
    assertEquals(Device.cuda(1), DeviceSpec.parse("cuda:1").resolve(0, 2));
    IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
        () -> DeviceSpec.parse("cuda").resolve(0, 0));
    assertEquals("--device cuda: CUDA is not available here (CPU build of libtorch, or no GPU visible); use --device "
        + "cpu or auto", none.getMessage());
    IllegalArgumentException past = assertThrows(IllegalArgumentException.class,
        () -> DeviceSpec.parse("cuda:2").resolve(0, 2));
    assertEquals("--device cuda:2: only 2 CUDA device(s) visible (cuda:0..1)", past.getMessage());
    assertThrows(IllegalArgumentException.class, () -> DeviceSpec.AUTO.resolve(-1, 2));
  }

  @Test
  void resolvesHereAsLibtorchSeesTheMachine() {
    int n = DeviceSpec.cudaCount();
    assertEquals(n == 0 ? Device.CPU : Device.cuda(DeviceSpec.localRank()), DeviceSpec.AUTO.resolveHere());
    assertEquals(Device.CPU, DeviceSpec.parse("cpu").resolveHere());
  }
}
