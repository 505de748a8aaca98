"""CRM export cells: times, amounts, statuses. Each parser returns the value or raises
:class:`CellError` naming the field, the value and the fix, which the loader turns into a
quarantined row."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from funnelscope.model.deals import DealStatus

_BLANK: Final = frozenset({"", "null", "none", "n/a", "na", "-", "nan"})
_US_DATE = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ ,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$"
)
_DOT_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ ,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_EPOCH = re.compile(r"^\d{9,13}$")
_AMOUNT = re.compile(r"^[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")
_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}$")
_SYMBOLS: Final = (("US$", "USD"), ("€", "EUR"), ("£", "GBP"), ("¥", "JPY"), ("₹", "INR"),
                   ("$", None))  # fmt: skip
_GROUPED_COMMA = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_GROUPED_DOT = re.compile(r"^\d{1,3}(\.\d{3})+(,\d+)?$")
_WON: Final = frozenset({"won", "closed won", "closedwon", "closed_won", "win", "true", "1", "yes"})
_LOST: Final = frozenset(
    {"lost", "closed lost", "closedlost", "closed_lost", "loss", "false", "0", "no"}
)
_OPEN: Final = frozenset({"open", "active", "in progress", "pending", ""})


class CellError(ValueError):
    def __init__(self, field: str, value: str, problem: str, fix: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.value, self.problem, self.fix = field, value, problem, fix


def blank(value: str | None) -> bool:
    return value is None or value.strip().lower() in _BLANK


def text(value: str | None) -> str | None:
    return None if blank(value) else str(value).strip()


def parse_time(value: str | None, field: str, zone: tzinfo = UTC) -> datetime | None:
    """ISO 8601 (with or without offset, 'Z'), epoch seconds or milliseconds, US
    ``MM/DD/YYYY [h:mm[:ss] [AM|PM]]`` and ``DD.MM.YYYY [hh:mm]``; a time without an offset is
    read in ``zone``. The result is aware UTC."""
    if blank(value):
        return None
    assert value is not None
    raw = value.strip()
    try:
        moment = _parse(raw, zone)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise CellError(
            field,
            raw,
            f"{raw!r} is not a time",
            "write ISO 8601 like 2026-03-01T14:30:00+01:00, or epoch milliseconds",
        )
    return moment.astimezone(UTC)


def _parse(raw: str, zone: tzinfo) -> datetime | None:
    if _EPOCH.match(raw):
        number = int(raw)
        seconds = number / 1000 if len(raw) >= 12 else number
        return datetime.fromtimestamp(seconds, UTC)
    found = _US_DATE.match(raw) or _DOT_DATE.match(raw)
    if found is not None:
        a, b, year = int(found.group(1)), int(found.group(2)), int(found.group(3))
        month, day = (a, b) if found.re is _US_DATE else (b, a)
        hour = int(found.group(4) or 0)
        minute, second = int(found.group(5) or 0), int(found.group(6) or 0)
        if found.re is _US_DATE and found.group(7):
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if found.group(7).lower() == "pm" else 0)
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    moment = datetime.fromisoformat(raw.replace(" UTC", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def parse_amount(value: str | None, field: str) -> tuple[float | None, str | None]:
    """An amount as CRM exports write it, and the currency written with it: ``1200.50``,
    ``1,200.50``, ``1.200,50``, ``$1,200``, ``€ 1.200,50``, ``USD 1,200.00``, ``1 200,50 EUR``.

    Spaces and apostrophes group thousands; with both ``,`` and ``.`` the last one is the
    decimal mark; a lone ``,`` followed by groups of exactly three digits groups thousands, else
    it is the decimal mark; dots group thousands only when there are several (``1.234.567``), so
    ``1.200`` is 1.2. A code (``EUR``) or ``€ £ ¥ ₹ US$`` sets the currency; a bare ``$`` does
    not (it names several currencies): the deal's currency column or the settings decide."""
    if blank(value):
        return None, None
    assert value is not None
    raw = value.strip()
    work = raw.replace("\u00a0", " ").replace("\u202f", " ")
    code: str | None = None
    for symbol, symbol_code in _SYMBOLS:
        if symbol in work:
            work, code = work.replace(symbol, " "), symbol_code
            break
    parts = work.split()
    if len(parts) > 1 and _CURRENCY_CODE.match(parts[0]):
        code, parts = parts[0].upper(), parts[1:]
    elif len(parts) > 1 and _CURRENCY_CODE.match(parts[-1]):
        code, parts = parts[-1].upper(), parts[:-1]
    number = plain_number("".join(parts).replace("'", ""))
    if not _AMOUNT.match(number):
        raise CellError(
            field, raw, f"{raw!r} is not an amount",
            "write a plain number like 1200.50, optionally with a code: 1200 EUR",
        )  # fmt: skip
    amount = float(number)
    if amount < 0 or amount != amount or amount == float("inf"):
        raise CellError(field, raw, f"{raw!r} is not an amount of 0 or more", "fix the amount")
    return amount, code


def plain_number(number: str) -> str:
    """Thousands separators out, the decimal mark as a dot."""
    if "," in number and "." in number:
        if number.rfind(",") > number.rfind("."):
            return number.replace(".", "").replace(",", ".")
        return number.replace(",", "")
    if "," in number:
        return number.replace(",", "") if _GROUPED_COMMA.match(number) else number.replace(",", ".")
    if _GROUPED_DOT.match(number) and number.count(".") > 1:
        return number.replace(".", "")
    return number


def parse_currency(value: str | None, field: str) -> str | None:
    if blank(value):
        return None
    assert value is not None
    raw = value.strip()
    if not _CURRENCY_CODE.match(raw):
        raise CellError(field, raw, f"{raw!r} is not a currency code", "write ISO 4217, e.g. EUR")
    return raw.upper()


def parse_status(value: str | None, field: str) -> DealStatus | None:
    """won/lost/open in the words CRMs use; None when blank (the stage decides)."""
    if value is None:
        return None
    word = value.strip().lower()
    if word in _WON:
        return DealStatus.WON
    if word in _LOST:
        return DealStatus.LOST
    if word in _OPEN:
        return None if word == "" else DealStatus.OPEN
    raise CellError(field, value, f"{value!r} is not a deal status", "write open, won or lost")


def days_between(start: datetime, end: datetime) -> float:
    return (end - start) / timedelta(days=1)
