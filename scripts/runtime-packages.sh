#!/usr/bin/env bash
# Prints the Debian packages that ship the shared libraries a binary loads
# (ldd, then dpkg -S), one per line: the runtime stage of the Dockerfile
# installs exactly these. Usage: scripts/runtime-packages.sh BINARY
set -euo pipefail
binary="$1"
if ldd "$binary" | grep -q 'not found'; then
  echo "runtime-packages.sh: $binary has unresolved libraries:" >&2
  ldd "$binary" | grep 'not found' >&2
  exit 1
fi
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
  # Debian 12 has merged /usr, but dpkg's database records either spelling.
  for candidate in "$lib" "/usr$lib" "${lib#/usr}" "$(readlink -f "$lib")"; do
    if owner="$(dpkg -S "$candidate" 2>/dev/null)"; then
      echo "$owner" | head -1 | cut -d: -f1
      continue 2
    fi
  done
  echo "runtime-packages.sh: no Debian package ships $lib" >&2
  exit 1
done | sort -u
