"""The page's interface strings (ru)."""
UI: dict[str, str] = {}
