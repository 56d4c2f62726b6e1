"""A small submission client: N messages with AUTH over c connections, each 250 stamped.

Theory of operation: what an application's mailer does -- smtplib, EHLO, AUTH PLAIN, MAIL, RCPT,
DATA -- from c threads at once, either each thread keeping one connection for all its messages
(``reuse``) or opening a new connection (EHLO and AUTH again) for every message.  Every message
carries a unique Message-ID; the time of its 250 (``time.time()``) is recorded against it, so the
orchestrator can match it with the file's arrival in the Maildir (the time from the 250 to the file
in ``new/``).  Connection k comes from source address 127.0.2.(1 + k // 10): many machines, not
one, as a class or a fleet of test runners would be (the server caps sessions per address).
A line of JSON goes to stdout at the end; the whole run is bounded by ``--seconds``.

Run: ``python sender.py --port P --user U --password W --rcpt R --messages N --connections C
[--reuse] [--starttls] [--seconds S] [--tag T]``.
"""
from __future__ import annotations

import argparse
import json
import smtplib
import ssl
import threading
import time
from email.utils import formatdate

HELO = "sender.bench.test"
LINE = "The quick brown fox jumps over the lazy dog; a benchmark line of plain ASCII text.\r\n"


def message(user: str, rcpt: str, msgid: str, size: int) -> bytes:
    head = (f"From: <{user}>\r\nTo: <{rcpt}>\r\nSubject: bench {msgid}\r\nDate: {formatdate()}\r\n"
            f"Message-ID: <{msgid}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
    body = (LINE * (max(0, size - len(head)) // len(LINE) + 1))[:max(2, size - len(head))]
    return (head + body.rstrip("\r\n") + "\r\n").encode()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--rcpt", required=True)
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--reuse", action="store_true")
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--seconds", type=float, default=120)
    p.add_argument("--tag", default="b")
    args = p.parse_args()
    deadline = time.time() + args.seconds
    stamps: dict[str, float] = {}
    errors: list[str] = []
    lock = threading.Lock()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE     # the sandbox's own certificate
    per = [args.messages // args.connections + (1 if i < args.messages % args.connections else 0)
           for i in range(args.connections)]
    barrier = threading.Barrier(args.connections + 1)

    def connect(index: int) -> smtplib.SMTP:
        smtp = smtplib.SMTP(args.host, args.port, local_hostname=HELO, timeout=60,
                            source_address=(f"127.0.2.{1 + index // 10}", 0))
        if args.starttls:
            smtp.starttls(context=context)
        smtp.login(args.user, args.password)
        return smtp

    def worker(index: int, count: int) -> None:
        smtp = None
        try:
            if args.reuse:
                smtp = connect(index)
            barrier.wait(60)
            for n in range(count):
                if time.time() > deadline:
                    errors.append("deadline")
                    break
                msgid = f"{args.tag}.{index}.{n}@sender.bench.test"
                if not args.reuse:
                    smtp = connect(index)
                smtp.sendmail(args.user, [args.rcpt], message(args.user, args.rcpt, msgid, args.size))
                now = time.time()
                with lock:
                    stamps[msgid] = now
                if not args.reuse:
                    smtp.quit()
                    smtp = None
        except Exception as exc:       # reported, never hidden
            with lock:
                errors.append(repr(exc)[:200])
            try:
                barrier.abort()
            except threading.BrokenBarrierError:
                pass
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except Exception:
                    pass

    threads = [threading.Thread(target=worker, args=(i, n), daemon=True) for i, n in enumerate(per)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait(60)
    except threading.BrokenBarrierError:
        pass
    start = time.time()
    for thread in threads:
        thread.join(max(1.0, deadline - time.time() + 30))
    print(json.dumps({"start": start, "end": time.time(), "stamps": stamps, "errors": errors[:5]}), flush=True)


if __name__ == "__main__":
    main()
