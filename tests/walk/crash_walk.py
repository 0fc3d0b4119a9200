#!/usr/bin/env python3
"""The crash walk: a crash at every step of every flow, then a restart, a retry, and an audit.

A reference run takes every flow once (enrolment, a shop's registration, deposits, an order and its
payment, an offline transfer with its acknowledgement, syncs, a payout) with every process, servers
and devices alike, listing the failpoints it passes (ECASH_FAILPOINT_LOG): before and after each
store's commit, before and after each call to another party, and before each answer. Each point
reached in each flow is a crash target; the walk then runs the same flows once per target, with
that process crashing there (ECASH_FAILPOINT, as kill -9 would), restarts what died on its port,
runs the failed command again as its user would, and at the end syncs every wallet, waits for the
audit (books and the institutions' statements) to pass, and compares the totals per wallet, per
card and per bank account with the reference run's. Nothing may be created, lost or moved twice.

  crash_walk.py ECASH                 the whole walk
  crash_walk.py ECASH --budget 480    the most valuable targets first, then a rotating share of
                                      the others, until 480 s are spent (CI)
  crash_walk.py ECASH --list          the targets, and stop
"""

import argparse
import atexit
import collections
import concurrent.futures
import datetime
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ecash_system import CARDS, DONE, private_copy, FAILPOINT_EXIT, ROLES, SHOP_ACCOUNT, Failure, System, make_template  # noqa: E402

SERVERS = ("sandbox",) + ROLES + ("till",)

# (flow, who, arguments, stdin file, stdout file): the flows in the order a user takes them.
# Arguments name files in the run's folder as {name}; the center's address as {url}.
STEPS = [
    ("enrol", "alice", ["init", "--operator", "{url}", "--name", "Alice", "--card", CARDS["alice"]], None, None),
    ("enrol", "bob", ["init", "--operator", "{url}", "--name", "Bob", "--card", CARDS["bob"]], None, None),
    # Each card confirmed by its holder (issue 12, finding 6): details, then the code the sandbox
    # sent ({code_WHO}, read when the step runs).
    ("verify card", "alice", ["verify-card", "--expiry", "12/30", "--cvc", "123"], None, None),
    ("confirm card", "alice", ["confirm-card", "{code_alice}"], None, None),
    ("verify card", "bob", ["verify-card", "--expiry", "12/30", "--cvc", "123"], None, None),
    ("confirm card", "bob", ["confirm-card", "{code_bob}"], None, None),
    ("register", "shop", ["init", "--operator", "{url}", "--name", "Corner Cafe", "--account", SHOP_ACCOUNT],
     None, None),
    ("start", "till", None, None, None),
    ("deposit", "alice", ["deposit", "50.00"], None, None),
    ("deposit", "bob", ["deposit", "20.00"], None, None),
    ("order", "shop", ["order", "12.50", "--item", "flat white"], None, "order"),
    ("pay", "alice", ["pay", "{order}"], None, None),
    ("order", "shop", ["order", "40.00", "--item", "a bag of beans"], None, "order2"),
    ("pay --top-up", "bob", ["pay", "--top-up", "{order2}"], None, None),
    ("receive", "bob", ["receive", "15.00"], None, "request"),
    ("send", "alice", ["send", "{request}"], None, "transfer"),
    ("accept", "bob", ["accept"], "transfer", "ack"),
    ("confirm", "alice", ["confirm", "{ack}"], None, None),
    ("sync", "bob", ["sync"], None, None),
    ("sync", "alice", ["sync"], None, None),
    ("payout", "shop", ["payout"], None, None),
]

MONEY_FLOWS = ("deposit", "pay", "pay --top-up", "payout", "sync", "send", "accept")


def read_points(path):
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except OSError:
        return []


def run_flows(system, target=None, log_dir=None):
    """Takes every step once. `target` = (where, point, n): `where` a server's name or a step's
    index. With `log_dir`, every process lists the points it passes there, and the server logs'
    lengths at the start of each step are returned."""
    def log_env(name):
        return {"ECASH_FAILPOINT_LOG": os.path.join(log_dir, f"{name}.points")} if log_dir else {}

    def fail_env(where):
        if target and target[0] == where:
            return {"ECASH_FAILPOINT": f"{target[1]}#{target[2]}"}
        return {}

    for name in SERVERS:
        system.envs[name] = {**log_env(name), **fail_env(name)}
    marks = []
    system.start("sandbox")
    for role in ROLES:
        system.start(role)
    url = f"https://127.0.0.1:{system.ports['center']}"
    files = {}
    for index, (flow, who, args, stdin, out) in enumerate(STEPS):
        if log_dir:
            marks.append({n: len(read_points(os.path.join(log_dir, f"{n}.points"))) for n in SERVERS})
        if flow == "start":
            system.revive()
            system.start(who)
            continue
        codes = {f"code_{who}": system.card_code(who)} if any("{code_" in a for a in args) else {}
        argv = [a.format(url=url, **files, **codes) for a in args]
        out_path = os.path.join(system.dir, out) if out else None
        env = {**log_env(f"step{index}"), **fail_env(index)}
        system.run_until_done(who, argv, env=env, stdin=files.get(stdin), out=out_path,
                              seen=DONE[argv[0]])
        if out:
            files[out] = out_path
    if log_dir:
        marks.append({n: len(read_points(os.path.join(log_dir, f"{n}.points"))) for n in SERVERS})
    # Every process still running is kept so, with what it passed: a crash in a process while it
    # starts (a migration's commit) also counts.
    system.revive()
    return marks


def targets_from(log_dir, marks):
    """(flow, where, point, n) for each point each flow reaches, once per flow and process."""
    seen = set()
    out = []

    def add(flow, where, kind, point, n, k):
        # Every time a flow passes a point (the k-th time in that step): a flow taken twice (two
        # deposits) is walked once.
        key = (flow, kind, point, k)
        if key not in seen:
            seen.add(key)
            out.append((flow, where, point, n))

    for name in SERVERS:
        points = read_points(os.path.join(log_dir, f"{name}.points"))
        counts = collections.Counter()
        in_step = collections.Counter()
        last_step = None
        for line, point in enumerate(points):
            counts[point] += 1
            if line >= marks[-1][name]:
                break  # the settling after the flows
            step = sum(1 for m in marks[:-1] if m[name] <= line) - 1
            if step != last_step:
                in_step.clear()
                last_step = step
            in_step[point] += 1
            flow = "start" if step < 0 else STEPS[step][0]
            if flow == "start" and step >= 0:
                flow = f"start {STEPS[step][1]}"
            add(flow, name, name, point, counts[point], in_step[point])
    for index, (flow, who, *_rest) in enumerate(STEPS):
        counts = collections.Counter()
        for point in read_points(os.path.join(log_dir, f"step{index}.points")):
            counts[point] += 1
            add(flow, index, "wallet" if who in CARDS else who, point, counts[point], counts[point])
    return out


def describe(target):
    flow, where, point, n = target
    who = where if isinstance(where, str) else STEPS[where][1]
    return f"{flow:12} {who:9} {point}#{n}"


def value(target):
    """The most valuable first: servers' commits and calls in flows that move money, then the
    devices' in those flows, then the rest."""
    flow, where, point, _ = target
    if flow in MONEY_FLOWS and isinstance(where, str):
        return 0
    if flow in MONEY_FLOWS:
        return 1
    return 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ecash")
    ap.add_argument("--budget", type=float, default=0, help="seconds to spend (0: the whole walk)")
    ap.add_argument("--seed", type=int, default=None, help="order of the rotating share (default: today)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="targets whose description holds this text")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep a failed run's folder")
    args = ap.parse_args()
    ecash = os.path.abspath(args.ecash)
    started = time.time()

    work = tempfile.mkdtemp(prefix="ecash-crash-walk-")
    atexit.register(shutil.rmtree, work, True)
    ecash = private_copy(ecash, work)
    template = make_template(ecash, work)

    # The reference run, listing the points.
    log_dir = os.path.join(work, "points")
    os.makedirs(log_dir)
    reference_system = System(ecash, template)
    try:
        marks = run_flows(reference_system, log_dir=log_dir)
        reference_system.settle_and_audit()
        reference = reference_system.totals()
    finally:
        reference_system.stop()
    targets = targets_from(log_dir, marks)
    seed = args.seed if args.seed is not None else datetime.date.today().toordinal()
    rng = random.Random(seed)
    rng.shuffle(targets)
    targets.sort(key=value)
    if args.only:
        targets = [t for t in targets if args.only in describe(t)]
    by_kind = collections.Counter("server" if isinstance(t[1], str) else "device" for t in targets)
    print(f"crash walk: {len(targets)} crash points ({by_kind['server']} on servers, "
          f"{by_kind['device']} on devices) over {len(set(t[0] for t in targets))} flows; "
          f"reference run {time.time() - started:.1f} s; seed {seed}", flush=True)
    if args.list:
        for t in targets:
            print("  " + describe(t))
        return 0

    lock = threading.Lock()
    results = {"passed": 0, "not reached": 0, "failed": []}
    deadline = started + args.budget if args.budget else None

    def walk(target):
        if deadline and time.time() > deadline:
            return None
        system = System(ecash, template, keep=args.keep)
        try:
            run_flows(system, target=target[1:])
            system.settle_and_audit()
            totals = system.totals()
            crashed = any(f"exited {FAILPOINT_EXIT}" in line or f"-> {FAILPOINT_EXIT}:" in line
                          or "crashed at start" in line for line in system.log)
            differs = {k: (reference.get(k), totals.get(k)) for k in set(reference) | set(totals)
                       if reference.get(k) != totals.get(k)}
            if differs:
                return ("failed", target, f"totals differ: {differs}", system)
            return ("passed" if crashed else "not reached", target, "", system)
        except (Failure, OSError) as e:
            return ("failed", target, str(e), system)
        finally:
            system.stop()

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for outcome in pool.map(walk, targets):
            if outcome is None:
                continue
            status, target, why, system = outcome
            with lock:
                if status == "failed":
                    results["failed"].append(target)
                    print(f"FAILED  {describe(target)}: {why}", flush=True)
                    for line in system.log[-12:]:
                        print("    " + line)
                    if args.keep:
                        print(f"    kept: {system.dir}")
                else:
                    results[status] += 1
                    print(f"{status:11} {describe(target)}", flush=True)
    ran = results["passed"] + results["not reached"] + len(results["failed"])
    print(f"crash walk: {ran} of {len(targets)} crash points in {time.time() - started:.0f} s: "
          f"{results['passed']} crashed and recovered, {results['not reached']} not reached, "
          f"{len(results['failed'])} failed", flush=True)
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
