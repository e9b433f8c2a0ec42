#!/usr/bin/env bash
# Fetches Debian's postgresql-15 source package and unpacks it into a cache
# outside the clone (default /var/cache/ddlgate/postgresql-15/source), once:
# ddlgate compiles PostgreSQL's own encoding conversion maps from it
# (protocol/src/pg_maps.c; CMake's DDLGATE_PG_SOURCE_DIR), and no PostgreSQL
# source is committed to this repository. Idempotent; prints the source dir.
# The version is the installed server's (the tests compare against it), else
# the newest the mirrors offer.
# Usage: scripts/pg-source.sh [cache-dir]
set -euo pipefail
cache="${1:-${DDLGATE_PG_CACHE:-/var/cache/ddlgate/postgresql-15}}"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

version="$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null || true)"
if [ -f "$cache/source/src/backend/utils/mb/Unicode/sjis_to_utf8.map" ] &&
   { [ -z "$version" ] || [ "$(cat "$cache/source/.debian-version" 2>/dev/null)" = "$version" ]; }; then
  echo "$cache/source"
  exit 0
fi
# deb-src entries: the same mirrors and suites as the binary packages.
offered="$(apt-cache showsrc postgresql-15 2>/dev/null || true)"
if ! grep -q "^Version: ${version:-}" <<<"$offered"; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
    $sudo_cmd tee /etc/apt/sources.list.d/ddlgate-src.sources >/dev/null
  $sudo_cmd apt-get update -qq >&2
  offered="$(apt-cache showsrc postgresql-15)"
fi
[ -n "$version" ] || version="$(sed -n 's/^Version: //p' <<<"$offered" | sort -V | tail -1)"
echo "pg-source: fetching the postgresql-15 $version source package into $cache" >&2
$sudo_cmd mkdir -p "$cache"
$sudo_cmd chown "$(id -u):$(id -g)" "$cache"
(cd "$cache" && apt-get source --download-only -qq "postgresql-15=$version" >/dev/null 2>&1)
upstream="${version%%-*}"
rm -rf "$cache/source.tmp"
mkdir "$cache/source.tmp"
tar -xjf "$cache/postgresql-15_${upstream}.orig.tar.bz2" -C "$cache/source.tmp" --strip-components=1
echo "$version" >"$cache/source.tmp/.debian-version"
rm -rf "$cache/source"
mv "$cache/source.tmp" "$cache/source"
echo "$cache/source"
