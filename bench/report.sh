#!/usr/bin/env bash
# What the auditor's commands cost on a large ledger: fills one with N records of deploy
# traffic (bench/ledger_fill: sessions of four approved statements with outcomes, a denial,
# one session in a hundred under break-glass), then times `ddlgate report --pubkey`,
# `ddlgate ledger export --rows statements`, `ddlgate evidence export` of the whole ledger and
# `evidence verify` of that pack, and the statement export of a second ledger of N records whose
# sessions never settle (no outcome, never closed), with /usr/bin/time (wall, CPU, peak RSS).
# A command that fails (a whole-ledger pack past what verify reads, from a few hundred thousand
# records on) is listed with its message.
# With `monitor`, only a ledger of N records that holds serve's guard monitor at work too
# (`ledger_fill ... monitor`: an out_of_band record after each session, about one in twelve, and
# guard refusal counts, catalog changes, drift and tampering) is filled, and `ddlgate report
# --pubkey` (with its out-of-band, tampering and drift sections) and `ledger export --rows
# monitor` are timed on it.
# Usage: bench/report.sh [N] [monitor]   (default 1000000; needs a build with bench/ targets)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-1000000}"
mode="${2:-}"
ddlgate="$root/build/cli/ddlgate"
fill="$root/build/bench/ledger_fill"
for f in "$ddlgate" "$fill"; do
  [ -x "$f" ] || { echo "report.sh: $f is missing (scripts/setup.sh builds it)" >&2; exit 2; }
done
command -v /usr/bin/time >/dev/null || { echo "report.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
work="$(mktemp -d /tmp/ddlgate-report-XXXXXX)"
trap 'rm -rf "$work"' EXIT
"$ddlgate" keygen --out "$work/ledger" --use ledger >/dev/null
mkdir -p "$work/registry/shop-7/signatures"
echo '{"bundle":"shop","version":"7"}' >"$work/registry/shop-7/manifest.json"
measure() {
  local label="$1"
  shift
  if ! /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >/dev/null 2>"$work/err"; then
    printf '| %s | failed: %s | | |\n' "$label" "$(tail -n 1 "$work/err")"
    return 0
  fi
  read -r wall user sys rss <"$work/time"
  printf '| %s | %s | %.1f | %d |\n' "$label" "$wall" "$(echo "$user + $sys" | bc)" "$((rss / 1024))"
}
if [ "$mode" = monitor ]; then
  "$fill" "$work/monitor" "$work/ledger.key" "$n" "$work/registry/shop-7" monitor >/dev/null
  "$ddlgate" ledger export "$work/monitor" --rows monitor --format csv --out "$work/m.csv"
  echo "ledger: $(du -sh "$work/monitor" | cut -f1), $(($(wc -l <"$work/m.csv") - 1)) monitor rows" \
    "($(grep -c ',out_of_band,' "$work/m.csv") out_of_band from the guard), $(date -u +%Y-%m-%dT%H:%MZ)," \
    "$(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
  echo "| command | wall s | CPU s | peak RSS MB |"
  echo "|---|---:|---:|---:|"
  measure "ddlgate report --pubkey (with out-of-band records)" \
    "$ddlgate" report --ledger "$work/monitor" --pubkey "$work/ledger.pub" --out "$work/r.html"
  measure "ddlgate ledger export --rows monitor --format csv" \
    "$ddlgate" ledger export "$work/monitor" --rows monitor --format csv --out "$work/m.csv"
  echo "report page: $(du -k "$work/r.html" | cut -f1) KB"
  exit 0
fi
"$fill" "$work/dir" "$work/ledger.key" "$n" "$work/registry/shop-7" >/dev/null
"$fill" "$work/unsettled" "$work/ledger.key" "$n" - unsettled >/dev/null
echo "ledger: $(du -sh "$work/dir" | cut -f1), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "| command | wall s | CPU s | peak RSS MB |"
echo "|---|---:|---:|---:|"
measure "ddlgate report --pubkey" "$ddlgate" report --ledger "$work/dir" --pubkey "$work/ledger.pub" --out "$work/r.html"
measure "ddlgate ledger export --rows statements --format csv" \
  "$ddlgate" ledger export "$work/dir" --rows statements --format csv --out "$work/s.csv"
measure "ddlgate evidence export (the whole ledger)" \
  "$ddlgate" evidence export --ledger "$work/dir" --registry "$work/registry" --out "$work/p.zip"
[ -f "$work/p.zip" ] && measure "ddlgate evidence verify (that pack, $(du -m "$work/p.zip" | cut -f1) MB)" \
  "$ddlgate" evidence verify "$work/p.zip" --pubkey "$work/ledger.pub"
measure "ddlgate ledger export --rows statements --format csv, sessions never settled" \
  "$ddlgate" ledger export "$work/unsettled" --rows statements --format csv --out "$work/u.csv"
