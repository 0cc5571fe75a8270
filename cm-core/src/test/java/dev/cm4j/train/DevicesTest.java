package dev.cm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.dist.Backend;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Torch;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The device option: its syntax, its resolution on this machine, and the collective backend it implies. */
class DevicesTest {
  @Test
  void specsParseWithoutAskingTheMachine() {
    assertEquals(Device.CPU, Devices.parse("cpu", 3));
    assertEquals(Device.CPU, Devices.parse(" CPU ", 0));
    assertEquals(Device.cuda(2), Devices.parse("auto", 2), "auto reads as cuda:LOCAL_RANK before the CUDA check");
    assertEquals(Device.cuda(1), Devices.parse("cuda", 1), "cuda is the process's own GPU");
    assertEquals(Device.cuda(3), Devices.parse("cuda:3", 0));
    assertEquals(Device.cuda(0), Devices.parse("CUDA:0", 5));
    for (String bad : new String[] {"", "gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "auto:1"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Devices.parse(bad, 0), bad);
      assertTrue(e.getMessage().contains("\"" + bad + "\"") && e.getMessage().contains(Devices.FORMS), e.getMessage());
    }
  }

  @Test
  void resolutionFollowsWhatTheMachineHas() {
    assertEquals(Device.CPU, Devices.resolve("cpu", 0));
    if (Torch.cudaIsAvailable()) {
      assertEquals(Device.cuda(0), Devices.resolve("auto", 0));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Devices.resolve("cuda:" + Torch.cudaDeviceCount(), 0));
      assertTrue(e.getMessage().contains("CUDA device"), e.getMessage());
    } else {
      assertEquals(Device.CPU, Devices.resolve("auto", 0), "auto without CUDA is the CPU");
      assertEquals(Device.CPU, Devices.resolve("auto", 3));
      for (String s : new String[] {"cuda", "cuda:0"}) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Devices.resolve(s, 0));
        assertTrue(e.getMessage().contains("\"" + s + "\"") && e.getMessage().contains("CUDA is not available"),
            e.getMessage());
      }
    }
    assertThrows(IllegalArgumentException.class, () -> Devices.resolve("cpu", -1));
  }

  @Test
  void localRankComesFromTorchrunOrSlurm() {
    assertEquals(0, DataParallel.localRank(Map.of()));
    assertEquals(3, DataParallel.localRank(Map.of("LOCAL_RANK", "3")));
    assertEquals(2, DataParallel.localRank(Map.of("SLURM_PROCID", "6", "SLURM_LOCALID", "2")));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DataParallel.localRank(Map.of("LOCAL_RANK", "one")));
    assertTrue(e.getMessage().contains("LOCAL_RANK") && e.getMessage().contains("\"one\""), e.getMessage());
  }

  @Test
  void theCollectiveBackendFollowsTheTensorsDevice() {
    assertEquals(Backend.GLOO, Backend.forDevice(Device.CPU));
    assertEquals(Backend.NCCL, Backend.forDevice(Device.cuda(0)));
    assertEquals(Backend.NCCL, Backend.forDevice(Device.cuda(3)));
    assertThrows(NullPointerException.class, () -> Backend.forDevice(null));
  }

  @Test
  void theOptionIsWrittenReadAndDefaulted() {
    TrainingOptions o = Presets.get("toy2d-ect");
    assertEquals("auto", o.device());
    assertTrue(o.toJson().contains("\"device\" : \"auto\""), "dry-run prints it: " + o.toJson());
    TrainingOptions c = o.with(Map.of("device", "cuda:1"));
    assertEquals("cuda:1", c.device());
    assertEquals(c.toJson(), TrainingOptions.fromJson(c.toJson()).toJson());
    // a file without the key (written before the option existed) binds to auto
    String old = o.toJson().replace("\"device\" : \"auto\"", "\"x\" : 0").replace(",\n  \"x\" : 0", "");
    assertFalse(old.contains("device"), old);
    assertEquals("auto", TrainingOptions.fromJson(old).device());
  }
}
