#!/usr/bin/env python3
"""The README's quick starts, run as written, print what the README shows.

Each ```sh block of the README's "Quick start" that is followed by a ```text block is run line by
line, as a person pasting it into a fresh shell would: a fresh HOME, `ecash` first on the PATH, in
order, every block in the same HOME. The text block is what the commands print, stdout and stderr
as a terminal shows them; `…` in it stands for what differs from run to run (IDs, keys, times,
ports). A line ending in `&` runs in the background, and what it prints as it starts (up to the
line saying where it listens) is taken at that point. The port the README uses (8443) is replaced by a free one.

usage: readme_quickstart_test.py ECASH README.md
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

README_PORT = "8443"


def blocks(readme):
    """(commands, expected) for each sh block followed by a text block in the Quick start."""
    text = open(readme).read()
    start = text.index("\n## Quick start")
    end = text.index("\n### Without running anything")
    fenced = re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S)
    out = []
    for (kind, body), (next_kind, next_body) in zip(fenced, fenced[1:] + [("", "")]):
        if kind == "sh" and next_kind == "text":
            out.append((body.rstrip("\n").splitlines(), next_body.rstrip("\n").splitlines()))
    return out


def pattern(line, port):
    parts = [re.escape(p) for p in line.replace(README_PORT, port).split("…")]
    return re.compile("^" + ".*?".join(parts) + "$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def main():
    ecash, readme = os.path.abspath(sys.argv[1]), sys.argv[2]
    home = tempfile.mkdtemp(prefix="ecash-readme-")
    env = dict(os.environ, HOME=home, PATH=os.path.dirname(ecash) + os.pathsep + os.environ["PATH"])
    port = free_port()
    background = []
    failures = []
    try:
        found = blocks(readme)
        if not found:
            failures.append("the Quick start has no sh block followed by a text block")
        for number, (commands, expected) in enumerate(found, 1):
            said = []
            for command in commands:
                command = command.strip()
                if not command or command.startswith("#"):
                    continue
                command = command.replace(README_PORT, port)
                if command.endswith("&"):
                    log = open(os.path.join(home, f"background-{len(background)}.log"), "w+")
                    p = subprocess.Popen(["bash", "-c", command[:-1]], cwd=home, env=env,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
                    background.append(p)
                    # What a server prints as it starts, up to the line saying where it listens.
                    for _ in range(200):
                        log.seek(0)
                        started = log.read()
                        if re.search(r"listen.*\n", started) or p.poll() is not None:
                            break
                        time.sleep(0.05)
                    said.extend(started.splitlines())
                    continue
                r = subprocess.run(["bash", "-c", command], cwd=home, env=env, text=True,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=120)
                said.extend(r.stdout.rstrip("\n").splitlines())
                if r.returncode != 0:
                    failures.append(f"block {number}: `{command}` exited {r.returncode}: {r.stdout.strip()}")
            if len(said) != len(expected) or not all(
                    pattern(e, port).match(s) for e, s in zip(expected, said)):
                failures.append(f"block {number} printed:\n  " + "\n  ".join(said) +
                                "\nthe README shows:\n  " + "\n  ".join(expected))
    finally:
        for p in background:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)
    if failures:
        print("FAILED:\n" + "\n\n".join(failures))
        return 1
    print(f"readme quick start: {len(found)} blocks printed what the README shows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
