"""Protocol implementations: sans-IO cores and their asyncio adapters."""
