"""Run one command and report its wall time and peak RSS, from a small process of its own.

    python -S -I _spawn.py RESULT_FD ARGV...

Why a separate launcher: on Linux, exec() records the peak RSS of the memory image it replaces in
the process's ru_maxrss. A child spawned straight from the harness (fork or vfork) therefore
reports at least the harness's own peak (hundreds of MiB once a sandbox has served a big log), as
if the tool had used it. Forked from this ~7 MiB launcher instead, the floor is ~7 MiB.

Prints nothing; writes `{"started", "ended", "status", "maxrss_kib", "cpu_seconds"}` as JSON to
RESULT_FD (CPU = user + system time of the command and the children it waited for). The
command inherits stdin, stdout, stderr, cwd and environment. Times are CLOCK_MONOTONIC, which is
system-wide, so the harness can compare them with its own time.monotonic().
"""

import json
import os
import sys
import time


def main() -> None:
    result_fd, argv = int(sys.argv[1]), sys.argv[2:]
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(result_fd)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)  # exec failed (not found, not executable)
    _, status, usage = os.wait4(pid, 0)
    ended = time.monotonic()
    report = {
        "started": started,
        "ended": ended,
        "status": status,
        "maxrss_kib": usage.ru_maxrss,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }
    os.write(result_fd, json.dumps(report).encode())


if __name__ == "__main__":
    main()
