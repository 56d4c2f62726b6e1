"""Old path, kept until runtime.py imports ``simulator.protocols.dns``: re-exports only."""
from .dns.server import *  # noqa: F401,F403
from .dns.server import DnsServer, QueryRecord  # noqa: F401
