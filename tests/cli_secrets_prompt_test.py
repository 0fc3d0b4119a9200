#!/usr/bin/env python3
"""Key files sealed with a passphrase typed on a terminal (issue 12, finding 5): `operator init` on
a terminal asks for one twice without echo ("passphrase to seal the keys (empty for none)"), a
later command asks once when it meets a sealed file, a wrong answer is refused with
bad_passphrase, and an empty answer at init leaves the keys in clear as before. Run on a
pseudo-terminal (pty), as a person would type."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pty_session  # noqa: E402
from pty_session import check  # noqa: E402

ECASH = sys.argv[1]


def run(args, answers):
    """Runs ecash ARGS on a pty, typing each answer after a prompt; (output, exit code)."""
    return pty_session.run(ECASH, args, answers)


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
