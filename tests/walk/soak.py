#!/usr/bin/env python3
"""The soak test: random flows from several wallets while servers are killed and restarted.

Three wallets, each used by one person (one command at a time), deposit, pay a shop's orders,
hand money to each other offline and sync, for a bounded time, while a killer sends SIGKILL at
random to a role process (CA, center, bank, clearing), the institutions' sandbox or the shop's
till, restarting it on its port after a random pause, and now and then kills a user's command
mid-flight. Every command that fails is run again as its user would. At the end everything is
synced and paid out, and:
  - the operator's audit passes and its report is balanced with the institutions' statements;
  - each wallet holds exactly what its user's successful commands say (deposits - payments -
    sent + received), each card was charged exactly the deposits made from it, and the shop's
    bank account received exactly what was paid.

  soak.py ECASH --seconds 60 [--operations N]
"""

import argparse
import atexit
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ecash_system import CARDS, DONE, private_copy, ROLES, SHOP_ACCOUNT, Failure, System, make_template  # noqa: E402

WALLETS = ("alice", "bob", "carol")
KILLABLE = ("sandbox",) + ROLES + ("till",)


def cents(text):
    """'EUR:12.34' or '12.34' -> 1234."""
    text = text.split(":")[-1]
    units, _, frac = text.partition(".")
    return int(units) * 100 + int((frac + "00")[:2]) * (-1 if units.startswith("-") else 1)


def amount(minor):
    return f"{minor // 100}.{minor % 100:02d}"


class Soak:
    def __init__(self, system, seed, kill_chance):
        self.s = system
        self.rng = random.Random(seed)
        self.kill_chance = kill_chance
        self.model = {w: {"deposited": 0, "paid": 0, "sent": 0, "received": 0} for w in WALLETS}
        self.locks = {w: threading.Lock() for w in WALLETS + ("shop",)}
        self.counts = {"deposit": 0, "pay": 0, "transfer": 0, "sync": 0, "payout": 0, "kills": 0}
        self.deposits = {}
        self.stop = threading.Event()
        self.max_operations = 0
        self.error = None
        self.url = None

    def do(self, who, args, rng, stdin=None, out=None):
        def then(failed):
            # Told to sync first (a payment while value received offline is not yet reconciled).
            if "run sync first" in failed.stderr:
                self.do(who, ["sync"], rng)
        return self.s.run_until_done(who, args, stdin=stdin, out=out, tries=20,
                                     kill_chance=self.kill_chance, rng=rng, revive=False, then=then,
                                     seen=DONE[args[0]])

    def balance(self, who):
        m = self.model[who]
        return m["deposited"] - m["paid"] - m["sent"] + m["received"]

    # --- the flows ------------------------------------------------------------------------
    def deposit(self, who, rng):
        minor = rng.randint(100, 3000)
        self.do(who, ["deposit", amount(minor)], rng)
        self.model[who]["deposited"] += minor
        self.deposits.setdefault(who, []).append(minor)
        self.counts["deposit"] += 1

    def pay(self, who, rng):
        minor = rng.randint(50, 1500)
        if self.balance(who) < minor:
            return self.deposit(who, rng)
        with self.locks["shop"]:
            order = os.path.join(self.s.dir, f"order-{who}")
            self.do("shop", ["order", amount(minor), "--item", "soak"], rng, out=order)
        self.do(who, ["pay", order], rng)
        self.model[who]["paid"] += minor
        self.counts["pay"] += 1

    def transfer(self, sender, receiver, rng):
        # Offline value only from what was synced: the wallet's own offline limits apply.
        minor = rng.randint(50, 1000)
        if self.balance(sender) < minor + 100:
            return self.deposit(sender, rng)
        base = os.path.join(self.s.dir, f"{sender}-{receiver}")
        self.do(receiver, ["receive", amount(minor)], rng, out=base + ".request")
        self.do(sender, ["send", base + ".request"], rng, out=base + ".transfer")
        self.do(receiver, ["accept"], rng, stdin=base + ".transfer", out=base + ".ack")
        self.do(sender, ["confirm", base + ".ack"], rng)
        self.model[sender]["sent"] += minor
        self.model[receiver]["received"] += minor
        self.counts["transfer"] += 1
        # Synced at once, so the offline limits (a day's worth) are not what the soak measures.
        self.do(sender, ["sync"], rng)
        self.do(receiver, ["sync"], rng)

    def payout(self, rng):
        with self.locks["shop"]:
            r = self.do("shop", ["payout"], rng)
        self.counts["payout"] += 1
        return r

    def person(self, who, seed):
        rng = random.Random(seed)
        try:
            while not self.stop.is_set():
                done = self.counts["deposit"] + self.counts["pay"] + self.counts["transfer"]
                if self.max_operations and done >= self.max_operations:
                    self.stop.set()
                    break
                pick = rng.random()
                if pick < 0.3:
                    with self.locks[who]:
                        self.deposit(who, rng)
                elif pick < 0.7:
                    with self.locks[who]:
                        self.pay(who, rng)
                elif pick < 0.9:
                    other = rng.choice([w for w in WALLETS if w != who])
                    first, second = sorted((who, other))
                    with self.locks[first], self.locks[second]:
                        self.transfer(who, other, rng)
                elif pick < 0.95:
                    with self.locks[who]:
                        self.do(who, ["sync"], rng)
                        self.counts["sync"] += 1
                else:
                    self.payout(rng)
        except Failure as e:
            self.error = f"{who}: {e}"
            self.stop.set()

    def killer(self, seed):
        rng = random.Random(seed)
        while not self.stop.wait(rng.uniform(0.5, 3.0)):
            victim = rng.choice(KILLABLE)
            self.s.kill(victim)
            self.counts["kills"] += 1
            self.stop.wait(rng.uniform(0.0, 3.0))  # some outages outlast the clients' own retries
            self.revive()
        self.revive()  # what was killed last is started again when the time is up, too

    def revive(self):
        try:
            self.s.revive()
        except Failure as e:
            self.error = f"restarting: {e}"
            self.stop.set()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ecash")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--operations", type=int, default=0,
                    help="stop after this many deposits, payments and transfers too (0: no bound)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--kill-commands", type=float, default=0.05,
                    help="the chance that a user's command is killed mid-flight")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--log", help="write every command run and what it said to this file")
    args = ap.parse_args()
    ecash = os.path.abspath(args.ecash)
    seed = args.seed if args.seed is not None else int(time.time())
    started = time.time()
    work = tempfile.mkdtemp(prefix="ecash-soak-")
    atexit.register(shutil.rmtree, work, True)
    ecash = private_copy(ecash, work)
    template = make_template(ecash, work)
    system = System(ecash, template, keep=args.keep)
    soak = Soak(system, seed, args.kill_commands)
    soak.max_operations = args.operations
    try:
        system.start_operator()
        url = f"https://127.0.0.1:{system.ports['center']}"
        rng = random.Random(seed)
        for who in WALLETS:
            system.run_until_done(who, ["init", "--operator", url, "--name", who.title(), "--card", CARDS[who]])
            system.confirm_card(who)
            soak.deposit(who, rng)  # a user is known to the bank from the first deposit
        system.run_until_done("shop", ["init", "--operator", url, "--name", "Corner Cafe",
                                       "--account", SHOP_ACCOUNT])
        system.start("till")
        people = [threading.Thread(target=soak.person, args=(who, seed + i + 1))
                  for i, who in enumerate(WALLETS)]
        killer = threading.Thread(target=soak.killer, args=(seed + 100,))
        for t in people + [killer]:
            t.start()
        soak.stop.wait(args.seconds)
        soak.stop.set()
        for t in people + [killer]:
            t.join()
        if soak.error:
            raise Failure(soak.error)

        # Everything settled: every wallet synced, the shop paid out, the audit passed.
        system.revive()
        soak.payout(rng)
        system.settle_and_audit(wallets=WALLETS, seconds=120)
        totals = system.totals(wallets=WALLETS)
        wrong = []
        for who in WALLETS:
            expected = soak.balance(who)
            held, uncleared = totals[f"wallet {who}"]
            if cents(held) != expected or cents(uncleared) != 0:
                wrong.append(f"{who} holds {held} (uncleared {uncleared}), expected {amount(expected)}")
            charged = totals.get(f"card {CARDS[who][-4:]}", 0)
            if charged != soak.model[who]["deposited"]:
                wrong.append(f"{who}'s card was charged {amount(charged)}, "
                             f"deposits were {amount(soak.model[who]['deposited'])}")
        paid = sum(m["paid"] for m in soak.model.values())
        received = totals.get(f"bank account {SHOP_ACCOUNT[-4:]}", 0)
        if received != paid:
            wrong.append(f"the shop's bank account received {amount(received)}, paid {amount(paid)}")
        if wrong:
            import sqlite3
            with sqlite3.connect(os.path.join(system.op, "sandbox", "card_company.db")) as db:
                for who in WALLETS:
                    # Numbers are sealed; cards were opened in CARDS' order (make_template).
                    charged = [m for (m,) in db.execute(
                        "SELECT c.minor FROM charges c JOIN cards k ON k.card_key = c.card_key "
                        "WHERE k.rowid = ? ORDER BY c.seq", (list(CARDS).index(who) + 1,))]
                    extra = list(charged)
                    for m in soak.deposits.get(who, []):
                        if m in extra:
                            extra.remove(m)
                    if extra:
                        wrong.append(f"{who}'s card charges not asked for: {extra}")
            raise Failure("; ".join(wrong))
        print(f"soak: {time.time() - started:.0f} s, seed {seed}: "
              + ", ".join(f"{v} {k}" for k, v in soak.counts.items())
              + f", {sum('killed after' in line for line in system.log)} commands killed, "
              f"{sum('-> ' in line and ' -> 0:' not in line for line in system.log)} commands failed and run again, "
              f"{system.restarts} restarts; "
              f"deposited EUR {amount(sum(m['deposited'] for m in soak.model.values()))}, "
              f"paid EUR {amount(paid)}; audit passed, balanced with the institutions, "
              "every wallet, card and bank account as expected")
        return 0
    except Failure as e:
        print(f"FAILED (seed {seed}): {e}")
        with tempfile.NamedTemporaryFile("w", prefix="ecash-soak-", suffix=".log", delete=False) as f:
            f.write("\n".join(system.log))
            print(f"every command it ran: {f.name}")
        for line in system.log[-40:]:
            print("    " + line)
        for name in KILLABLE:
            tail = system.tail(name, 8)
            if tail:
                print(f"--- {name}\n{tail}")
        return 1
    finally:
        if args.log:
            with open(args.log, "w") as f:
                f.write("\n".join(system.log))
        system.stop()


if __name__ == "__main__":
    sys.exit(main())
