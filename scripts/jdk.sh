#!/usr/bin/env bash
# Prints the home of a JDK >= 22: $JAVA_HOME if it qualifies, else `java` on PATH, else the newest under
# /usr/lib/jvm (and a few usual places). Exits 2 with a message if there is none.
set -euo pipefail
major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'; }
ok() { [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] && [ "$(major "$1")" -ge 22 ] 2>/dev/null; }
if [ -n "${JAVA_HOME:-}" ] && ok "$JAVA_HOME"; then echo "$JAVA_HOME"; exit 0; fi
cands=()
if command -v javac >/dev/null 2>&1; then cands+=("$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"); fi
for d in /usr/lib/jvm/* /opt/java/* /opt/jdk* "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/*; do [ -d "$d" ] && cands+=("$d"); done
best=""; bestv=0
for c in "${cands[@]}"; do
  if ok "$c"; then v=$(major "$c"); if [ "$v" -gt "$bestv" ]; then best=$c; bestv=$v; fi; fi
done
[ -n "$best" ] || { echo "no JDK >= 22 found (set JAVA_HOME to one; e.g. apt-get install openjdk-25-jdk or Temurin 25)" >&2; exit 2; }
echo "$best"
