"""What one click in the webmail costs, beside the same work done by a bare IMAP client.

Each click of the webmail is a real IMAP session on loopback (log in, list or fetch, log out, as
Roundcube does), plus the web layer around it.  This measures, side by side in one run on one world:

- **webmail**: ``GET /api/webmail/messages?folder=INBOX`` and ``GET /api/webmail/message?...`` through
  the Flask app (the test client: no HTTP socket, so the figure is the web layer + the MUA + IMAP);
- **imaplib**: a bare client doing the same IMAP work (AUTHENTICATE PLAIN, EXAMINE, FETCH of the list
  headers; SELECT, UID FETCH BODY[]; LOGOUT) against the same front door.

Both run alternately, ``--rounds`` times each, after ``--messages`` messages were delivered to bob.
Reported: the median and p95 in milliseconds, and the ratio webmail / imaplib of the medians.

    .venv/bin/python bench/bench_webmail.py --messages 50 --rounds 40
"""
from __future__ import annotations

import argparse
import imaplib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import make_config  # noqa: E402
from simulator import web  # noqa: E402
from simulator.runtime import MailStack  # noqa: E402
from simulator.scenario import DEFAULT_SCENARIO, load_scenario  # noqa: E402
from web_fixtures import Browserish, send_mail, wait_until  # noqa: E402

LIST_FIELDS = "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID CONTENT-TYPE)])"


def bare_list(port: int) -> None:
    with imaplib.IMAP4("127.0.0.1", port, timeout=10) as imap:
        imap.login("bob@beta.test", "bob")
        imap.select("INBOX", readonly=True)
        imap.fetch("1:*", LIST_FIELDS)
        imap.logout()


def bare_read(port: int, uid: str) -> None:
    with imaplib.IMAP4("127.0.0.1", port, timeout=10) as imap:
        imap.login("bob@beta.test", "bob")
        imap.select("INBOX")
        imap.uid("FETCH", uid, "(BODY[])")
        imap.logout()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):6.1f} ms, p95 {p95:6.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    stack = MailStack(make_config(Path(tempfile.mkdtemp(prefix="bench-webmail-")), tls=False),
                      load_scenario(DEFAULT_SCENARIO))
    stack.start()
    try:
        for n in range(min(args.messages, 500)):
            send_mail(stack, subject=f"message {n}")
        wait_until(lambda: len(list((stack.config.data_dir / "mail" / "beta.test" / "bob" / "new").glob("*")))
                   >= args.messages, timeout=120, what="every message delivered")
        port = next(i["port"] for i in stack.listener_table() if i["host"] == "front" and i["service"] == "imap")
        app = web.create_app(stack, {"TRUST_LOOPBACK": False})
        bob = Browserish(app, remote_addr="10.0.0.1")
        assert bob.post("/api/webmail/login", {"address": "bob@beta.test", "password": "bob", "tls": "plain"}).status_code == 200
        first = bob.get("/api/webmail/messages?folder=INBOX").get_json()["messages"][0]["id"]
        results: dict[str, list[float]] = {k: [] for k in ("webmail list", "imaplib list", "webmail read", "imaplib read")}
        for _ in range(min(args.rounds, 500)):
            results["webmail list"].append(timed(lambda: bob.get("/api/webmail/messages?folder=INBOX")))
            results["imaplib list"].append(timed(lambda: bare_list(port)))
            results["webmail read"].append(timed(lambda: bob.get(f"/api/webmail/message?folder=INBOX&id={first}")))
            results["imaplib read"].append(timed(lambda: bare_read(port, first)))
        print(f"{args.messages} messages in bob's INBOX, {args.rounds} rounds, plain IMAP on loopback")
        for name, values in results.items():
            print(f"  {name:<13} {summary(values)}")
        for what in ("list", "read"):
            ratio = statistics.median(results[f"webmail {what}"]) / statistics.median(results[f"imaplib {what}"])
            print(f"  {what}: webmail / imaplib = {ratio:.2f}x")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
