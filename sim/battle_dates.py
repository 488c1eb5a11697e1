"""The battle's calendar: day 0, the start of a run, the record's last day and a run's last day.

Light on purpose (the standard library only): the command line's bounds need it before anything heavy.
"""

from __future__ import annotations

import datetime as dt

DAY0 = dt.date(2013, 5, 19)
"""Day 0: the first day of the assault on the town (the article: "started on 19 May 2013")."""

BATTLE_START = dt.datetime.combine(DAY0, dt.time())
BATTLE_LAST_DAY = dt.date(2013, 6, 6)  # the article's narrative ends with mop-up on 6 June
# a run may go on past the record, so that a late fall is seen rather than cut off by the run's end
RUN_LAST_DAY = dt.date(2013, 6, 10)


def battle_date(day: int, *, iso: bool = False) -> str:
    """Day ``day`` of the battle (day 0: the record's ``DAY0``) as a date: '29 May', or '2013-05-29' with ``iso``."""
    date = DAY0 + dt.timedelta(days=day)
    return date.isoformat() if iso else f"{date.day} {date:%B}"
