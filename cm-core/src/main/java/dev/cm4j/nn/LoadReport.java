package dev.cm4j.nn;

import java.util.List;

/**
 * What a state-dict load did not match.
 *
 * @param missing keys the module has but the state dict lacks
 * @param unexpected keys the state dict has but the module lacks
 * @param shapeMismatched keys present in both whose shapes differ ("key: module [..] vs file [..]")
 */
public record LoadReport(List<String> missing, List<String> unexpected, List<String> shapeMismatched) {
  /** True when every key matched. */
  public boolean clean() {
    return missing.isEmpty() && unexpected.isEmpty() && shapeMismatched.isEmpty();
  }

  @Override
  public String toString() {
    return "missing " + missing.size() + " " + abbreviate(missing) + ", unexpected " + unexpected.size() + " "
        + abbreviate(unexpected) + ", shape-mismatched " + shapeMismatched.size() + " " + abbreviate(shapeMismatched);
  }

  private static String abbreviate(List<String> l) {
    if (l.size() <= 8) return l.toString();
    return l.subList(0, 8) + " ... (" + (l.size() - 8) + " more)";
  }
}
