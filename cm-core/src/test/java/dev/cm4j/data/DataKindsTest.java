package dev.cm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataKindsTest {
  @TempDir Path dir;

  @Test
  void pointCloudFilesArePoints() throws Exception {
    for (String f : new String[] {"ring5.npy", "pts.NPZ", "cloud.safetensors"}) {
      Path p = Files.writeString(dir.resolve(f), "x");
      assertEquals(DataKinds.POINTS, DataKinds.infer(p), f);
      assertTrue(DataKinds.isPoints(DataKinds.infer(p)));
    }
  }

  @Test
  void directoriesAreToldApartByTheirLayout() throws Exception {
    Path cifar = Files.createDirectories(dir.resolve("cifar-10-batches-bin"));
    Files.write(cifar.resolve("data_batch_1.bin"), new byte[0]);
    assertEquals(DataKinds.CIFAR10, DataKinds.infer(cifar));
    Path mnist = Files.createDirectories(dir.resolve("fmnist"));
    Files.write(mnist.resolve("train-images-idx3-ubyte.gz"), new byte[0]);
    assertEquals(DataKinds.FASHION_MNIST, DataKinds.infer(mnist));
    Path folder = Files.createDirectories(dir.resolve("pngs"));
    Files.write(folder.resolve("000.png"), new byte[0]);
    assertEquals(DataKinds.FOLDER, DataKinds.infer(folder));
    assertEquals(DataKinds.FOLDER, DataKinds.infer(Files.write(dir.resolve("images.zip"), new byte[0])));
    assertFalse(DataKinds.isPoints(DataKinds.FOLDER));
  }

  @Test
  void whatCannotBeToldIsAnErrorThatSaysWhatToPass() throws Exception {
    DataException e = assertThrows(DataException.class, () -> DataKinds.infer(dir.resolve("missing.npy")));
    assertTrue(e.getMessage().contains("missing.npy") && e.getMessage().contains("no such file"), e.getMessage());
    e = assertThrows(DataException.class, () -> DataKinds.infer(Files.writeString(dir.resolve("pts.csv"), "1,2")));
    assertTrue(e.getMessage().contains("pts.csv") && e.getMessage().contains(".npy"), e.getMessage());
    e = assertThrows(DataException.class,
        () -> DataKinds.infer(Files.write(dir.resolve("data_batch_3.bin"), new byte[0])));
    assertTrue(e.getMessage().contains("pass the directory"), e.getMessage());
    e = assertThrows(DataException.class,
        () -> DataKinds.infer(Files.write(dir.resolve("cifar-10-binary.tar.gz"), new byte[0])));
    assertTrue(e.getMessage().contains("extract"), e.getMessage());
    Path outer = Files.createDirectories(dir.resolve("outer/cifar-10-batches-bin"));
    Files.write(outer.resolve("data_batch_1.bin"), new byte[0]);
    e = assertThrows(DataException.class, () -> DataKinds.infer(dir.resolve("outer")));
    assertTrue(e.getMessage().contains("cifar-10-batches-bin"), e.getMessage());
    e = assertThrows(DataException.class, () -> DataKinds.infer(Files.createDirectories(dir.resolve("empty"))));
    assertTrue(e.getMessage().contains("empty"), e.getMessage());
  }
}
