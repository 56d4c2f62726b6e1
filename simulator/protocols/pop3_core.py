"""Old path, kept until every importer uses ``simulator.protocols.pop3``: re-exports only."""
from .pop3.core import *  # noqa: F401,F403
from .pop3.outputs import *  # noqa: F401,F403
from .pop3.core import Pop3Session, State  # noqa: F401
from .pop3.outputs import (  # noqa: F401
    Abandoned, Authenticate, Close, Deleted, DropMessage, Listed, LoggedIn, LoginRefused, MaildropError,
    Refusal, Reply, Retrieved, StartTls, Updated,
)
