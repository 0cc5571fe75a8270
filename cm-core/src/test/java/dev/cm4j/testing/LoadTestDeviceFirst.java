package dev.cm4j.testing;

import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Loads the test device library before the first test class of the test JVM runs. libtorch's autograd engine sizes
 * its per-device ready queues once, at the first backward pass of the process, from the device types registered then;
 * a device type registered later has no queue, and its first backward fails with libtorch's internal assertion on
 * {@code device_ready_queues_}. So a suite in which a CPU test runs backward before a test-device test would fail by
 * test order alone. Registered for every test class through JUnit's extension auto-detection
 * (META-INF/services and junit-platform.properties). A library that cannot load is not reported here: the tests that
 * use the device fail with {@link TestDevice}'s message.
 */
public final class LoadTestDeviceFirst implements BeforeAllCallback {
  private static boolean tried;

  @Override
  public void beforeAll(ExtensionContext context) {
    synchronized (LoadTestDeviceFirst.class) {
      if (tried) return;
      tried = true;
    }
    try {
      TestDevice.device();
    } catch (Throwable e) { // NOPMD: reported by the tests that use the device
      // nothing to do here
    }
  }
}
