"""Reference: a bare aiosmtpd server delivering to a stdlib ``mailbox.Maildir`` (no fsync).

Theory of operation: what a Python developer writes in ten lines -- aiosmtpd's ``Controller``-free
``SMTP`` on ``loop.create_server`` (127.0.0.1, the port given, 0 = a free one), a handler whose
``handle_DATA`` adds the message to one Maildir with ``mailbox.Maildir.add`` (write in ``tmp/``,
link or rename into ``new/``; the standard library never fsyncs) on the event loop, then answers
250.  Every recipient is accepted.  It prints ``{"port": N, "pid": P}`` once it listens and runs
until SIGTERM.  Run as ``python maildir_server.py --maildir DIR [--port N]``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import mailbox
import os
import signal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    from aiosmtpd.smtp import SMTP

    box = mailbox.Maildir(args.maildir, create=True)

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:
            box.add(envelope.original_content)
            return "250 2.0.0 Ok: queued"

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Handler(), hostname="aiosmtpd.bench.test", decode_data=False,
                         enable_SMTPUTF8=True, loop=loop),
            "127.0.0.1", args.port, reuse_address=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        print(json.dumps({"port": server.sockets[0].getsockname()[1], "pid": os.getpid()}), flush=True)
        await stop.wait()
        server.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
