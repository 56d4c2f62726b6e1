from simulator.protocols.imap.server import ImapServer  # noqa: F401  (shim: moved to simulator.protocols.imap.server)
