"""Old path, kept until runtime.py and world.py import ``simulator.protocols.dns``: re-exports only."""
from .dns.zone import *  # noqa: F401,F403
from .dns.zone import EDNS_PAYLOAD, MAX_CNAME_CHAIN, TCP_MAX_SIZE, Authority, Record, Reply, answer, handle_wire, respond  # noqa: F401
