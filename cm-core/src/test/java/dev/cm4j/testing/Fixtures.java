package dev.cm4j.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The upstream reference fixtures the tests compare against, in cm-core/src/test/resources/reference (on the test
 * class path as reference/...). tools/make_reference_fixtures.py rebuilds them from EDM's and ECT's own code.
 */
public final class Fixtures {
  private Fixtures() {}

  /** The path of a reference fixture, e.g. "songunet-ddpmpp-small.safetensors"; fails the test when it is missing. */
  public static Path reference(String name) {
    URL url = Fixtures.class.getResource("/reference/" + name);
    if (url == null) fail("reference fixture " + name + " is not on the test class path (cm-core/src/test/resources/reference)");
    if (!"file".equals(url.getProtocol())) fail("reference fixture " + name + " is not a plain file: " + url);
    try {
      Path p = Path.of(url.toURI());
      if (!Files.isRegularFile(p)) fail("reference fixture " + name + " is not a regular file: " + p);
      return p;
    } catch (URISyntaxException e) {
      throw new IllegalStateException(url.toString(), e);
    }
  }
}
