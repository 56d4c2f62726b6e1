"""Issue 13's side-by-side benchmark (``bench/run``): Mailflow beside Postfix, MailDev, aiosmtpd and Dovecot.

Theory of operation: ``bench/run`` (a shell launcher) runs ``main.py`` with the project's virtualenv.
``main.py`` first finds or installs the references (``setup.py``), outside any namespace because it
may need the network; then it runs itself again inside ``unshare --net`` (``netns.py``), where only a
loopback interface exists, so no server under test can reach the machine's resolver or anything
else.  There each measure module (``ingest``, ``latency``, ``submission``, ``retrieval``,
``browser``, ``startup``, ``hall``) runs its servers one after the other -- Mailflow and the
references alternating within every repetition -- and returns raw figures; ``report.py`` turns
them into ``bench/RESULTS.md`` (median [min–max] over the repetitions, ratios per repetition).
Every process is started by these modules, remembered by its pid and ended by that pid
(``procs.py``); counts and times are bounded by the mode (``--smoke``, ``--quick``, full).
"""


def alternating(sides, rep: int) -> list:
    """The sides of an A/B comparison in the order of repetition ``rep`` (0-based): as given on even
    repetitions, reversed on odd ones, so neither side always runs first (a warm disk cache, a CPU
    that just woke up)."""
    order = list(sides)
    return order if rep % 2 == 0 else order[::-1]
