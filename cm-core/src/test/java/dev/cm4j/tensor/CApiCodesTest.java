package dev.cm4j.tensor;

import static dev.cm4j.bindings.ffi.CmTorch.*;
import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The Java enums that F passes to the C API by ordinal agree with the codes the header names. */
class CApiCodesTest {
  @Test
  void functionalEnumsFollowTheHeaderCodes() {
    assertEquals(CM_INTERPOLATE_NEAREST(), F.Interpolation.NEAREST.ordinal());
    assertEquals(CM_INTERPOLATE_BILINEAR(), F.Interpolation.BILINEAR.ordinal());
    assertEquals(2, F.Interpolation.values().length);
    assertEquals(CM_PAD_CONSTANT(), F.PadMode.CONSTANT.ordinal());
    assertEquals(CM_PAD_REFLECT(), F.PadMode.REFLECT.ordinal());
    assertEquals(CM_PAD_REPLICATE(), F.PadMode.REPLICATE.ordinal());
    assertEquals(CM_PAD_CIRCULAR(), F.PadMode.CIRCULAR.ordinal());
    assertEquals(4, F.PadMode.values().length);
    assertEquals(CM_REDUCTION_NONE(), F.Reduction.NONE.ordinal());
    assertEquals(CM_REDUCTION_MEAN(), F.Reduction.MEAN.ordinal());
    assertEquals(CM_REDUCTION_SUM(), F.Reduction.SUM.ordinal());
    assertEquals(3, F.Reduction.values().length);
  }

  @Test
  void deviceCodesAreTheHeaderEncoding() {
    assertEquals(CM_DEVICE_CPU(), Device.CPU.code());
    assertEquals(3, Device.cuda(3).code());
    assertEquals(CM_DEVICE_PRIVATEUSE1_BASE() - 2, Device.privateUse1(2).code());
  }
}
