"""Reference: the barest two-hop pipeline on aiosmtpd (submission with AUTH, relay, MX, Maildir).

Theory of operation: what the submission measure's path is with everything Mailflow promises
taken out, so that its rate says what the library and one Python process allow on this machine.
One process, one event loop, as Mailflow's mail world:

- an MSA: aiosmtpd's ``SMTP`` on 127.0.0.1 (the port given, 0 = a free one), AUTH PLAIN and LOGIN
  without TLS, AUTH required before MAIL (no open relay); its ``handle_DATA`` puts the message in
  memory on a queue and answers 250 at once (no queue file, no fsync);
- ten relay links (Mailflow's connection cache allows ten per next hop): each keeps one connection
  open to the MX, says EHLO once and then sends message after message (MAIL, RCPT, DATA), so no
  message pays a TCP handshake, a greeting, an EHLO or STARTTLS -- and no DNS lookup is made;
- an MX: a second aiosmtpd ``SMTP`` on 127.0.0.1 whose ``handle_DATA`` adds the message to one
  stdlib ``mailbox.Maildir`` (write in ``tmp/``, link into ``new/``; never an fsync) and answers 250.

No event, no log line, no header added, no fsync anywhere.

``--durable`` adds what "250 means on disk" costs and nothing else, each disk step in a worker
thread (``asyncio.to_thread``) as Mailflow keeps disk work off its loop: the MSA writes the
message to a queue file, fsyncs it and its directory before its 250, and removes it (fsyncing the
directory again, in a task of its own) once the MX has said 250; the MX writes the Maildir file in ``tmp/``, fsyncs it,
links it into ``new/`` and fsyncs ``new/`` before its 250.  A directory's fsync is group-committed
(:class:`GroupSync`, as Mailflow's): one that began after a caller's change serves every caller
waiting for it.  No other promise.

It prints ``{"port": N, "mx_port": M, "pid": P}`` once both listen and runs until SIGTERM.  Run as
``python relay_server.py --maildir DIR --user U --password P [--port N] [--durable]``.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import mailbox
import os
import re
import signal
import threading
import time
import warnings

LINKS = 10
DOT = re.compile(rb"(?:\A|(?<=\r\n))\.")    # a line that starts with a dot (lines end in CRLF)


class GroupSync:
    """fsync of one directory shared by concurrent callers: each returns after an fsync that began
    after it called (so after its own link or unlink), which one thread runs for all who wait."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.cond = threading.Condition()
        self.started = self.done = 0
        self.running = False

    def sync(self) -> None:
        with self.cond:
            ticket = self.started + 1          # the first fsync to begin from now on
            while self.done < ticket:
                if not self.running:
                    self.running = True
                    self.started += 1
                    generation = self.started
                    break
                self.cond.wait()
            else:
                return
        synced = False
        try:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            synced = True
        finally:
            with self.cond:
                self.running = False
                if synced:          # a failed fsync serves nobody: the next caller to wake tries again
                    self.done = max(self.done, generation)
                self.cond.notify_all()


class Link:
    """One kept connection from the MSA to the MX."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def reply(self) -> int:
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("the MX closed the connection")
            if line[3:4] != b"-":
                return int(line[:3])

    async def command(self, line: bytes, expect: int) -> None:
        self.writer.write(line)
        code = await self.reply()
        if code != expect:
            raise ConnectionError(f"{line[:20]!r} -> {code}")

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        if await self.reply() != 220:
            raise ConnectionError("no greeting")
        await self.command(b"EHLO msa.bench.test\r\n", 250)

    async def send(self, sender: str, recipients: list[str], content: bytes) -> None:
        if self.writer is None or self.writer.is_closing():
            await self.open()
        await self.command(f"MAIL FROM:<{sender}>\r\n".encode(), 250)
        for rcpt in recipients:
            await self.command(f"RCPT TO:<{rcpt}>\r\n".encode(), 250)
        await self.command(b"DATA\r\n", 354)
        body = DOT.sub(b"..", content)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        await self.command(body + b".\r\n", 250)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    # AUTH without TLS is the point here (what a plain two-hop pipeline costs); said once, not per session
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    box = mailbox.Maildir(args.maildir, create=True)
    user, password = args.user.encode(), args.password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
        return AuthResult(success=ok)

    spool = os.path.join(os.path.dirname(os.path.abspath(args.maildir)), "queue")
    if args.durable:
        os.makedirs(spool, exist_ok=True)
    names = itertools.count()

    syncs = {path: GroupSync(path) for path in (spool, os.path.join(args.maildir, "new"))}

    def sync_directory(directory: str) -> None:
        syncs[directory].sync()

    def durable_write(directory: str, name: str, content: bytes, into: str | None = None) -> str:
        """The file written and fsynced; with ``into``, linked there; then the directory that holds
        its name fsynced."""
        path = os.path.join(directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        if into is not None:
            final = os.path.join(into, name)
            os.link(path, final)
            os.unlink(path)
            path, directory = final, into
        sync_directory(directory)
        return path

    def forget(path: str) -> None:
        os.unlink(path)
        sync_directory(spool)

    class Submission:
        def __init__(self, queue: asyncio.Queue) -> None:
            self.queue = queue

        async def handle_DATA(self, server, session, envelope) -> str:
            stored = None
            if args.durable:
                stored = await asyncio.to_thread(durable_write, spool, f"{os.getpid()}.{next(names)}",
                                                 envelope.original_content)
            self.queue.put_nowait((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, stored))
            return "250 2.0.0 Ok: queued"

    class Delivery:
        async def handle_DATA(self, server, session, envelope) -> str:
            if args.durable:
                name = f"{time.time():.6f}.{os.getpid()}_{next(names)}.mx.bench.test"
                await asyncio.to_thread(durable_write, os.path.join(args.maildir, "tmp"), name,
                                        envelope.original_content, os.path.join(args.maildir, "new"))
            else:
                box.add(envelope.original_content)
            return "250 2.0.0 Ok: delivered"

    removals: set[asyncio.Task] = set()

    async def relay(queue: asyncio.Queue, link: Link) -> None:
        while True:
            sender, recipients, content, stored = await queue.get()
            for attempt in (1, 2):          # a link the MX closed is opened again, once
                try:
                    await link.send(sender, recipients, content)
                except Exception:           # a failed message is logged; the link goes on
                    if link.writer is not None:
                        link.writer.close()
                    link.writer = None
                    if attempt == 2:
                        logging.getLogger(__name__).exception("relay failed for a message")
                else:
                    if stored is not None:  # the queue file goes in a task of its own, as Mailflow's
                        task = asyncio.create_task(asyncio.to_thread(forget, stored))
                        removals.add(task)
                        task.add_done_callback(removals.discard)
                    break

    async def run() -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        mx = await loop.create_server(
            lambda: SMTP(Delivery(), hostname="mx.bench.test", decode_data=False, enable_SMTPUTF8=True, loop=loop),
            "127.0.0.1", 0, reuse_address=True)
        mx_port = mx.sockets[0].getsockname()[1]
        msa = await loop.create_server(
            lambda: SMTP(Submission(queue), hostname="msa.bench.test", decode_data=False, enable_SMTPUTF8=True,
                         authenticator=authenticator, auth_required=True, auth_require_tls=False, loop=loop),
            "127.0.0.1", args.port, reuse_address=True)
        links = [asyncio.create_task(relay(queue, Link(mx_port))) for _ in range(LINKS)]
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        print(json.dumps({"port": msa.sockets[0].getsockname()[1], "mx_port": mx_port, "pid": os.getpid()}),
              flush=True)
        await stop.wait()
        for task in links:
            task.cancel()
        msa.close()
        mx.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
