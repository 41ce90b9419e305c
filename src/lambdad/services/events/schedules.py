"""Schedule expressions: `rate(N unit)` and AWS's six-field `cron(min hour day-of-month month
day-of-week year)`, validated as EventBridge validates them, with the next firing after a time.

croniter computes the five classic fields; what AWS's dialect adds is handled here:
- the year field (croniter has none): firings in years the field excludes are skipped;
- day-of-week numbers are 1-7 = SUN-SAT (croniter: 0-6), translated; `nL` (the last weekday n of
  the month) becomes croniter's `Ln`;
- `?` (no value) must stand in exactly one of day-of-month and day-of-week;
- `LW` (the last weekday of the month) is computed here;
- the ranges, steps and names are checked here so that a bad expression gets AWS's one message.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import CroniterError, croniter

from lambdad.errors import EventsError

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# A firing further away than this is "never" (a year field in the past, 30 February).
_HORIZON_YEARS = 250


def invalid_schedule() -> EventsError:
    return EventsError("Parameter ScheduleExpression is not valid.", code="ValidationException")


@dataclass(frozen=True, slots=True)
class Rate:
    seconds: int

    def next_after(self, after: float, anchor: float) -> float | None:
        """The first firing later than `after` on the grid anchor + k * period."""
        if after < anchor:
            return anchor
        periods = int((after - anchor) // self.seconds) + 1
        return anchor + periods * self.seconds


@dataclass(frozen=True, slots=True)
class Cron:
    expression: str  # croniter's five fields
    years: frozenset[int] | None  # None: every year
    last_weekday: bool  # day-of-month LW
    tz: tzinfo = UTC

    def next_after(self, after: float, anchor: float = 0.0) -> float | None:
        """The first firing later than `after` (None: never again, e.g. a 30 February)."""
        try:
            return self._next_after(after)
        except (CroniterError, ValueError, OverflowError):
            return None

    def _next_after(self, after: float) -> float | None:
        start = datetime.fromtimestamp(after, self.tz)
        limit = start.year + _HORIZON_YEARS
        it = croniter(self.expression, start)
        for _ in range(10_000):
            moment: datetime = it.get_next(datetime)
            if moment.year > limit:
                return None
            if self.years is not None and moment.year not in self.years:
                later = [year for year in self.years if year > moment.year]
                if not later:
                    return None
                it = croniter(self.expression, datetime(min(later), 1, 1, tzinfo=self.tz) - timedelta(seconds=1))
                continue
            if self.last_weekday and moment.day != _last_weekday(moment.year, moment.month):
                # Not the month's last weekday: go on from the end of that day (not minute by minute).
                it = croniter(self.expression, moment.replace(hour=23, minute=59, second=59))
                continue
            return float(moment.timestamp())
        return None


@dataclass(frozen=True, slots=True)
class At:
    """EventBridge Scheduler's one-time `at(yyyy-mm-ddThh:mm:ss)`."""

    when: float

    def next_after(self, after: float, anchor: float = 0.0) -> float | None:
        return self.when if self.when > after else None


Schedule = Rate | Cron | At
_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")


def parse_at(text: str, tz: tzinfo = UTC) -> At | None:
    """An `at(...)` expression in `tz`, or None when `text` is none."""
    match = _AT.fullmatch(text)
    if match is None:
        return None
    try:
        moment = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=tz)
    except ValueError:
        return None
    return At(moment.timestamp())


def _last_weekday(year: int, month: int) -> int:
    day = calendar.monthrange(year, month)[1]
    while calendar.weekday(year, month, day) >= 5:
        day -= 1
    return day


def parse_schedule(text: str, tz: tzinfo = UTC) -> Schedule:
    """A `rate(...)` or `cron(...)` expression; raises EventsError (ValidationException) as AWS does."""
    rate = _RATE.fullmatch(text)
    if rate is not None:
        value, unit = int(rate.group(1)), rate.group(2)
        if value <= 0 or (value == 1) != (not unit.endswith("s")):
            raise invalid_schedule()
        return Rate(value * _UNIT_SECONDS[unit.rstrip("s")])
    if text.startswith("cron(") and text.endswith(")"):
        return _parse_cron(text[5:-1], tz)
    raise invalid_schedule()


def _number(token: str, low: int, high: int, names: tuple[str, ...] = (), base: int = 0) -> int:
    upper = token.upper()
    if names and upper in names:
        return names.index(upper) + base
    if not token.isdigit():
        raise invalid_schedule()
    value = int(token)
    if not low <= value <= high:
        raise invalid_schedule()
    return value


def _items(field: str, low: int, high: int, names: tuple[str, ...] = (), base: int = 0,
           shift: int = 0) -> tuple[str, set[int]]:
    """A list of values, ranges and steps: croniter's spelling (numbers shifted by `shift`) and the
    values it covers."""
    out: list[str] = []
    values: set[int] = set()
    for item in field.split(","):
        if not item:
            raise invalid_schedule()
        body, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise invalid_schedule()
            step = int(step_text)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = _number(a, low, high, names, base), _number(b, low, high, names, base)
            if first > last:
                raise invalid_schedule()
        else:
            first = _number(body, low, high, names, base)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
        if body == "*":
            text = "*"
        elif first == last:
            text = str(first + shift)
        else:
            text = f"{first + shift}-{last + shift}"
        out.append(text + (f"/{step}" if step_text else ""))
    return ",".join(out), values


def _parse_cron(body: str, tz: tzinfo) -> Cron:
    fields = body.split()
    if len(fields) != 6 or body != body.strip() or "  " in body:
        raise invalid_schedule()
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):  # exactly one of them is "no value"
        raise invalid_schedule()
    cron_minutes, _ = _items(minutes, 0, 59)
    cron_hours, _ = _items(hours, 0, 23)
    cron_month, _ = _items(month, 1, 12, _MONTHS, 1)
    last_weekday = False
    if dom == "?":
        cron_dom = "*"
    elif dom == "L":
        cron_dom = "L"
    elif dom == "LW":
        cron_dom, last_weekday = "26-31", True  # the last weekday is one of the month's last days
    elif dom.endswith("W"):
        day = _number(dom[:-1], 1, 31)
        cron_dom = f"{day}W"
    else:
        cron_dom, _ = _items(dom, 1, 31)
    if dow == "?":
        cron_dow = "*"
    elif "#" in dow:
        day_text, _, nth = dow.partition("#")
        day = _number(day_text, 1, 7, _DAYS, 1)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise invalid_schedule()
        cron_dow = f"{day - 1}#{nth}"
    elif dow == "L":
        cron_dow = "6"  # alone, L in day-of-week is the last day of the week: Saturday
    elif dow.endswith("L"):
        cron_dow = f"L{_number(dow[:-1], 1, 7, _DAYS, 1) - 1}"
    else:
        cron_dow, _ = _items(dow, 1, 7, _DAYS, 1, shift=-1)
    years: frozenset[int] | None = None
    if year != "*":
        _, year_values = _items(year, 1970, 2199)
        years = frozenset(year_values)
    expression = f"{cron_minutes} {cron_hours} {cron_dom} {cron_month} {cron_dow}"
    if not croniter.is_valid(expression):
        raise invalid_schedule()
    return Cron(expression, years, last_weekday, tz)
