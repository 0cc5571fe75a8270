package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;
import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The device encoding shared with the C API (cm_torch.h): -1 is the CPU, n >= 0 CUDA device n, -16 - n
 * PrivateUse1 device n; and the text form, which {@link Device#parse} reads back from {@link Device#toString}.
 */
class DeviceCodeTest {
  @Test
  void codesFollowTheHeader() {
    assertEquals(-1, Device.CPU.code());
    assertEquals(0, Device.cuda(0).code());
    assertEquals(5, Device.cuda(5).code());
    assertEquals(-16, Device.privateUse1(0).code());
    assertEquals(-19, Device.privateUse1(3).code());
    for (Device d : List.of(Device.CPU, Device.cuda(0), Device.cuda(127), Device.privateUse1(0),
        Device.privateUse1(1), Device.privateUse1(127))) {
      assertEquals(d, Device.ofCode(d.code()), d.toString());
      assertEquals(d, Device.parse(d.toString()), d.toString());
    }
    for (int bad : new int[] {-2, -15, -16 - 128, 128, Integer.MIN_VALUE}) {
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> Device.ofCode(bad));
      assertTrue(e.getMessage().contains("code " + bad), e.getMessage());
    }
  }

  @Test
  void textFormsAndAcceleratorFlag() {
    assertEquals("privateuseone:2", Device.privateUse1(2).toString());
    assertEquals(Device.privateUse1(0), Device.parse("privateuseone"));
    assertEquals(Device.privateUse1(4), Device.parse(" PrivateUseOne:4 "));
    assertEquals(Device.cuda(0), Device.parse("cuda"));
    assertFalse(Device.CPU.isAccelerator());
    assertTrue(Device.cuda(0).isAccelerator());
    assertTrue(Device.privateUse1(0).isAccelerator());
    for (String bad : new String[] {"gpu", "cuda:", "cuda:-1", "privateuseone:x", "privateuseone:128", "cpu:0"}) {
      assertThrows(IllegalArgumentException.class, () -> Device.parse(bad), bad);
    }
    assertThrows(IllegalArgumentException.class, () -> Device.privateUse1(-1));
    assertThrows(IllegalArgumentException.class, () -> new Device(Device.Type.PRIVATEUSE1, 128));
  }

  @Test
  void theCApiRejectsCodesOutsideTheEncoding() {
    assertEquals(CM_DEVICE_PRIVATEUSE1_BASE(), Device.privateUse1(0).code());
    Native.ensureLoaded();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment size = a.allocateFrom(ValueLayout.JAVA_LONG, 2);
      MemorySegment out = a.allocate(ValueLayout.ADDRESS);
      for (int bad : new int[] {-2, -15, -16 - 128, 128}) {
        assertEquals(CM_ERROR(), cm_zeros(size, 1, CM_DTYPE_FLOAT32(), bad, out), "code " + bad);
        String msg = cm_last_error().getString(0);
        assertTrue(msg.contains("device code " + bad), msg);
      }
    }
  }
}
