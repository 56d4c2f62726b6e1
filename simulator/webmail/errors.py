"""The one error the webmail library raises: an HTTP status for the web layer, a message, a code.

``status`` says what kind of failure it is (the web layer answers with it as it stands):

  400  bad input (a header field with CR or LF, a bad address, bad base64 ...), the field named;
  401  the login failed (the same words whether the user exists or not);
  404  no such folder or message;
  413  the message is larger than the MSA takes (its SIZE);
  422  a server refused (the message carries the server's reply);
  503  a server cannot be reached (connection refused, timed out, closed under us).

``message`` is plain English for a developer's log and a fallback for the page; ``code`` (a stable
key: ``"bad_field"``, ``"login_failed"``, ``"too_large"`` ...) and ``field`` / ``reply`` are data the
page can word in the learner's language from the catalogues.
"""
from __future__ import annotations

__all__ = ["WebmailError"]


class WebmailError(Exception):
    def __init__(self, status: int, message: str, *, code: str = "", field: str = "", reply: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.field = field          # the form field at fault (400)
        self.reply = reply          # the server's own words (422)

    def to_dict(self) -> dict[str, str]:
        """The JSON body of the web layer's answer: ``{"error": message, ...}``."""
        out = {"error": self.message}
        out.update({k: v for k, v in (("code", self.code), ("field", self.field), ("reply", self.reply)) if v})
        return out

    def __repr__(self) -> str:
        return f"WebmailError({self.status}, {self.message!r})"
