"""Every button's callback data, read in one place.

Each kind of button the bot shows is one `CallbackPattern` here, written as one or more templates: fixed words,
`{name:a|b}` for one of a few words, `{name:word}` for a short word the handler checks (a language code, a profile
field), `{name:int}` for a number kept in an INTEGER column (record ids, versions, scores) and `{name:bigint}` for
one that must fit a BIGINT (a Unix time). A handler is registered with its pattern, which matches only well-formed
data whose numbers fit their columns, and reads the values with it (`read`). Anything else a button carries — an
old keyboard, forged data, a number too large for the database — reaches no handler but the fallback
(`bot.handlers.fallback`), which answers it like any other stale button.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.ui.numbers import bigint, row_id
from scheduler.rendering import STOP_CALLBACK

_FIELD = re.compile(r"\{(\w+):([^}]+)\}")
_WORD = r"[A-Za-z0-9_]{1,32}"
_NUMBERS: dict[str, Callable[[str], int | None]] = {"int": row_id, "bigint": bigint}


class StaleButton(ValueError):
    """Data a handler's pattern does not match: never seen by a registered handler."""


class Values(dict[str, int | str]):
    """What a button carried, by field name."""

    def number(self, name: str) -> int:
        value = self[name]
        assert isinstance(value, int)
        return value

    def word(self, name: str) -> str:
        value = self[name]
        assert isinstance(value, str)
        return value


class _Template:
    def __init__(self, template: str) -> None:
        self.numbers: dict[str, Callable[[str], int | None]] = {}
        regex, at = "", 0
        for field in _FIELD.finditer(template):
            name, kind = field.groups()
            regex += re.escape(template[at : field.start()])
            if kind in _NUMBERS:
                regex += f"(?P<{name}>[0-9]+)"
                self.numbers[name] = _NUMBERS[kind]
            elif kind == "word":
                regex += f"(?P<{name}>{_WORD})"
            else:
                regex += f"(?P<{name}>{'|'.join(re.escape(choice) for choice in kind.split('|'))})"
            at = field.end()
        self.regex = re.compile(regex + re.escape(template[at:]))

    def parse(self, data: str) -> Values | None:
        match = self.regex.fullmatch(data)
        if match is None:
            return None
        values = Values(match.groupdict())
        for name, number_of in self.numbers.items():
            number = number_of(match[name])
            if number is None:
                return None
            values[name] = number
        return values


class CallbackPattern:
    """One kind of button: given to `CallbackQueryHandler(pattern=…)`, it matches the data that handler takes."""

    def __init__(self, *templates: str) -> None:
        self.templates = templates
        self.pattern = " | ".join(templates)  # the name PTB, logs and tests see
        self._templates = [_Template(template) for template in templates]

    def __call__(self, data: object) -> bool:
        return self.parse(data) is not None

    def __repr__(self) -> str:
        return f"CallbackPattern({self.pattern!r})"

    def parse(self, data: object) -> Values | None:
        """The values `data` carries, or None when it is not this kind of button (or a number does not fit)."""
        if not isinstance(data, str):
            return None
        for template in self._templates:
            values = template.parse(data)
            if values is not None:
                return values
        return None

    def read(self, data: object) -> Values:
        """For the handler registered with this pattern: the values of data the pattern matched."""
        values = self.parse(data)
        if values is None:
            raise StaleButton(self.pattern)
        return values


# --- customers -----------------------------------------------------------------------------------------------------
LANGUAGE = CallbackPattern("lang:{code:word}")
MENU_LANGUAGE = CallbackPattern("menu:language")
MENU_PROFILE = CallbackPattern("menu:profile")
MENU_TICKETS = CallbackPattern("menu:tickets")
MENU_TOPIC = CallbackPattern("menu:{topic:presale|order|aftersale}")
PROFILE = CallbackPattern("profile:{field:word}")
PRIVACY = CallbackPattern("privacy:{action:forget}:{shown_at:bigint}", "privacy:{action:keep}")
TERMS = CallbackPattern("terms:{action:agree|read}:{version:int}", "terms:{action:later}")
CARE_STOP = CallbackPattern(STOP_CALLBACK)
CSAT = CallbackPattern("care:csat:{ticket:int}:{score:int}")
NPS = CallbackPattern("care:nps:{score:int}")
FRESHNESS = CallbackPattern("care:fresh:{answer:yes|update}")
FAQ_HELPED = CallbackPattern("faq:helped:{faq:int}")
FAQ_PERSON = CallbackPattern("faq:person:{faq:int}")
CLOSE_OWN_TICKET = CallbackPattern("tickets:close:{ticket:int}")

# --- staff ---------------------------------------------------------------------------------------------------------
TICKET_CARD = CallbackPattern("tk:{action:take|resolve|close|reopen}:{ticket:int}")
TICKET_ASSIGN = CallbackPattern("tk:assign:{ticket:int}")  # who may take it: one button per agent with an inbox
TICKET_ASSIGN_TO = CallbackPattern("tk:to:{ticket:int}:{staff:bigint}")
CUSTOMER_CARD = CallbackPattern("staff:card:{customer:int}")
CUSTOMER_PURCHASES = CallbackPattern("staff:purchases:{customer:int}")
AUDIT_OLDER = CallbackPattern("audit:{customer:int}:{before:int}")
BROADCAST = CallbackPattern("staff:bcast:{action:go|no}:{broadcast:int}")
IMPORT = CallbackPattern("staff:import:{action:commit|discard}:{import:int}")
