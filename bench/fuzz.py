"""Coverage-guided fuzzing of Mailflow's parsers with atheris (libFuzzer for Python): issue 12, rule 9.

    .venv/bin/pip install -r requirements-fuzz.txt           # atheris: a manylinux wheel, no clang
    .venv/bin/python bench/fuzz.py                           # every target, 60 s each
    .venv/bin/python bench/fuzz.py --seconds 600 dns pop3    # some targets, longer
    .venv/bin/python bench/fuzz.py --markdown bench/results/fuzz.md   # also write the table there

The suite's ``tests/test_fuzz.py`` draws a few hundred seeded examples per parser with hypothesis;
this script searches far longer, led by coverage: libFuzzer mutates the inputs that reached new
branches of the instrumented code (``simulator`` and the parsers it leans on: ``dns`` (dnspython)
and the standard ``email`` package).  The properties are the suite's own, imported from
``tests/test_fuzz.py`` (its ``drive_*`` and ``check_*`` functions), so a finding here is a failing
example there.

Targets (each decodes its option bits from the first octets, the rest is the input):

  ``dns``           ``zone.handle_wire`` over UDP limits and TCP: never answers an answer, FORMERR
                    for what it cannot parse, RA never set, the answer fits or sets TC;
  ``pop3``          a ``Pop3Session`` fed in pieces, optionally logged in, with an output budget:
                    well-formed replies, message numbers in range, deletions only after QUIT;
  ``imap-parser``   IMAP framing (lines and literals) and the command parser: BAD is the only refusal;
  ``imap-session``  a logged-in (optionally SELECTed) ``ImapSession``: well-formed responses, and a
                    fresh NOOP still answered afterwards;
  ``mime``          any message APPENDed and FETCHed (BODYSTRUCTURE, ENVELOPE, sections);
  ``webmail``       the webmail reader (text, HTML, attachments) over any message;
  ``smtp-grammar``  RFC 5321's HELO / MAIL / RCPT grammar at every SMTP door (``smtp.grammar``):
                    501/553 or a clean path (no controls, no space outside quotes, routing reported);
  ``smtp-fold``     the relay's folding of over-long text lines: no part over the width, nothing lost;
  ``smtp-data``     the text of one DATA as a door keeps it (``session.DataText``), fed in pieces:
                    CRLF only, no line over the width, the same however it is cut, nothing lost.

The SMTP *dialogue* (aiosmtpd's parser and our session around it) needs a running server: the suite
fuzzes it over loopback (``test_smtp_server_answers_any_dialogue``); this script does not.

Each target runs in its own process for ``--seconds`` (libFuzzer ``-max_total_time``), with a hang
limit per input (``-timeout``, 10 s) and a memory limit (``-rss_limit_mb``, 2048).  A crash (an
uncaught exception: a broken property or a bug), a hang or an out-of-memory stops that target and
leaves the input in ``bench/results/fuzz/<target>/`` (gitignored) with libFuzzer's log; the table
counts them.  The seed corpus is the suite's own examples.  Iterations, coverage and findings of
the recorded runs are in ``bench/FUZZ.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "fuzz"
HANG_SECONDS = 10
RSS_LIMIT_MB = 2048
TARGET_NAMES = ("dns", "pop3", "imap-parser", "imap-session", "mime", "webmail", "smtp-grammar", "smtp-fold", "smtp-data")


# --------------------------------------------------------------------------- the targets (child)


def _targets() -> dict[str, tuple[Callable[[bytes], None], Callable[[], Iterable[bytes]]]]:
    """Import the properties under instrumentation; each target: (one input, seed inputs)."""
    import atheris

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(RESULTS / "hypothesis"))
    with atheris.instrument_imports(include=["simulator", "dns", "email", "test_fuzz"]):
        import test_fuzz as props

    def options(data: bytes, n: int) -> tuple[bytes, bytes]:
        return data[:n].ljust(n, b"\0"), data[n:]

    def cuts(head: bytes) -> list[int]:
        return [b * 7 for b in head if b]  # up to len(head) split points

    def dns_one(data: bytes) -> None:
        head, wire = options(data, 1)
        props.check_dns_reply(wire, (None, 512, 1232, 4096)[head[0] % 4])

    def pop3_one(data: bytes) -> None:
        head, rest = options(data, 3)
        login = props.LOGIN if head[0] & 1 else b""
        budget = (None, 64, 4096, 1 << 20)[(head[0] >> 1) % 4]
        props.drive_pop3(login + rest, cuts(head[1:]), budget)

    def imap_parser_one(data: bytes) -> None:
        head, rest = options(data, 2)
        props.drive_imap_parser(rest, cuts(head))

    def imap_session_one(data: bytes) -> None:
        head, rest = options(data, 3)
        props.drive_imap_session(rest, bool(head[0] & 1), cuts(head[1:]))

    def smtp_grammar_one(data: bytes) -> None:
        head, rest = options(data, 1)
        props.drive_smtp_grammar(rest.decode("utf-8", "surrogateescape"), bool(head[0] & 1))

    def smtp_fold_one(data: bytes) -> None:
        head, rest = options(data, 1)
        props.drive_fold(rest.replace(b"\r", b"").replace(b"\n", b""), 8 + head[0] % 120)

    def smtp_data_one(data: bytes) -> None:
        head, rest = options(data, 3)
        props.drive_data_text(rest, cuts(head[1:]), 8 + head[0] % 120)

    def data_seeds() -> Iterable[bytes]:
        yield b"\x10\x01\x02Subject: x\r\n\r\nline\rbare cr\nbare lf\r\n" + b"y" * 300 + b"\r\n"

    def smtp_seeds() -> Iterable[bytes]:
        for arg in ["FROM:<bob@beta.test> SIZE=10", "TO:<\"q @ r\"@[127.0.0.1]>", "FROM:<>", "TO:<Postmaster>",
                    "FROM:<@a,@b:u@c.test>", "TO:<ü@bücher.test> SMTPUTF8", "x.test", "[IPv6:::1]"]:
            yield b"\x01" + arg.encode()

    def fold_seeds() -> Iterable[bytes]:
        yield b"\x10" + b"Subject: " + "é".encode() * 40
        yield b"\x00" + b"word " * 30

    def dns_seeds() -> Iterable[bytes]:
        import dns.message
        for name, rdtype in [("beta.test", "MX"), ("big.test", "TXT"), ("example.com", "A"), ("www.beta.test", "A")]:
            for edns in (None, 0):
                yield b"\x02" + dns.message.make_query(name, rdtype, use_edns=edns).to_wire()

    def pop3_seeds() -> Iterable[bytes]:
        yield b"\x01\x00\x00STAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\nTOP 2 3\r\nDELE 1\r\nRSET\r\nQUIT\r\n"
        yield b"\x00\x00\x00CAPA\r\nAUTH PLAIN\r\nAGJvYkBiZXRhLnRlc3QAcHc=\r\nRETR 4294967297\r\n"
        yield b"\x03\x05\x09RETR 1\r\nRETR 2\r\nRETR 3\r\nRETR 3\r\nDELE 3\r\nQUIT\r\n"

    imap_commands = [b"a CAPABILITY\r\n", b"b LIST \"\" *\r\n", b"c FETCH 1:* (FLAGS BODYSTRUCTURE BODY[1.MIME])\r\n",
                     b"d SEARCH OR FROM alice NOT SEEN\r\n", b"e STORE 1 +FLAGS ($Junk)\r\n",
                     b"f APPEND INBOX {5}\r\nhello\r\n", b"g UID COPY 1:* Trash\r\n", b"h IDLE\r\nDONE\r\n",
                     b"i CREATE a[b\r\n", b"j STATUS INBOX (MESSAGES UIDNEXT)\r\n", b"k LOGOUT\r\n"]

    def imap_seeds() -> Iterable[bytes]:
        yield b"\x00\x00" + b"".join(imap_commands)
        for command in imap_commands:
            yield b"\x00\x00" + command

    def imap_session_seeds() -> Iterable[bytes]:
        for select in (b"\x00", b"\x01"):
            yield select + b"\x00\x00" + b"".join(imap_commands)

    def message_seeds() -> Iterable[bytes]:
        yield from props.IMAP_MESSAGES
        yield props.deep_multipart(8)
        yield props.deep_rfc822(8)

    return {
        "dns": (dns_one, dns_seeds),
        "pop3": (pop3_one, pop3_seeds),
        "imap-parser": (imap_parser_one, imap_seeds),
        "imap-session": (imap_session_one, imap_session_seeds),
        "mime": (props.drive_mime, message_seeds),
        "webmail": (props.drive_webmail, message_seeds),
        "smtp-grammar": (smtp_grammar_one, smtp_seeds),
        "smtp-fold": (smtp_fold_one, fold_seeds),
        "smtp-data": (smtp_data_one, data_seeds),
    }


def child(target: str, libfuzzer_args: list[str]) -> None:
    """Run one target under libFuzzer until its time is up or it finds something."""
    import atheris

    one, seeds = _targets()[target]
    corpus = RESULTS / target / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for n, seed in enumerate(seeds()):
        (corpus / f"seed-{n:03d}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], one)
    atheris.Fuzz()


# --------------------------------------------------------------------------- the driver (parent)


@dataclass
class Outcome:
    target: str
    seconds: float
    runs: int
    per_second: int
    coverage: int
    features: int
    corpus: int
    crashes: int
    hangs: int
    ooms: int
    finding: str  # the first line that says what was found, or ""

    def row(self) -> str:
        found = f"`{self.finding}`" if self.finding else "—"
        return (f"| {self.target} | {self.seconds:.0f} | {self.runs:,} | {self.per_second:,} | {self.coverage:,} | "
                f"{self.features:,} | {self.corpus:,} | {self.crashes} | {self.hangs} | {self.ooms} | {found} |")


HEADER = ("| target | seconds | iterations | per second | coverage (edges) | features | corpus | crashes "
          "| hangs | out of memory | finding |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")


def run_target(target: str, seconds: int) -> Outcome:
    out = RESULTS / target
    out.mkdir(parents=True, exist_ok=True)
    log = out / "libfuzzer.log"
    args = [f"-max_total_time={seconds}", f"-timeout={HANG_SECONDS}", f"-rss_limit_mb={RSS_LIMIT_MB}",
            f"-artifact_prefix={out}/", "-print_final_stats=1"]
    with log.open("wb") as sink:
        proc = subprocess.run([sys.executable, __file__, "--child", target, *args], cwd=ROOT,
                              stdout=sink, stderr=subprocess.STDOUT, check=False,
                              timeout=seconds + 10 * HANG_SECONDS + 120)
    text = log.read_text("utf-8", "replace")
    return parse_log(target, text, seconds, proc.returncode)


def parse_log(target: str, text: str, seconds: float, returncode: int) -> Outcome:
    runs = _last_int(r"Done (\d+) runs", text) or _last_int(r"stat::number_of_executed_units:\s*(\d+)", text) \
        or _last_int(r"^#(\d+)", text)
    hangs = 1 if re.search(r"ALARM: working on the last Unit|timeout after", text) else 0
    ooms = 1 if "out-of-memory" in text else 0
    crashed = returncode != 0 and not hangs and not ooms
    finding = ""
    if crashed or hangs or ooms:
        match = re.search(r"^(=== Uncaught Python exception: ===\n.*?)(?:\n\n|\Z)", text, re.S | re.M)
        lines = (match.group(1) if match else text).strip().splitlines()
        finding = next((line.strip() for line in reversed(lines) if re.match(r"\s*\w*(Error|Exception)", line)),
                       lines[-1].strip() if lines else f"exit {returncode}")
    per_second = _last_int(r"stat::average_exec_per_sec:\s*(\d+)", text) or round(runs / max(seconds, 1))
    return Outcome(target, seconds, runs, per_second, _last_int(r"cov: (\d+)", text), _last_int(r"ft: (\d+)", text),
                   _last_int(r"corp: (\d+)", text), int(crashed), hangs, ooms, finding[:160])


def _last_int(pattern: str, text: str) -> int:
    found = re.findall(pattern, text, re.M)
    return int(found[-1]) if found else 0


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", choices=[*TARGET_NAMES, []], metavar="target",
                        help=f"what to fuzz (default: all of {', '.join(TARGET_NAMES)})")
    parser.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    try:
        import atheris  # noqa: F401
    except ImportError:
        sys.exit("atheris is not installed: .venv/bin/pip install -r requirements-fuzz.txt")
    outcomes = []
    print(HEADER, flush=True)
    for target in args.targets or TARGET_NAMES:
        outcome = run_target(target, args.seconds)
        outcomes.append(outcome)
        print(outcome.row(), flush=True)
    stamp = (f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
             f"{os.cpu_count()} CPUs, {args.seconds} s per target")
    total = sum(o.runs for o in outcomes)
    found = sum(o.crashes + o.hangs + o.ooms for o in outcomes)
    print(f"\n{total:,} iterations; {found} findings ({stamp}); logs and inputs in {RESULTS}")
    if args.markdown:
        args.markdown.write_text(f"{HEADER}\n" + "\n".join(o.row() for o in outcomes) + f"\n\n{stamp}\n")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
