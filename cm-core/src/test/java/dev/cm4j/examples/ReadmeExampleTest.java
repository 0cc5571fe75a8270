package dev.cm4j.examples;

import static org.junit.jupiter.api.Assertions.*;

import dev.cm4j.data.IdxDataset;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReadmeExampleTest {
  @Test
  void theReadmeExampleIsTheCompiledOneAndItRuns(@TempDir Path dir) throws Exception {
    // The README's Java block must be exactly this example's body.
    Path root = Path.of(System.getProperty("cm4j.root", "../.."));
    String src = Files.readString(root.resolve("cm-core/src/test/java/dev/cm4j/examples/ReadmeExample.java"));
    String body = src.substring(src.indexOf("// README-BEGIN") + 16, src.indexOf("// README-END")).stripIndent();
    String readme = Files.readString(root.resolve("README.md"));
    assertTrue(readme.contains(body.strip()), "README.md must contain ReadmeExample's body verbatim");
    assertTrue(IdxDataset.debianFashionMnist(true).isPresent(), "dataset-fashion-mnist is installed by install-deps");
    Path png = dir.resolve("samples.png");
    ReadmeExample.main(new String[] {"4", png.toString()});
    assertTrue(Files.size(png) > 100);
  }
}
