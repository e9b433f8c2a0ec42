#!/bin/sh
# Stands in for the ddlgate binary in the fixture's own tests: honours
# --ready-file like `ddlgate serve`, exits 0 on SIGTERM, or fails at once with
# --exit-early CODE.
ready=""; early=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ready-file) ready="$2"; shift ;;
    --exit-early) early="$2"; shift ;;
  esac
  shift
done
echo "fake ddlgate: starting" >&2
if [ -n "$early" ]; then
  echo "fake ddlgate: failing with $early" >&2
  exit "$early"
fi
trap 'echo "fake ddlgate: SIGTERM, bye" >&2; exit 0' TERM
printf '127.0.0.1:45678\n/tmp/fake-ddlgate.sock\n' >"$ready.tmp" && mv "$ready.tmp" "$ready"
while :; do sleep 0.05; done
