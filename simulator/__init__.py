"""Mailflow: an educational, sandboxed mail-flow simulator."""
