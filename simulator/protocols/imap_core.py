from simulator.protocols.imap import *  # noqa: F401,F403  (shim: the IMAP core is simulator.protocols.imap)
