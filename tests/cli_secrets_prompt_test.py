#!/usr/bin/env python3
"""Key files sealed with a passphrase typed on a terminal (issue 12, finding 5): `operator init` on
a terminal asks for one twice without echo ("passphrase to seal the keys (empty for none)"), a
later command asks once when it meets a sealed file, a wrong answer is refused with
bad_passphrase, and an empty answer at init leaves the keys in clear as before. Run on a
pseudo-terminal (pty), as a person would type."""
import os
import pty
import select
import shutil
import sys
import tempfile
import time

ECASH = sys.argv[1]


def run(args, answers):
    """Runs ecash ARGS on a pty, typing each answer after a prompt; (output, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.pop("ECASH_PASSPHRASE", None)
        os.execv(ECASH, [ECASH] + args)
    out = b""
    answers = list(answers)
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
        if answers and out.rstrip().endswith(b":"):
            time.sleep(0.1)
            os.write(fd, answers.pop(0).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def check(condition, what, output):
    if not condition:
        print("FAILED:", what)
        print(output)
        sys.exit(1)


folder = tempfile.mkdtemp()
try:
    secret = "typed on a terminal 7"
    out, code = run(["operator", "init", "--data", folder + "/op"], [secret, secret])
    check(code == 0, "operator init with a typed passphrase", out)
    check("passphrase to seal the keys (empty for none)" in out, "init did not offer it", out)
    check(secret not in out, "the passphrase was echoed", out)
    with open(folder + "/op/ca/ca.keys") as keys:
        check(keys.readline().strip() == "ecash-sealed-v1", "ca.keys not sealed", out)

    out, code = run(["operator", "report", "--data", folder + "/op", "--books-only"], [secret])
    check(code == 0 and out.count("passphrase for") == 1, "a later command: asked once, opened", out)
    out, code = run(["operator", "report", "--data", folder + "/op", "--books-only"], ["wrong"])
    check(code != 0 and "bad_passphrase" in out, "a wrong passphrase: bad_passphrase", out)

    out, code = run(["operator", "init", "--data", folder + "/clear"], [""])
    check(code == 0, "operator init without a passphrase", out)
    with open(folder + "/clear/ca/ca.keys") as keys:
        check(keys.readline().strip() == "ecash-party-keys-v1", "empty answer: keys in clear", out)
    out, code = run(["operator", "report", "--data", folder + "/clear", "--books-only"], [])
    check(code == 0 and "passphrase" not in out, "clear keys: nothing asked", out)
    print("cli secrets prompt test passed")
finally:
    shutil.rmtree(folder)
