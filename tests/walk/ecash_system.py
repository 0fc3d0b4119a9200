"""The whole system as real processes on loopback, for the crash walk and the soak test.

One process per role (sandbox, ca, bank, clearing, center) and a shop's till, each with its durable
store; wallets and the shop's other commands run as the command line a user types. A process that
died (a failpoint, a kill) is started again on the port it had, as an operator's service manager
would; a command that failed is run again, as its user would.
"""

import json
import os
import re
import shutil
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time

CARDS = {"alice": "4111111111111111", "bob": "5555555555554444", "carol": "378282246310005"}
SHOP_ACCOUNT = "DE89370400440532013000"
FAILPOINT_EXIT = 86
ROLES = ("ca", "bank", "clearing", "center")


# What a command's last line says when it is done: a command that said it and died afterwards
# (a crash, or its user's Ctrl-C, after it reported) is done for its user, who read it.
DONE = {"init": r"^(wallet enrolled|shop registered|your card company sent you)",
        "verify-card": r"one-time code", "confirm-card": r"^card confirmed",
        "deposit": r"^(deposited|that was the deposit)",
        "order": r"^ecash://pay", "pay": r"paid EUR", "receive": r"^\{.*\}$", "send": r"^\{.*\}$",
        "accept": r"^\{.*\}$", "confirm": r"^transfer confirmed", "sync": r"^balance",
        "payout": r"^paid out|nothing to pay out"}


class Failure(Exception):
    pass


# Ports for the servers, chosen here and kept across restarts. They come from below the kernel's
# ephemeral range: a port the OS picks for port 0 or an outgoing connection (another run's server in
# parallel, or a client) can then never take a dead server's port before it starts again.
_ports_lock = threading.Lock()
_ports_taken = set()


def _ephemeral_low():
    try:
        return int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def reserve_port():
    low, high = 10000, min(_ephemeral_low(), 65536) - 1
    with _ports_lock:
        for _ in range(1000):
            port = random.randint(low, high)
            if port in _ports_taken:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _ports_taken.add(port)
            return port
    raise Failure("no free port below the ephemeral range")


def private_copy(ecash, folder):
    """The binary copied beside the run's stores: a rebuild meanwhile does not change it."""
    copy = os.path.join(folder, "ecash")
    shutil.copy2(ecash, copy)
    return copy


def make_template(ecash, folder):
    """An operator initialised, with the sandbox's cards and the shop's account: copied for each run."""
    op = os.path.join(folder, "op")
    for argv in (["operator", "init", "--data", op],
                 ["sandbox", "card", CARDS["alice"], "--data", op, "--limit", "100000.00"],
                 ["sandbox", "card", CARDS["bob"], "--data", op, "--limit", "100000.00"],
                 ["sandbox", "card", CARDS["carol"], "--data", op, "--limit", "100000.00"],
                 ["sandbox", "account", SHOP_ACCOUNT, "--holder", "Corner Cafe", "--data", op]):
        r = subprocess.run([ecash] + argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure(f"{' '.join(argv)}: {r.stderr}")
    return op


class System:
    def __init__(self, ecash, template_op, keep=False):
        self.ecash = ecash
        self.dir = tempfile.mkdtemp(prefix="ecash-walk-")
        self.keep = keep
        self.op = os.path.join(self.dir, "op")
        shutil.copytree(template_op, self.op)
        self.procs = {}     # name -> Popen
        self.ports = {}     # name -> port it listens on
        self.envs = {}      # name -> extra environment for its next start only
        self.restarts = 0
        self.log = []       # what happened, for a failure's report
        self.lock = threading.RLock()  # starting, restarting and killing servers

    # --- servers -----------------------------------------------------------------------------
    def _listening_file(self, name):
        if name == "till":
            return os.path.join(self.dir, "shop", "listening")
        return os.path.join(self.op, name, "listening")

    def _argv(self, name):
        if name not in self.ports:
            self.ports[name] = reserve_port()
        listen = f"127.0.0.1:{self.ports[name]}"
        if name == "sandbox":
            return ["sandbox", "run", "--data", self.op, "--listen", listen]
        if name == "till":
            return ["shop", "--home", os.path.join(self.dir, "shop"), "run", "--listen", listen,
                    "--workers", "4"]
        sandbox = f"https://127.0.0.1:{self.ports['sandbox']}"
        return ["operator", "run", "--data", self.op, "--role", name, "--listen", listen,
                "--card-company", sandbox, "--bank", sandbox]

    def start(self, name, env=None):
        with self.lock:
            self._start(name, env)

    def _start(self, name, env=None):
        path = self._listening_file(name)
        if os.path.exists(path):
            os.unlink(path)   # left behind by a process that was killed
        full_env = dict(os.environ)
        full_env.pop("ECASH_FAILPOINT", None)
        full_env.update(env or {})
        full_env.update(self.envs.pop(name, {}))
        logf = open(os.path.join(self.dir, f"{name}.log"), "a")
        self.procs[name] = subprocess.Popen([self.ecash] + self._argv(name), stdout=logf,
                                            stderr=subprocess.STDOUT, env=full_env)
        logf.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(path) and os.path.getsize(path) > 0:
                url = open(path).read().strip()
                self.ports[name] = int(url.rsplit(":", 1)[1])
                return
            if self.procs[name].poll() is not None:
                code = self.procs[name].returncode
                if code == FAILPOINT_EXIT:   # crashed while starting (its failpoint): again
                    self.log.append(f"{name} crashed at start")
                    return self._start(name)
                raise Failure(f"{name} exited {code} at start: {self.tail(name)}")
            time.sleep(0.05)
        raise Failure(f"{name} did not start: {self.tail(name)}")

    def start_operator(self):
        self.start("sandbox")
        for role in ROLES:
            self.start(role)

    def tail(self, name, lines=15):
        try:
            return "".join(open(os.path.join(self.dir, f"{name}.log")).readlines()[-lines:])
        except OSError:
            return ""

    def dead(self):
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def revive(self):
        """Every server that died started again on its port. Returns the names and exit codes."""
        revived = []
        with self.lock:
            for name in self.dead():
                code = self.procs[name].returncode
                revived.append((name, code))
                self.log.append(f"{name} exited {code}: restarted")
                self.restarts += 1
                self._start(name)
        return revived

    def kill(self, name, sig=signal.SIGKILL):
        with self.lock:
            proc = self.procs.get(name)
            if proc and proc.poll() is None:
                proc.send_signal(sig)
                proc.wait()
                self.log.append(f"{name} killed")

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with _ports_lock:
            _ports_taken.difference_update(self.ports.values())
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- commands ----------------------------------------------------------------------------
    def home(self, who):
        return os.path.join(self.dir, who)

    def card_code(self, who):
        """The one-time code the sandbox card company last sent the holder of who's card, as their
        banking app would show it (issue 12, finding 6)."""
        r = subprocess.run([self.ecash, "sandbox", "code", CARDS[who], "--data", self.op],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure(f"sandbox code for {who}: {r.stderr}")
        return r.stdout.strip()

    def confirm_card(self, who, **kwargs):
        """who's card confirmed by its holder before the first deposit: a code sent for the
        sandbox's default expiry and CVC, then typed in (a retry after a lost answer is
        confirmed again)."""
        self.run_until_done(who, ["verify-card", "--expiry", "12/30", "--cvc", "123"],
                            seen=DONE["verify-card"], **kwargs)
        self.run_until_done(who, ["confirm-card", self.card_code(who)], seen=DONE["confirm-card"],
                            **kwargs)

    def command(self, who, args):
        if who in ("alice", "bob", "carol"):
            return ["wallet", "--home", self.home(who)] + args
        if who == "shop":
            return ["shop", "--home", self.home("shop")] + args
        return args

    def run(self, who, args, env=None, stdin=None, timeout=60, kill_after=None):
        """Runs a command; with `kill_after` seconds, kills it (SIGKILL) if it is still running
        then, as a user's Ctrl-C or a phone's dying battery would (its result then has code -9)."""
        full_env = dict(os.environ)
        full_env.pop("ECASH_FAILPOINT", None)
        full_env.update(env or {})
        argv = [self.ecash] + self.command(who, args)
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=full_env,
                              stdin=open(stdin) if stdin else subprocess.DEVNULL) as p:
            try:
                out, err = p.communicate(timeout=kill_after or timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                # What it wrote before it died was on its user's screen: read it to the end (a
                # terminal shows output as it is written; a pipe keeps it until read).
                out, err = p.communicate()
                if kill_after:
                    self.log.append(f"{who} {' '.join(args)} killed after {kill_after:.2f} s, "
                                    f"having said: {out.strip()[:200]}")
                    return subprocess.CompletedProcess(argv, -9, out, err)
                raise Failure(f"{who} {' '.join(args)} hung for {timeout} s")
        r = subprocess.CompletedProcess(argv, p.returncode, out, err)
        self.log.append(f"{who} {' '.join(args)} -> {r.returncode}: {r.stdout.strip()[:200]} "
                        f"{r.stderr.strip()[:300]}")
        return r

    def run_until_done(self, who, args, env=None, stdin=None, out=None, tries=12, kill_chance=0.0,
                       rng=None, revive=True, then=None, seen=None):
        """Runs a command as its user would: again after a failure (restarting what died first,
        unless `revive` is off), until it succeeds. `env` applies to the first attempt only; with
        `kill_chance`, an attempt may be killed at a random moment; `then(result)` is called
        after each failure (a user doing what the error asks before trying again). With `seen`, a
        command that died after its last line of output matched it is done: its user read it."""
        last = None
        for attempt in range(tries):
            if revive:
                self.revive()
            kill_after = None
            if kill_chance and rng.random() < kill_chance:
                kill_after = rng.uniform(0.02, 0.4)
            r = self.run(who, args, env=env if attempt == 0 else None, stdin=stdin,
                         kill_after=kill_after)
            lines = r.stdout.strip().splitlines()
            if r.returncode == 0 or (seen and lines and re.search(seen, lines[-1])):
                if out:
                    with open(out, "w") as f:
                        f.write(r.stdout)
                return r
            last = r
            if then:
                then(r)
            time.sleep(0.2 if attempt < 3 else 1.0)
        said = last.stderr.strip() if last else "killed every time"
        raise Failure(f"{who} {' '.join(args)} failed {tries} times; last: {said}")

    def operator(self, args):
        return self.run("", ["operator"] + args + ["--data", self.op])

    # --- what the books say ------------------------------------------------------------------
    def totals(self, wallets=("alice", "bob")):
        """Totals per account, per card and per bank account, for comparing runs."""
        t = {}
        for who in wallets:
            r = self.run(who, ["--json", "balance"])
            if r.returncode != 0:
                raise Failure(f"{who} balance: {r.stderr}")
            b = json.loads(r.stdout)
            t[f"wallet {who}"] = (b.get("balance"), b.get("uncleared"))
        # The sandboxes keep card numbers and IBANs sealed: their desks' lists (by the last four
        # digits) say what each card owes and each account holds.
        def minor(text):
            return int(text.split(":")[1].replace(".", ""))
        for kind, key in (("cards", "card"), ("accounts", "iban")):
            r = self.run("", ["sandbox", kind, "--data", self.op, "--json"])
            if r.returncode != 0:
                raise Failure(f"sandbox {kind}: {r.stderr}")
            for entry in json.loads(r.stdout):
                if kind == "accounts":
                    t[f"bank account {entry[key][-4:]}"] = minor(entry["balance"])
                elif minor(entry["charged"]) != minor(entry["refunded"]):
                    t[f"card {entry[key][-4:]}"] = minor(entry["charged"]) - minor(entry["refunded"])
        r = self.operator(["report", "--json"])
        if r.returncode == 0:
            report = json.loads(r.stdout)
            for key, value in report["figures"].items():
                if key not in ("users", "shops"):
                    t[f"report {key}"] = value
            t["report in circulation"] = report["in_circulation"]
            for key in ("card_charges", "bank_transfers"):
                t[f"report {key}"] = report.get("institutions", {}).get(key)
        return t

    def settle_and_audit(self, wallets=("alice", "bob"), seconds=60):
        """Syncs every wallet, then waits for the operator's open work to finish and its audit
        (books and institutions) to pass. Returns the audit's output."""
        for who in wallets:
            self.run_until_done(who, ["sync"])
        deadline = time.time() + seconds
        last = None
        while time.time() < deadline:
            self.revive()
            last = self.operator(["audit"])
            if last.returncode == 0 and "audit passed" in last.stdout:
                report = self.operator(["report"])
                if "balanced: every cent accounted for, and the institutions agree" in report.stdout:
                    return last.stdout
                last = report
            time.sleep(1.0)
        raise Failure(f"the audit never passed: {last.stdout} {last.stderr}")
