"""Runs the ecash binary on a pseudo-terminal, as a person types at it: shared by the tests of
what commands ask on a terminal (a passphrase, a card's details and one-time code)."""
import os
import pty
import select
import sys
import time


def run(ecash, args, answers):
    """Runs ecash ARGS on a pty; at each new question (the output then ending in ':') types the
    next of `answers` (a list), or what answers(output so far) gives. (output, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.pop("ECASH_PASSPHRASE", None)
        os.execv(ecash, [ecash] + args)
    pending = None if callable(answers) else list(answers)
    out = b""
    asked = 0
    deadline = time.time() + 60
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if out.rstrip().endswith(b":") and out.count(b":") > asked and (pending is None or pending):
            asked = out.count(b":")
            time.sleep(0.1)
            line = answers(out.decode(errors="replace")) if pending is None else pending.pop(0)
            os.write(fd, line.encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def check(condition, what, output):
    """Stops the test, saying what failed and what was printed, unless condition holds."""
    if not condition:
        print("FAILED:", what)
        print(output)
        sys.exit(1)
