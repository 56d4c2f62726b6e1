"""Old path, kept until runtime.py imports ``simulator.protocols.pop3``: re-exports only."""
from .pop3.server import *  # noqa: F401,F403
from .pop3.server import Pop3Server  # noqa: F401
from .throttle import LoginThrottle  # noqa: F401
