"""The page's interface strings (en)."""
UI: dict[str, str] = {}
