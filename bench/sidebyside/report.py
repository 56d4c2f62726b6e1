"""RESULTS.md from the raw figures of one ``bench/run``.

Theory of operation: pure formatting of the dict ``main.py`` saved as JSON.  Every figure is shown
as ``median [min–max]`` over the repetitions that produced it (with the count when fewer than
planned).  Every ratio is computed *within* one repetition (Mailflow's run and the reference's run
of the same repetition, which ran minutes apart at most) and those per-repetition ratios are then
summarised the same way.  The targets of issue 13 are judged on the median ratio and marked
**met** / **missed** (or "—" when a figure is missing); the min–max beside it says how sure that
is.  Nothing here measures anything.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from .ingest import mode_name
from .servers import RELAYS

LABELS = {"smtp-sink": "smtp-sink (stores nothing: smtp-source's ceiling)",
          "postfix": "Postfix → Maildir (fsync before 250)",
          "aiosmtpd": "aiosmtpd + stdlib Maildir (no fsync)",
          "maildev": "MailDev (memory, no fsync)",
          "mailflow": "**Mailflow, mx1.beta.test** (fsync before 250, events, JSON log)"}
BARE_RELAY = "aiosmtpd MSA → aiosmtpd MX → stdlib Maildir, one process"


def spread(values, digits: int = 0, unit: str = "") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    med = statistics.median(values)
    text = f"{med:,.{digits}f}"
    if len(values) > 1:
        text += f" [{min(values):,.{digits}f}–{max(values):,.{digits}f}]"
    return text + unit


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratios(a: dict, b: dict, key: str) -> list[float]:
    """Per repetition: a[rep][key] / b[rep][key]."""
    out = []
    for rep, row in a.items():
        other = b.get(rep)
        if other and row.get(key) and other.get(key):
            out.append(row[key] / other[key])
    return out


def verdict(value, target: float, *, at_most: bool = False) -> str:
    if value is None:
        return "—"
    ok = value <= target if at_most else value >= target
    return "**met**" if ok else "**missed**"


def by_rep(rows: list[dict], **match) -> dict[int, dict]:
    return {r["rep"]: r for r in rows if all(r.get(k) == v for k, v in match.items())}


def render(data: dict, raw: Path) -> str:
    meta = data["meta"]
    out: list[str] = []
    w = out.append
    m = meta["machine"]
    v = meta["versions"]
    w("# Side by side: Mailflow, Postfix, MailDev, aiosmtpd and Dovecot\n")
    w(f"Written by `{meta['command']}` ({meta['mode']} mode, {meta['plan']['reps']} repetition(s)) on "
      f"{meta['date']}, in {meta['seconds'] / 60:.0f} min"
      + (f", on the tree `{meta['tree']}`" if meta.get("tree") else "")
      + f". Raw figures: `{raw}`. How it works: [README.md](README.md#one-command-side-by-side-benchrun).\n")
    w(f"- Machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs, {m.get('memory', '?')}; {m.get('os', '?')}, "
      f"kernel {m.get('kernel')}. Load average {meta['load_start']} at the start, {meta['load_end']} at the end "
      "(anything above ~0.5 means other work shared the CPUs).")
    for note in meta.get("amended", ()):    # a measure rerun and put in place of the run's own (bench/merge.py)
        w(f"- {note}")
    dovecot = v.get("dovecot", "-").split(" (")[0]
    w(f"- Software: Python {v.get('python')}, Postfix {v.get('postfix')}, Dovecot {dovecot}, "
      f"MailDev {v.get('maildev')} on Node {v.get('node')}, aiosmtpd {v.get('aiosmtpd')}, {v.get('chromium')}.")
    w("- Everything ran inside a private network namespace (`unshare --net`, loopback only). Every figure is "
      "median [min–max] over the repetitions; every ratio is taken within one repetition, then summarised "
      "the same way. References and Mailflow alternate within each repetition.")
    w(f"- Mailflow ran as `app.py` with its defaults (TLS, web UI, JSON-lines event log). For MX ingest, where "
      "smtp-source opens all its sessions from 127.0.0.1, Mailflow (`--smtp-sessions-per-address`) and Postfix "
      f"(`smtpd_client_connection_count_limit`) both ran with a per-client cap of {meta.get('smtp_slots')} sessions.")
    if meta.get("cleanup") == "end":
        late = meta.get("deleted_at_once") or 0
        w("- Each run's files were set aside and deleted only when the whole run ended (deleting them at once made "
          "the next server's file creations 10–20 times dearer on this disk: bench/README.md, \"Ninth pass\")"
          + (f"; {late} run(s) were deleted at once for want of disk space." if late else "."))
    elif meta.get("cleanup") == "now":
        w("- `--cleanup now`: each run's files were deleted as soon as it ended, so each server's file creations "
          "paid for the run before it (bench/README.md, \"Ninth pass\").")
    if meta.get("skipped"):
        w(f"- Not installed, left out: {', '.join(meta['skipped'])}.")
    if meta.get("failures") or meta.get("problems"):
        w("- **Problems in this run:** " + "; ".join(meta["failures"] + meta["problems"]))
    w("")
    targets: list[tuple[str, ...]] = []    # (target, measured, verdict[, the bare reference's figure])
    sections: list[str] = []
    if data.get("ingest"):
        sections += _ingest(data["ingest"], meta, targets)
    if data.get("latency"):
        sections += _latency(data["latency"], targets)
    if data.get("submission"):
        sections += _submission(data["submission"], data.get("ingest", []), meta, targets)
    if data.get("retrieval"):
        sections += _retrieval(data["retrieval"], targets)
    if data.get("browser"):
        sections += _browser(data["browser"], targets)
    if data.get("startup"):
        sections += _startup(data["startup"], targets)
    if data.get("hall"):
        sections += _hall(data["hall"], targets)
    w("## Issue 13's targets\n")
    w("The last column is the same measure taken on a bare aiosmtpd reference (the library Mailflow's SMTP "
      "servers are built on, with nothing Mailflow promises: no event, no log, no fsync — for submission also "
      "with only fsync before each 250), where the target compares against Postfix: it says what the library "
      "and one Python process reach on this machine in the same run.\n")
    w("| target | measured (median [min–max] over repetitions) | | bare aiosmtpd, same measure |")
    w("|---|---|---|---|")
    for name, measured, judged, *floor in targets:
        w(f"| {name} | {measured} | {judged} | {floor[0] if floor else ''} |")
    w("")
    out += sections
    return "\n".join(out) + "\n"


# -- sections ---------------------------------------------------------------------------------------------
def _ingest(rows: list[dict], meta: dict, targets: list) -> list[str]:
    modes = []
    for r in rows:
        mode = (r["concurrency"], r["reuse"])
        if mode not in modes:
            modes.append(mode)
    modes.sort(key=lambda x: (x[1], x[0]))
    names = [n for n in LABELS if any(r["server"] == n for r in rows)]
    n = meta["plan"]["ingest_messages"]
    s = ["## MX ingest: `smtp-source` into each receiving server\n",
         f"{n:,} messages of 2 KB payload per run (`smtp-source -l 2048`), delivered msgs/s = files in the "
         "Maildir (MailDev: `.eml` files written) ÷ (last arrival − start). New = a connection per message; "
         "reused = `smtp-source -d`.\n"]
    header = "| delivered msgs/s | " + " | ".join(mode_name(*m) for m in modes) + " |"
    s += [header, "|---" * (len(modes) + 1) + "|"]
    for name in names:
        cells = [spread([r["rate"] for r in rows if r["server"] == name and (r["concurrency"], r["reuse"]) == mm])
                 for mm in modes]
        s.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    s += ["", "| server CPU per message, ms | " + " | ".join(mode_name(*m) for m in modes) + " |",
          "|---" * (len(modes) + 1) + "|"]
    for name in names:
        cells = [spread([r["cpu_ms_per_msg"] for r in rows if r["server"] == name
                         and (r["concurrency"], r["reuse"]) == mm], 2) for mm in modes]
        s.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    s += ["", "| Mailflow ÷ reference, same repetition | " + " | ".join(mode_name(*m) for m in modes) + " |",
          "|---" * (len(modes) + 1) + "|"]
    for ref in ("postfix", "aiosmtpd", "maildev"):
        if ref not in names or "mailflow" not in names:
            continue
        cells = []
        for mm in modes:
            ours = by_rep(rows, server="mailflow", concurrency=mm[0], reuse=mm[1])
            theirs = by_rep(rows, server=ref, concurrency=mm[0], reuse=mm[1])
            cells.append(spread(ratios(ours, theirs, "rate"), 2, "×"))
        s.append(f"| msgs/s ÷ {ref} | " + " | ".join(cells) + " |")
        if ref == "postfix":
            cells = []
            for mm in modes:
                ours = by_rep(rows, server="mailflow", concurrency=mm[0], reuse=mm[1])
                theirs = by_rep(rows, server=ref, concurrency=mm[0], reuse=mm[1])
                cells.append(spread(ratios(ours, theirs, "cpu_ms_per_msg"), 2, "×"))
            s.append("| CPU/msg ÷ postfix | " + " | ".join(cells) + " |")
    cut = [r for r in rows if r["cut"]]
    if cut:
        s.append("\nRuns cut at the time bound (the rate is what arrived within it): "
                 + ", ".join(f"{r['server']} {mode_name(r['concurrency'], r['reuse'])} rep {r['rep']} "
                             f"({r['delivered']}/{r['sent']})" for r in cut) + ".")
    starts = {name: median([r.get("started_in_s") for r in rows if r["server"] == name]) for name in names}
    s.append("\nStart of each server before its run (not part of the figures): "
             + ", ".join(f"{name} {v:.2f} s" for name, v in starts.items() if v is not None) + ".\n")
    if "mailflow" in names and "postfix" in names:
        def extremes(server: str) -> tuple:
            """The mode with the lowest msgs/s ratio and the one with the highest CPU ratio to Postfix,
            each as (median, its per-repetition ratios, mode)."""
            rate, cpu = [], []
            for mm in modes:
                mine = by_rep(rows, server=server, concurrency=mm[0], reuse=mm[1])
                theirs = by_rep(rows, server="postfix", concurrency=mm[0], reuse=mm[1])
                per = ratios(mine, theirs, "rate")
                if per:
                    rate.append((median(per), per, mm))
                per = ratios(mine, theirs, "cpu_ms_per_msg")
                if per:
                    cpu.append((median(per), per, mm))
            return (min(rate, key=lambda x: x[0], default=None), max(cpu, key=lambda x: x[0], default=None))

        def cell(word: str, found) -> str:
            return f"{word}: {spread(found[1], 2, '×')} ({mode_name(*found[2])})" if found else "—"

        low, high = extremes("mailflow")
        bare_low, bare_high = extremes("aiosmtpd") if "aiosmtpd" in names else (None, None)
        targets.append(("MX ingest ≥ 1.0× Postfix's delivered msgs/s in every mode", cell("lowest", low),
                        verdict(low[0] if low else None, 1.0), cell("lowest", bare_low) if bare_low else ""))
        targets.append(("MX ingest server CPU per message ≤ Postfix's", cell("highest", high),
                        verdict(high[0] if high else None, 1.0, at_most=True),
                        cell("highest", bare_high) if bare_high else ""))
    if "mailflow" in names and "maildev" in names:
        new = []
        for mm in modes:
            if not mm[1]:
                ours = by_rep(rows, server="mailflow", concurrency=mm[0], reuse=mm[1])
                theirs = by_rep(rows, server="maildev", concurrency=mm[0], reuse=mm[1])
                new.append((median(ratios(ours, theirs, "rate")), mm))
        low = min((w for w in new if w[0] is not None), default=None)
        targets.append(("MX ingest ≥ 1.5× MailDev, new connection per message",
                        f"lowest: {low[0]:.2f}× ({mode_name(*low[1])})" if low else "—",
                        verdict(low[0] if low else None, 1.5)))
    return s


def _latency(rows: list[dict], targets: list) -> list[str]:
    names = [n for n in LABELS if any(r["server"] == n for r in rows)]
    s = ["## Sequential session latency\n",
         "One whole session at a time (connect, greeting, EHLO, MAIL, RCPT, DATA, 2 KB, 250, QUIT, 221), smtplib.\n",
         "| server | sessions | p50 ms | p95 ms | p50 ÷ Postfix (same repetition) |", "|---|---|---|---|---|"]
    post = by_rep(rows, server="postfix")
    for name in names:
        mine = by_rep(rows, server=name)
        s.append(f"| {LABELS[name]} | {spread([r['sessions'] for r in mine.values()])} | "
                 f"{spread([r['p50_ms'] for r in mine.values()], 2)} | {spread([r['p95_ms'] for r in mine.values()], 2)} | "
                 f"{spread(ratios(mine, post, 'p50_ms'), 2, '×') if post and name != 'postfix' else ''} |")
    if post and any(r["server"] == "mailflow" for r in rows):
        value = median(ratios(by_rep(rows, server="mailflow"), post, "p50_ms"))
        bare = by_rep(rows, server="aiosmtpd")
        targets.append(("Session latency p50 ≤ 1.2× Postfix's",
                        spread(ratios(by_rep(rows, server="mailflow"), post, "p50_ms"), 2, "×"),
                        verdict(value, 1.2, at_most=True),
                        spread(ratios(bare, post, "p50_ms"), 2, "×") if bare else ""))
    return s + [""]


def _submission(all_rows: list[dict], ingest_rows: list[dict], meta: dict, targets: list) -> list[str]:
    rows = [r for r in all_rows if r.get("server", "mailflow") == "mailflow"]
    # each floor: its name in the tables, in the targets' cell, and its rows
    floors = [(label, short, [r for r in all_rows if r.get("server") == name])
              for name, label, short in zip(RELAYS, ("bare two hops", "bare two hops, fsync"),
                                            ("bare two hops", "with fsync"))]
    modes = []
    for r in all_rows:
        mode = (r["concurrency"], r["reuse"])
        if mode not in modes:
            modes.append(mode)
    modes.sort(key=lambda x: (x[1], x[0]))
    viewer_counts = sorted({r["viewers"] for r in rows}) or [0]
    s = ["## Submission end to end (AUTH, MSA → DNS → MX → Maildir)\n",
         "alice@alpha.test → bob@beta.test through the front door's submission port, AUTH PLAIN, smtplib; two "
         "SMTP hops, three fsynced stores, five events per message. 250 → new/ = the file's arrival in bob's "
         "`new/` − the client's 250 for that Message-ID. Client CPU = the sending program's own (smtplib, one "
         "thread per connection), per delivered message.\n"]
    if floors[0][2]:
        s.append(f"The bare two-hop reference ({BARE_RELAY}) is the same path with nothing Mailflow promises: "
                 "an aiosmtpd MSA with AUTH answering 250 from memory, ten kept connections to an aiosmtpd MX in the "
                 "same process, a stdlib Maildir; no fsync, no DNS lookup, no event, no log (`relay_server.py`). "
                 "It is the floor of what two hops on this library and one Python process cost here. \"Bare two "
                 "hops, fsync\" adds what \"250 means on disk\" costs and nothing else: a queue file fsynced with its "
                 "directory before the MSA's 250 (removed, and the directory fsynced, after the MX's), a Maildir file "
                 "fsynced, linked into `new/` and `new/` fsynced before the MX's 250, each in a worker thread, a "
                 "directory's fsync group-committed among concurrent messages.\n")
    s += ["| mode | server | viewers | delivered msgs/s | 250 → new/ p50 / p95 / p99 ms | server CPU/msg ms "
          "| client CPU/msg ms | hop → viewer p95 ms |",
          "|---|---|---|---|---|---|---|---|"]
    for mm in modes:
        groups = [("Mailflow", v, [r for r in rows if (r["concurrency"], r["reuse"]) == mm and r["viewers"] == v])
                  for v in viewer_counts]
        groups += [(label, 0, [r for r in mine if (r["concurrency"], r["reuse"]) == mm]) for label, _, mine in floors]
        for label, v, mine in groups:
            if not mine:
                continue
            s.append(f"| {mode_name(*mm)} | {label} | {v} | {spread([r.get('rate') for r in mine])} | "
                     f"{spread([r.get('to_maildir_p50_ms') for r in mine], 1)} / "
                     f"{spread([r.get('to_maildir_p95_ms') for r in mine], 1)} / "
                     f"{spread([r.get('to_maildir_p99_ms') for r in mine], 1)} | "
                     f"{spread([r.get('cpu_ms_per_msg') for r in mine], 2)} | "
                     f"{spread([r.get('client_cpu_ms_per_msg') for r in mine], 2)} | "
                     f"{spread([(r.get('hop_to_viewer') or {}).get('p95_ms') for r in mine]) if v else ''} |")
    s.append("")
    post_rows = [r for r in ingest_rows if r["server"] == "postfix"]
    lines = []
    p95s = []
    budget = []
    try:
        cpus = int((meta.get("machine") or {}).get("cpus"))
    except (TypeError, ValueError):
        cpus = None
    for mm in modes:
        base = by_rep([r for r in rows if r["viewers"] == 0], concurrency=mm[0], reuse=mm[1])
        bare = [(short, by_rep(mine, concurrency=mm[0], reuse=mm[1])) for _, short, mine in floors]
        post = by_rep(post_rows, concurrency=mm[0], reuse=mm[1])
        with_viewers = by_rep([r for r in rows if r["viewers"] == max(viewer_counts)], concurrency=mm[0], reuse=mm[1])
        row = f"| {mode_name(*mm)} | {spread(ratios(base, post, 'rate'), 2, '×') if post else '—'} | "
        row += "".join(f"{spread(ratios(floor, post, 'rate'), 2, '×') if post and floor else '—'} | " for _, floor in bare)
        row += (spread(ratios(with_viewers, base, 'rate'), 2, '×') if max(viewer_counts) else '—') + " |"
        lines.append(row)
        p95s.append((median([r.get("to_maildir_p95_ms") for r in rows if (r["concurrency"], r["reuse"]) == mm]), mm))
        if mm[0] == 10 and post:
            value = median(ratios(base, post, "rate"))
            targets.append((f"Submission end to end ≥ 0.5× Postfix's single-hop rate at c=10 ({'reused' if mm[1] else 'new'})",
                            spread(ratios(base, post, "rate"), 2, "×"), verdict(value, 0.5),
                            ", ".join(f"{spread(ratios(floor, post, 'rate'), 2, '×')} ({short})"
                                      for short, floor in bare if floor)))
            goal = median([0.5 * r["rate"] for r in post.values() if r.get("rate")])
            if goal and cpus:
                def cpu(by: dict, key: str = "cpu_ms_per_msg") -> str:
                    return spread([median([r.get(key) for r in by.values()])], 2, " ms")

                (_, least), (_, least_durable) = bare
                budget.append(f"{mode_name(*mm)}: half of Postfix's rate is {goal:,.0f} msgs/s, so the {cpus} CPUs "
                              f"have {cpus * 1000 / goal:.2f} ms per message for the client and the server together; "
                              f"the client took {cpu(base, 'client_cpu_ms_per_msg')}, Mailflow {cpu(base)}"
                              + (f", the bare two hops {cpu(least)}" if least else "")
                              + (f" ({cpu(least_durable)} with fsync)" if least_durable else ""))
        if max(viewer_counts) and mm[0] == 10:
            value = median(ratios(with_viewers, base, "rate"))
            targets.append((f"Submission with {max(viewer_counts)} viewers within 10 % of none "
                            f"({mode_name(*mm)})", spread(ratios(with_viewers, base, "rate"), 2, "×"),
                            verdict(value, 0.9)))
    s += ["| mode | Mailflow, no viewers ÷ Postfix ingest, same mode | bare two hops ÷ Postfix ingest | "
          "bare two hops, fsync ÷ Postfix ingest | Mailflow with viewers ÷ without |", "|---|---|---|---|---|", *lines, ""]
    if budget:
        s.append("**The CPU a target rate leaves.** " + "; ".join(budget) + ".\n")
    worst = max((p for p in p95s if p[0] is not None), default=None)
    if worst:
        targets.append(("Submission p95 from the 250 to the Maildir < 50 ms (every mode)",
                        f"highest: {worst[0]:.1f} ms ({mode_name(*worst[1])})", verdict(worst[0], 50, at_most=True)))
    return s


def _retrieval(rows: list[dict], targets: list) -> list[str]:
    s = ["## IMAP and POP3 on the same Maildir, beside Dovecot\n"]
    first = rows[0]
    count = next(iter(first["imap"].get("cold", {}).values()), {}).get("count")
    s.append(f"{count:,} messages (bench_imap.py's generator). Cold = first session on a copy never seen; warm = "
             "first session after a restart (on-disk index/uid list kept); cached = the next session. Seconds "
             "of wall time per phase; ratio = Mailflow ÷ Dovecot in the same repetition.\n" if count else "")
    for protocol, phases in (("imap", retrieval_phases("imap")), ("pop3", retrieval_phases("pop3"))):
        s += [f"**{protocol.upper()}**\n", "| state | phase | Mailflow s | Dovecot s | ratio |", "|---|---|---|---|---|"]
        for state in ("cold", "warm", "cached"):
            for phase in (*phases, "total"):
                ours = [r[protocol].get(state, {}).get("mailflow", {}).get("times", {}).get(phase) for r in rows]
                theirs = [r[protocol].get(state, {}).get("dovecot", {}).get("times", {}).get(phase) for r in rows]
                per = [a / b for a, b in zip(ours, theirs) if a and b]
                bold = "**" if phase == "total" else ""
                s.append(f"| {state} | {bold}{phase}{bold} | {spread(ours, 3)} | {spread(theirs, 3)} | {spread(per, 2, '×')} |")
        cpu_o = [r[protocol].get("cached", {}).get("mailflow", {}).get("cpu", {}).get("total") for r in rows]
        cpu_d = [r[protocol].get("cached", {}).get("dovecot", {}).get("cpu", {}).get("total") for r in rows]
        hwm_o = [max((v.get("mailflow", {}).get("hwm_mib") or 0) for v in r[protocol].values()) for r in rows]
        hwm_d = [max((v.get("dovecot", {}).get("hwm_mib") or 0) for v in r[protocol].values()) or None for r in rows]
        s.append(f"\nServer CPU of the cached session: Mailflow {spread(cpu_o, 2, ' s')}, Dovecot {spread(cpu_d, 2, ' s')}. "
                 f"Peak RSS of the serving process: Mailflow (all of app.py) {spread(hwm_o, 0, ' MiB')}, "
                 f"Dovecot's {protocol} process {spread(hwm_d, 0, ' MiB')}.\n")
        if protocol == "imap":
            for state, target in (("cold", 1.5), ("warm", 1.0), ("cached", 1.0)):
                per = []
                for r in rows:
                    a = r["imap"].get(state, {}).get("mailflow", {}).get("times", {}).get("total")
                    b = r["imap"].get(state, {}).get("dovecot", {}).get("times", {}).get("total")
                    if a and b:
                        per.append(a / b)
                targets.append((f"IMAP {state} ≤ {target}× Dovecot (total time)", spread(per, 2, "×"),
                                verdict(median(per), target, at_most=True)))
            alone = [(r.get("imap_server_alone") or {}).get("peak_rss_mib") for r in rows]
            peak = [r.get("mailflow_peak_rss_mib") for r in rows]
            idle = [r.get("mailflow_idle_rss_mib") for r in rows]
            s.append(f"Memory with these messages: app.py idle after start {spread(idle, 0, ' MiB')}, peak after the IMAP "
                     f"sessions {spread(peak, 0, ' MiB')}; the IMAP server alone (bench_imap.py's server process: "
                     f"ImapServer and the mail store, the process the issue's 100 MiB was measured on) "
                     f"{spread([(r.get('imap_server_alone') or {}).get('idle_rss_mib') for r in rows], 0, ' MiB')} idle, "
                     f"peak {spread(alone, 0, ' MiB')}.\n")
            targets.append((f"IMAP peak RSS with {count:,} messages < 60 MiB (the IMAP server process alone; "
                            f"app.py's whole peak: {spread(peak, 0, ' MiB')})",
                            spread(alone, 0, " MiB"), verdict(median(alone), 60, at_most=True)))
    notes = [n for r in rows for n in r.get("notes", [])]
    if notes:
        s.append("Checks: " + "; ".join(sorted(set(notes))) + ".\n")
    return s


def retrieval_phases(protocol: str) -> tuple[str, ...]:
    from .retrieval import IMAP_PHASES, POP3_PHASES
    return IMAP_PHASES if protocol == "imap" else POP3_PHASES


def _browser(rows: list[dict], targets: list) -> list[str]:
    n = rows[0].get("messages")
    s = ["## A burst into one Chromium page\n",
         f"{n:,} messages (10 connections, AUTH) while headless Chromium shows the page; hop → drawing = the first "
         "animation frame after the page folded the batch in − the hop's time.\n",
         "| events reaching the page | events/s | hop → drawing p50 / p95 ms | all drawn after the burst's last hop, ms "
         "| frames/s during the burst | longest frame gap ms | tasks > 50 ms | longest task ms |",
         "|---|---|---|---|---|---|---|---|",
         f"| {spread([r.get('events') for r in rows])} of {spread([r.get('expected_events') for r in rows])} | "
         f"{spread([r.get('events_per_s') for r in rows])} | {spread([r.get('hop_to_drawing_p50_ms') for r in rows])} / "
         f"{spread([r.get('hop_to_drawing_p95_ms') for r in rows])} | {spread([r.get('all_drawn_after_burst_ms') for r in rows])} | "
         f"{spread([r.get('fps') for r in rows])} | {spread([r.get('longest_frame_gap_ms') for r in rows])} | "
         f"{spread([r.get('long_tasks') for r in rows])} | {spread([r.get('longest_task_ms') for r in rows])} |", ""]
    if any(r.get("long_tasks_before_burst") is not None for r in rows):
        s += ["Tasks are counted during the burst: any part of them between its first hop and the last drawing. "
              "Before it, the page's own start-up (its scripts evaluated, its first API answers; the burst begins "
              f"0.5 s after the page says it is ready): {spread([r.get('long_tasks_before_burst') for r in rows])} "
              f"task(s) > 50 ms, the longest {spread([r.get('longest_task_before_burst_ms') for r in rows], 0, ' ms')}.", ""]
    drawn = median([r.get("all_drawn_after_burst_ms") for r in rows])
    targets.append(("Browser: every event of the burst drawn within 2 s of its end",
                    spread([r.get("all_drawn_after_burst_ms") for r in rows], 0, " ms"), verdict(drawn, 2000, at_most=True)))
    fps = median([r.get("fps") for r in rows])
    targets.append(("Browser: ≥ 30 frames per second during the burst", spread([r.get("fps") for r in rows], 0, " fps"),
                    verdict(fps, 30)))
    # "no task over 50 ms" holds for a run or not: judged on the worst repetition, not the median
    worst = max([r["longest_task_ms"] for r in rows if r.get("longest_task_ms") is not None], default=None)
    targets.append(("Browser: no main-thread task over 50 ms during the burst (every repetition)",
                    spread([r.get("longest_task_ms") for r in rows], 0, " ms longest"),
                    verdict(worst, 50, at_most=True)))
    return s


def _startup(rows: list[dict], targets: list) -> list[str]:
    s = ["## Start-up and memory (app.py)\n",
         "| first start (fresh data dir) s | restart s | ports answering | RSS idle MiB | RSS with viewers, now / peak MiB "
         "| hop → viewer p95 ms |", "|---|---|---|---|---|---|",
         f"| {spread([r['first_start_s'] for r in rows], 2)} | {spread([r['restart_s'] for r in rows], 2)} | "
         f"{spread([r['ports_answering'] for r in rows])} of {spread([r['ports_listed'] for r in rows])} | "
         f"{spread([r['rss_idle_mib'] for r in rows])} | {spread([r['rss_viewers_mib'] for r in rows])} / "
         f"{spread([r['rss_viewers_peak_mib'] for r in rows])} | {spread([r['hop_to_viewer']['p95_ms'] for r in rows])} |",
         f"\nViewers: {spread([r['viewers_joined'] for r in rows])} joined.\n"]
    worst = [max(r["first_start_s"], r["restart_s"]) for r in rows]
    targets.append(("Start-up under 1 s to every port listening (the slower of first start and restart)",
                    spread(worst, 2, " s"), verdict(median(worst), 1.0, at_most=True)))
    idle = [r["rss_idle_mib"] for r in rows]
    targets.append(("RSS idle under 80 MiB", spread(idle, 0, " MiB"), verdict(median(idle), 80, at_most=True)))
    return s


def _hall(rows: list[dict], targets: list) -> list[str]:
    asked = rows[0]["viewers_asked"]
    s = ["## A lecture hall\n",
         f"{asked} Socket.IO viewers on one web process, {rows[0]['messages']} messages one after another.\n",
         "| viewers joined | hop → viewer p50 / p95 / p99 ms | worst viewer's p95 ms | events per viewer (min–max) |",
         "|---|---|---|---|",
         f"| {spread([r['viewers_joined'] for r in rows])} of {asked} | "
         f"{spread([r['hop_to_viewer']['p50_ms'] for r in rows])} / {spread([r['hop_to_viewer']['p95_ms'] for r in rows])} / "
         f"{spread([r['hop_to_viewer']['p99_ms'] for r in rows])} | {spread([r['hop_to_viewer']['p95_worst_viewer_ms'] for r in rows])} | "
         f"{min(r['hop_to_viewer']['events_min'] for r in rows)}–{max(r['hop_to_viewer']['events_max'] for r in rows)} |", ""]
    joined = median([r["viewers_joined"] for r in rows])
    if joined is not None and joined < asked:
        s.append(f"Only {joined:.0f} of {asked} viewers were admitted (the web UI's Socket.IO connection cap).\n")
    p95 = median([r["hop_to_viewer"]["p95_ms"] for r in rows])
    targets.append((f"{asked} viewers: hop → viewer p95 < 500 ms on one process"
                    + (f" (only {joined:.0f} admitted)" if joined is not None and joined < asked else ""),
                    spread([r["hop_to_viewer"]["p95_ms"] for r in rows], 0, " ms"), verdict(p95, 500, at_most=True)))
    return s
