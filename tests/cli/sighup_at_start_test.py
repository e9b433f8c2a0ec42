#!/usr/bin/env python3
"""A SIGHUP sent the moment ddlgate's ready file appears is a reload, never a death.

systemd's ExecReload, or configuration management that reloads right after a
start, can signal ddlgate as soon as it reports ready. Before the signal_set was
set up ahead of the ready file, a SIGHUP in that gap met the default action and
killed the process (72 of 100 starts of this test on the development VM). The
ready file is polled without sleeping, so the signal lands as early as a client
can send it.

Usage: sighup_at_start_test.py DDLGATE [STARTS]
"""
import os
import signal
import subprocess
import sys
import tempfile
import time


def main() -> int:
    binary = sys.argv[1]
    starts = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    failures = []
    with tempfile.TemporaryDirectory(prefix="ddlgate-sighup-") as work:
        for i in range(starts):
            ready = os.path.join(work, f"ready-{i}")
            log_path = os.path.join(work, f"log-{i}")
            with open(log_path, "wb") as log:
                # Nothing listens on port 1: the proxy starts anyway (it connects per session).
                proc = subprocess.Popen(
                    [binary, "serve", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--ready-file", ready],
                    stdout=subprocess.DEVNULL, stderr=log)
            deadline = time.monotonic() + 30
            while not os.path.exists(ready) and proc.poll() is None and time.monotonic() < deadline:
                pass
            if proc.poll() is not None or not os.path.exists(ready):
                failures.append(f"start {i}: not ready (exit {proc.poll()})")
                proc.kill()
                proc.wait()
                continue
            proc.send_signal(signal.SIGHUP)
            handled = False
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                with open(log_path, "rb") as log:
                    if b"SIGHUP: no configuration file" in log.read():
                        handled = True
                        break
                time.sleep(0.01)
            if proc.poll() is not None:
                failures.append(f"start {i}: the SIGHUP killed ddlgate (exit {proc.returncode})")
                continue
            if not handled:
                failures.append(f"start {i}: no reload logged after the SIGHUP")
            proc.terminate()
            try:
                code = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            if code != 0:
                failures.append(f"start {i}: SIGTERM after the reload gave exit {code}")
    for f in failures:
        print(f, file=sys.stderr)
    print(f"{starts - len(failures)} of {starts} starts took a SIGHUP at readiness as a reload")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
