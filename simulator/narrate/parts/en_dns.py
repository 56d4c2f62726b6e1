"""English texts of the dns facts (merged into ../en.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason


def _dns_answers(answers: tuple[str, ...]) -> str:
    return listing((code(a) for a in answers), "; ")


def _dns_order(x: f.MxLookup) -> str:
    return "; ".join(w for w in (reason("en", r) for r in x.reason) if w)


def _dns_lookup(x: f.MxLookup) -> tuple[str, str]:
    answers = _dns_answers(x.answers)
    asked = f"{x.host} asks DNS for the MX of {x.domain}: {answers or code(x.rcode)}"
    if x.error is not None:
        why = reason("en", x.error)
        after = ("The message cannot be delivered: it bounces." if x.permanent
                 else "This is temporary: the message stays in the queue and is tried again later.")
        return (f"{asked} — {why}",
                f"{x.host} asked the DNS server for the MX records of {x.domain}. Result: {why}. {after}")
    first = f"it tries {x.chosen} first" if x.chosen else "it has nowhere to try"
    order = f" ({_dns_order(x)})" if x.reason else ""
    if x.implicit or not x.answers:
        found = "there are none"
    else:
        found = answers
    return (f"{asked} — {first}",
            f"To know where to send mail for {x.domain}, the MTA {x.host} asked DNS for its MX records: "
            f"{found}. The lowest preference number wins, so {first}{order}.")


def _dns_served(x: f.DnsServed) -> tuple[str, str]:
    answers = _dns_answers(x.answers) or "no records"
    return (f"DNS question from {x.peer}: {code(x.question)} → {code(x.rcode)}",
            f"A program at {x.peer} ({code('dig')}, or a student's program) asked the sandbox DNS over "
            f"{x.transport.upper()}: {code(x.question)}. Answer: {code(x.rcode)}; {answers}. The server "
            f"is authoritative for the sandbox zones only and refuses everything else.")


TEXTS = {f.MxLookup: _dns_lookup, f.DnsServed: _dns_served}
REASONS = {
    f.RouteReason.LOWEST_FIRST: lambda r: "lowest preference first",
    f.RouteReason.OWN_PREFERENCE: lambda r: (f"this host is itself MX {r['own']}, so only better (lower) "
                                             f"preferences count"),
    f.RouteReason.EQUAL_RANDOM: lambda r: (f"equal preference {r['preference']}: random order "
                                           f"(RFC 5321 §5.1)"),
    f.RouteReason.IMPLICIT_MX: lambda r: ("no MX records: the domain's own A record is the implicit MX "
                                          "(RFC 5321 §5.1)"),
    f.RouteReason.INVALID_DOMAIN: lambda r: f"{code(r['domain'])} is not a valid domain name",
    f.RouteReason.DNS_NO_ANSWER: lambda r: f"the DNS server did not answer ({code(r['error'])})",
    f.RouteReason.DNS_RCODE: lambda r: f"the DNS server answered {code(r['rcode'])}",
    f.RouteReason.OUTSIDE: lambda r: (f"{r['domain']} is outside the sandbox: the sandbox DNS refuses to "
                                      f"answer for it, and no mail ever leaves the sandbox"),
    f.RouteReason.NXDOMAIN: lambda r: f"the domain {r['domain']} does not exist ({code('NXDOMAIN')})",
    f.RouteReason.NULL_MX: lambda r: f"{r['domain']} publishes a null MX (RFC 7505): it accepts no mail",
    f.RouteReason.LOOP: lambda r: (f"mail for {r['domain']} loops back to this host: it is the best MX "
                                   f"but not the final destination"),
    f.RouteReason.NO_ADDRESS: lambda r: f"no MX host of {r['domain']} has an address record",
    f.RouteReason.NO_MAIL_SERVER: lambda r: f"{r['domain']} has neither MX nor A records: no mail server",
}
