"""English texts of the world facts."""
from __future__ import annotations

from ... import facts as f
from ..markup import code, listing


def _world_mx_table(table: tuple[tuple[int, str], ...]) -> str:
    if not table:
        return "no MX records"
    if table == ((0, "."),):
        return f"a null MX ({code('MX 0 .')}): the domain accepts no mail"
    return listing(code(f"MX {p} {h}") for p, h in table)


def _world_host_state(x: f.HostStateChanged) -> tuple[str, str]:
    state = "up" if x.up else "down"
    summary = f"{x.host} is now {state}"
    if x.up:
        explain = (f"The teacher started {x.host} again. It listens on its ports once more, and the "
                   f"mail waiting in its queue is retried at once.")
    else:
        explain = (f"The teacher took {x.host} down: nothing listens on its address any more, so a "
                   f"sending server's connection is refused. DNS still names it: the next lookup and "
                   f"connection show what a real MTA does when a server is unreachable.")
    return summary, explain


def _world_mx_changed(x: f.MxTableChanged) -> tuple[str, str]:
    table = _world_mx_table(x.mx)
    return (f"the MX table of {x.domain} is now: {table}",
            f"The teacher changed the MX table of {x.domain}: {table}. The DNS server answers with the "
            f"new table from now on, so the next lookup of a sending MTA sees the change.")


_WORLD_STEPS = {
    f.Step.SUBMIT: lambda x: f"{x.user}'s mail client (MUA) hands the message to {x.host}",
    f.Step.DNS_QUERY: lambda x: f"{x.host} asks DNS for the MX of {x.domain}",
    f.Step.CONNECT: lambda x: f"{x.host} connects to {x.target} ({x.address})",
    f.Step.DELIVER: lambda x: f"the MDA of {x.host} delivers to {x.rcpt}",
    f.Step.REPLY: lambda x: f"{x.host} answers: {code(x.reply)}",
}


def _world_next_hop(x: f.NextHop) -> tuple[str, str]:
    what = _WORLD_STEPS[x.step](x)
    return (f"Next hop waiting: {what}",
            "The world is paused: this hop happens when the teacher presses Step (or Play). "
            "Real servers and clients really wait meanwhile: to them the server is just slow.")


TEXTS = {f.HostStateChanged: _world_host_state, f.MxTableChanged: _world_mx_changed, f.NextHop: _world_next_hop}
REASONS: dict = {}
