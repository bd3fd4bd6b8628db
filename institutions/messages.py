"""Messages kept as an English msgid with parameters and put into words when they are read, in
the reader's language — not in the language of the worker that met the problem.

`message("The hospital refused the request (HTTP %(status)s).") % {"status": 403}` reads like
gettext, so makemessages finds the msgid (modules import it as `_`); `to_json()` is what a row
stores and `render()` turns it back into words. Written here because Django's lazy strings
render in the active language but cannot be stored and read back as msgid + parameters.
"""

from django.utils.translation import gettext


class Message:
    """A msgid and its parameters (numbers, text, or other Messages)."""

    def __init__(self, msgid: str, params: dict | None = None):
        self.msgid, self.params = str(msgid), params or {}

    def __mod__(self, params: dict) -> "Message":
        return Message(self.msgid, {key: _param(value) for key, value in params.items()})

    def __str__(self) -> str:
        words = gettext(self.msgid)
        if not self.params:
            return words
        return words % {
            key: str(value) if isinstance(value, Message) else value
            for key, value in self.params.items()
        }

    def __repr__(self) -> str:
        return f"Message({self.msgid!r}, {self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Message) and (self.msgid, self.params) == (
            other.msgid,
            other.params,
        )

    def __hash__(self) -> int:
        return hash(self.msgid)

    def to_json(self) -> dict:
        return {
            "msgid": self.msgid,
            "params": {
                key: value.to_json() if isinstance(value, Message) else value
                for key, value in self.params.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> "Message":
        params = {
            key: cls.from_json(value) if isinstance(value, dict) and "msgid" in value else value
            for key, value in (data.get("params") or {}).items()
        }
        return cls(data.get("msgid", ""), params)


def message(msgid: str) -> Message:
    return Message(msgid)


def _param(value):
    if isinstance(value, Message | int | float | bool) or value is None:
        return value
    return str(value)  # an address, a lazy string: kept as its text


def render(data: dict | None, fallback: str = "") -> str:
    """A stored message in the active language; `fallback` (text stored before) without one."""
    return str(Message.from_json(data)) if data and data.get("msgid") else fallback
