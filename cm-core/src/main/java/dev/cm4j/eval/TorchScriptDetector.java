package dev.cm4j.eval;

import dev.cm4j.jit.ScriptModule;
import dev.cm4j.tensor.DType;
import dev.cm4j.tensor.Device;
import dev.cm4j.tensor.Tensor;
import java.nio.file.Path;

/**
 * A TorchScript feature detector called as EDM's {@code fid.py} calls the Inception-v3 network of StyleGAN2-ADA
 * ({@code inception-2015-12-05.pt}): {@code forward(images_uint8_NCHW, return_features=True)} → [N, 2048]. The
 * detector resizes internally; grayscale images are repeated to 3 channels first, as {@code fid.py} does. The file
 * is user-supplied (a TorchScript archive saved by {@code torch.jit.save}); any network with the same call
 * convention works.
 */
public final class TorchScriptDetector implements FeatureNetwork {
  private final ScriptModule module;

  private TorchScriptDetector(ScriptModule module) {
    this.module = module;
  }

  /** Loads the detector from a TorchScript file onto device, in eval mode. */
  public static TorchScriptDetector load(Path file, Device device) {
    return new TorchScriptDetector(ScriptModule.load(file, device).eval());
  }

  /** Loads the detector onto the CPU. */
  public static TorchScriptDetector load(Path file) {
    return load(file, Device.CPU);
  }

  @Override
  public Tensor features(Tensor images) {
    if (images.dim() != 4 || images.dtype() != DType.UINT8) {
      throw new IllegalArgumentException("the detector takes uint8 images [N, C, H, W], got " + images.dtype() + " "
          + java.util.Arrays.toString(images.shape()));
    }
    Tensor x = images;
    if (x.shape()[1] == 1) x = x.repeat(1, 3, 1, 1);
    else if (x.shape()[1] != 3) throw new IllegalArgumentException("images need 1 or 3 channels, got " + x.shape()[1]);
    Tensor f;
    try (var g = dev.cm4j.tensor.GradMode.noGrad()) {
      f = module.callTensor("forward", x.to(module.device()), true);
    }
    if (f.dim() != 2 || f.shape()[0] != images.shape()[0]) {
      throw new IllegalStateException("detector " + module.path() + " returned " + java.util.Arrays.toString(f.shape())
          + " for " + images.shape()[0] + " images; expected [N, D]");
    }
    return f;
  }

  @Override
  public String name() {
    return module.path().getFileName().toString();
  }

  @Override
  public void close() {
    module.close();
  }
}
