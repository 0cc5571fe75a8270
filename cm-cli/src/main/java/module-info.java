/**
 * The {@code cm} command. It depends on the cm4j API ({@code dev.cm4j.core}) only, never on the bindings: the
 * bindings module exports its packages to {@code dev.cm4j.core} alone, so this module cannot compile against them.
 *
 * <p>Run it from the class path ({@code ./cm}, {@code java -jar}) with {@code --enable-native-access=ALL-UNNAMED},
 * or from the module path with {@code --enable-native-access=dev.cm4j.bindings,dev.cm4j.core -m
 * dev.cm4j.cli/dev.cm4j.cli.Main}.
 */
module dev.cm4j.cli {
  requires dev.cm4j.core;
  requires org.apache.commons.cli;
  requires java.management; // the launcher reads the JVM's arguments to relaunch with the same ones
}
