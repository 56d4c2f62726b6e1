"""The private network namespace: everything measured runs where only loopback exists.

Theory of operation: ``enter(argv)`` runs the same command again under ``unshare --net`` (as root;
otherwise with ``--map-root-user`` as well, a user namespace that makes the unprivileged caller
root inside it), with ``--inside`` appended; a SIGTERM or SIGINT to the outer process is passed on as SIGTERM,
on which the inner one stops the servers it started and exits.  A new network namespace has one interface, ``lo``,
and it is down: ``inside()`` brings it up (``ip link set lo up``), then checks that nothing else
exists (``/proc/self/net/dev``, which is per namespace, lists only ``lo``).  So no server under test -- MailDev looks up every
client address; Postfix, Dovecot and Chromium all have their own ideas -- can reach the machine's
resolver or anything beyond this computer: a lookup fails at once (network unreachable) instead
of leaving.  The whole 127.0.0.0/8 is on ``lo``, so Mailflow's 127.42.x.y hosts and the clients'
127.0.1.x / 127.0.2.x source addresses work as on the host.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys


def enter(argv: list[str]) -> int:
    unshare = shutil.which("unshare")
    if unshare is None:
        print("bench/run: unshare(1) is missing (Debian: util-linux)", file=sys.stderr)
        return 2
    command = [unshare, "--net"]
    if os.geteuid() != 0:
        command.append("--map-root-user")
    child = subprocess.Popen([*command, "--", *argv, "--inside"])     # unshare execs it: same pid

    def forward(signum, _frame) -> None:
        child.send_signal(signal.SIGTERM)              # it stops its servers, then exits
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return child.wait()


def inside() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/self/net/dev") as handle:
        interfaces = sorted(line.split(":")[0].strip() for line in handle.readlines()[2:] if ":" in line)
    if interfaces != ["lo"]:
        raise SystemExit(f"bench/run: not in a private network namespace (interfaces: {interfaces})")
