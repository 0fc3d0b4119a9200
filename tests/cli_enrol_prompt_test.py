#!/usr/bin/env python3
"""A card confirmed on a terminal (issue 12, finding 6): `wallet init` without --expiry and --cvc
asks for them (the CVC without echo), then for the one-time code the card company sent its
holder; a wrong code is wrong_code, and the first `deposit` asks for the code when the card is
not confirmed yet. Run on a pseudo-terminal against an embedded operator.

usage: cli_enrol_prompt_test.py ECASH
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pty_session  # noqa: E402
from pty_session import check  # noqa: E402

ECASH = sys.argv[1]


def run(args, answer):
    return pty_session.run(ECASH, args, answer)


def ecash(*args):
    return subprocess.run([ECASH, *args], capture_output=True, text=True, check=True).stdout.strip()


folder = tempfile.mkdtemp()
try:
    op = folder + "/op"
    ecash("operator", "init", "--data", op)
    ecash("sandbox", "card", "4111111111111111", "--expiry", "08/29", "--cvc", "737", "--data", op)

    def alice(out):
        last = out.rstrip().splitlines()[-1]
        if "passphrase" in last:
            return ""
        if "expiry" in last:
            return "08/29"
        if "CVC" in last:
            return "737"
        return ecash("sandbox", "code", "4111111111111111", "--data", op)

    out, code = run(["wallet", "--home", folder + "/alice", "init", "--operator", op, "--name", "Alice",
                     "--card", "4111111111111111"], alice)
    check(code == 0, "init on a terminal", out)
    check("your card's expiry (MM/YY):" in out and "your card's CVC" in out, "expiry and CVC not asked", out)
    check("737" not in out, "the CVC was shown", out)
    check("card confirmed: deposits may charge it" in out, "the code not asked or taken", out)
    check("deposited EUR:10.00" in ecash("wallet", "--home", folder + "/alice", "deposit", "10.00"),
          "a deposit after init confirmed the card", "")

    # Bob gives the details; a wrong code is refused, and the first deposit asks again.
    def wrong(out):
        return "" if "passphrase" in out.rstrip().splitlines()[-1] else "000000"

    args = ["wallet", "--home", folder + "/bob", "init", "--operator", op, "--name", "Bob",
            "--card", "5555555555554444", "--expiry", "12/30", "--cvc", "123"]
    ecash("sandbox", "card", "5555555555554444", "--data", op)
    out, code = run(args, wrong)
    pending = ecash("sandbox", "code", "5555555555554444", "--data", op)
    if pending == "000000":  # one chance in a million: the wrong code was the right one
        sys.exit(0)
    check(code != 0 and "wrong_code" in out, "a wrong code at init", out)
    out, code = run(["wallet", "--home", folder + "/bob", "deposit", "20.00"], lambda _: pending)
    check("your card is not confirmed yet: the one-time code your card company sent you:" in out,
          "the first deposit did not ask for the code", out)
    check(code == 0 and "deposited EUR:20.00" in out, "the first deposit with the code typed", out)
    print("cli enrol prompt test passed")
finally:
    shutil.rmtree(folder, ignore_errors=True)
