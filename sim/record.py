"""The historical record of the battle: schema, loader and the rules that derive its figures.

The record (``seeds/<battle>/record.yaml``) is data extracted from the source article. Every entry
carries its date, ``day`` (days since 19 May 2013, the first day of the assault = day 0), the
source as the article names it, that source's lean, and a short fragment quoted from the article.
Every number of an entry is a :class:`Figure` whose ``rule`` says how it follows from the quote:

- ``literal``: each number is written in the quote (digits, "1,900", or a word such as "six");
- ``percent``: the quote writes ``100 * value`` followed by "%" or "percent";
- ``ratio``: the value is ``a / b`` for two numbers ``a`` and ``b`` written in the quote
  ("16 squares, of which they had captured 13" -> 13 / 16 = 0.8125);
- ``fraction_word``: a fraction written in words ("two-thirds" -> 0.667, see FRACTION_WORDS);
- ``phrase``: a vague phrase mapped to a fixed interval (see PHRASE_INTERVALS; those intervals are
  assumptions of this project, not figures of the source).

:func:`figure_follows_from_quote` checks a figure against its quote; the tests run it on every
figure of the shipped record.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from sim.battle_dates import DAY0
from sim.installation import shipped
from sim.loading import InputModel, LoadError, load

DEFAULT_RECORD_PATH = shipped("seeds", "al-qusayr-2013", "record.yaml")

Lean = Literal["government", "opposition", "neutral"]
DateBasis = Literal["stated", "inferred"]
TimeOfDay = Literal["night", "dawn", "morning", "day", "evening", "end_of_day"]
Holder = Literal["gov", "rebels"]
Actor = Literal["gov", "army", "hezbollah", "rebels", "civilians", "iran", "international"]
Area = Literal[
    "north", "south", "east", "west", "centre", "northwest", "northeast", "southwest", "southeast", "outskirts"
]
Rule = Literal["literal", "percent", "ratio", "fraction_word", "phrase"]

FRACTION_WORDS: dict[str, float] = {
    "two-thirds": 2 / 3,
    "half": 1 / 2,
}
"""Fractions written in words, with their value (rule ``fraction_word``; tolerance 0.001)."""

PHRASE_INTERVALS: dict[str, tuple[float, float]] = {
    # Shares of the town (0-1). Assumption: "more than half" and "most" mean a share in [0.5, 1];
    # "much of" is weaker than "most" and is read as [0.4, 1].
    "more than half": (0.5, 1.0),
    "most of": (0.5, 1.0),
    "much of": (0.4, 1.0),
    # "pushed back to their starting positions on the outskirts": the attackers hold (almost)
    # none of the town. Assumption: [0, 0.1].
    "starting positions": (0.0, 0.1),
    # "regained control of the city": the whole town. Assumption: [0.95, 1] (mop-up went on).
    "regained control": (0.95, 1.0),
    # Head counts. Assumption: "several hundred" is 200-900, "hundreds" 200-999, "dozens" 24-99.
    "several hundred": (200.0, 900.0),
    "hundreds": (200.0, 999.0),
    "dozens": (24.0, 99.0),
}
"""Vague phrases and the interval each is read as (rule ``phrase``). Assumptions, not sources."""

NUMBER_WORDS: dict[str, float] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
}

MOJIBAKE = {"â€“": "–", "â€”": "—", "â€™": "’", "â€œ": "“", "â€\x9d": "”"}
"""The article file stores UTF-8 dashes and quotes decoded as cp1252; the record uses the real ones."""


def normalize_text(text: str) -> str:
    """Repair the article's mojibake and collapse white space, so quotes match across line wraps."""
    for bad, good in MOJIBAKE.items():
        text = text.replace(bad, good)
    return " ".join(text.split())


def numbers_in(text: str) -> set[float]:
    """Every number written in ``text``: digits ("1,900", "40%", "7–9", "500+") and number words."""
    found = {float(m.replace(",", "")) for m in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in NUMBER_WORDS:
            found.add(NUMBER_WORDS[word])
    return found


MAX_ENTRIES = 10_000  # assumption: the shipped record has 145 dated entries; one article never holds this many
MAX_PLACES = 1_000  # assumption: the shipped record names 25 places


TOWN = "al-Qusayr"  # the record's name for the town, where it dates the town's fate


class Strict(InputModel):
    """Base of every record model: unknown keys, silent type coercions and infinite floats are errors."""

    model_config = ConfigDict(strict=True, frozen=True)


class Figure(Strict):
    """One number of an entry: a ``value`` or an interval ``low``-``high``, and how it was derived.

    ``high`` may be left out for an open interval ("more than 1,000" -> low 1000).
    ``qualifier`` keeps the source's hedge ("about", "up to", "more than", "at least").
    """

    value: float | None = None
    low: float | None = None
    high: float | None = None
    rule: Rule = "literal"
    qualifier: str | None = None

    @model_validator(mode="after")
    def _value_or_interval(self) -> Figure:
        if self.value is None and self.low is None and self.high is None:
            raise ValueError("a figure needs a value, or low and/or high")
        if self.value is not None and (self.low is not None or self.high is not None):
            raise ValueError("a figure has either a value or an interval (low/high), not both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self

    @property
    def interval(self) -> tuple[float, float]:
        """The figure as a closed interval; an open end is infinite."""
        if self.value is not None:
            return (self.value, self.value)
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        return (low, high)

    def numbers(self) -> list[float]:
        """The numbers this figure states."""
        return [x for x in (self.value, self.low, self.high) if x is not None]


class Entry(Strict):
    """Fields every dated entry shares."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    date: dt.date
    day: int
    date_basis: DateBasis = "stated"
    date_note: str | None = None
    time_of_day: TimeOfDay | None = None
    source: str
    lean: Lean
    quote: str = Field(min_length=3)
    note: str | None = None

    @model_validator(mode="after")
    def _day_matches_date(self) -> Entry:
        expected = (self.date - DAY0).days
        if self.day != expected:
            raise ValueError(f"day is {self.day} but date {self.date.isoformat()} is day {expected}")
        if self.date_basis == "inferred" and not self.date_note:
            raise ValueError("an inferred date needs a date_note saying how it was inferred")
        return self

    def figures_by_name(self) -> dict[str, Figure]:
        """Every figure of the entry, by name."""
        return {}


class Place(Strict):
    """A place the article names, with the spellings it uses."""

    name: str
    kind: Literal["town", "village", "air_base", "facility", "landmark", "area", "river", "road", "region", "city"]
    aliases: list[str] = Field([], max_length=MAX_PLACES)
    note: str | None = None


class ControlClaim(Entry):
    """A dated claim of how much of the town ``holder`` held, as a share of the town (0-1).

    ``restates`` names an outcome event of the record, of the same date, that states the same fact
    (the article's summary repeating its narrative, say): the fact is then compared once, as that
    event (as the claim if the model does not date such an event).
    """

    holder: Holder
    share: Figure
    gain_share: Figure | None = None
    restates: str | None = None

    def figures_by_name(self) -> dict[str, Figure]:
        """The share, and the gain when the claim gives one."""
        named = {"share": self.share}
        if self.gain_share is not None:
            named["gain_share"] = self.gain_share
        return named

    @property
    def gov_share(self) -> tuple[float, float]:
        """The claim as an interval of the attackers' share of the town."""
        low, high = self.share.interval
        return (low, high) if self.holder == "gov" else (1.0 - high, 1.0 - low)


IN_TOWN_PLACE_KINDS = ("facility", "landmark")  # places inside the town a spatial claim may name


class SpatialClaim(Entry):
    """A dated claim of where in the town a side stood.

    ``holds``: ``holder`` held ``parts`` at the time of the claim; ``taken``: the attackers took them
    on the claim's day. A part is an area of the town (:data:`Area`: "the northern part of town",
    "the centre") or a place inside it (a record place of kind facility or landmark: the main square,
    the stadium area). ``extent`` reads "some parts of the western area" (``some``) apart from "the
    western area" (``most``). Where each part lies is the scenario's (``town.parts``), not the record's.
    """

    holder: Holder
    change: Literal["holds", "taken"] = "holds"
    parts: list[str] = Field(min_length=1, max_length=MAX_PLACES)
    extent: Literal["most", "some"] = "most"

    @model_validator(mode="after")
    def _taken_by_the_attackers(self) -> SpatialClaim:
        if self.change == "taken" and self.holder != "gov":
            raise ValueError("holder: a part 'taken' is taken by the attackers (gov); the rebels' stand is 'holds'")
        return self


EventKind = Literal[
    "assault",
    "bombardment",
    "air_raid",
    "missile_strike",
    "capture",
    "clashes",
    "counter_attack",
    "supply_cut",
    "encirclement",
    "reinforcement",
    "reinforcement_blocked",
    "tactics",
    "rotation_policy",
    "obstacles",
    "tunnels",
    "water_cut",
    "civilian_exit",
    "evacuation_attacked",
    "corridor",
    "withdrawal",
    "fall",
    "mop_up",
    "engineering",
    "appeal",
]
EventRole = Literal["outcome", "input", "context"]

FigureName = Literal[
    "fighters",
    "vehicles",
    "tanks",
    "technicals",
    "shells_per_min",
    "duration_h",
    "raids",
    "missiles",
    "posts",
    "points",
    "prongs",
    "incidents",
    "killed",
    "wounded",
    "killed_or_wounded",
    "people",
    "days_on",
    "days_off",
    "distance_km",
    "houses_destroyed",
]


class Event(Entry):
    """A dated event: what happened, where, by whom.

    ``role`` says what a model does with it: ``outcome`` (the model must reproduce it: captures,
    encirclement, withdrawal, fall), ``input`` (taken as given: arrivals, fire plans, policies) or
    ``context`` (recorded, not modelled).
    """

    kind: EventKind
    role: EventRole
    actor: Actor | None = None
    place: str | None = None
    directions: list[Area] = Field([], max_length=len(Area.__args__))
    figures: dict[FigureName, Figure] = Field(default_factory=dict)
    disputed_by: str | None = None

    def figures_by_name(self) -> dict[str, Figure]:
        """The event's figures."""
        return dict(self.figures)


ForceKind = Literal["fighters", "units", "civilians_present", "civilians_trapped", "wounded_awaiting", "force_ratio"]
ForceSide = Literal["rebels", "army", "hezbollah", "gov", "civilians"]


class ForceFigure(Entry):
    """A strength: fighters or units of a side, civilians present, wounded awaiting evacuation."""

    kind: ForceKind
    side: ForceSide
    figure: Figure

    def figures_by_name(self) -> dict[str, Figure]:
        """The strength figure."""
        return {"figure": self.figure}


CasualtySide = Literal["rebels", "army", "hezbollah", "iran", "civilians", "unspecified"]
CasualtyScope = Literal["battle", "to_date", "day", "incident"]


class CasualtyReport(Entry):
    """Casualties of one side as one source reported them, for the battle, to date, or an incident.

    ``part_of_total`` marks a figure that counts only some of the side's casualties (the foreigners
    among the rebels killed, say): a part of another report's total, not a total of its own.
    """

    side: CasualtySide
    scope: CasualtyScope
    killed: Figure | None = None
    wounded: Figure | None = None
    captured: Figure | None = None
    part_of_total: bool = False

    @model_validator(mode="after")
    def _has_a_figure(self) -> CasualtyReport:
        if self.killed is None and self.wounded is None and self.captured is None:
            raise ValueError("a casualty report needs killed, wounded or captured")
        return self

    def figures_by_name(self) -> dict[str, Figure]:
        """Killed, wounded and captured, where given."""
        named = {"killed": self.killed, "wounded": self.wounded, "captured": self.captured}
        return {name: fig for name, fig in named.items() if fig is not None}


class SourceRef(Strict):
    """Where the record comes from."""

    title: str
    url: str
    licence: str
    retrieved: dt.date
    file: str


class Record(Strict):
    """The whole record; each list is sorted by date, and ids are unique across the record."""

    battle: str
    day0: dt.date
    source: SourceRef
    places: list[Place] = Field(max_length=MAX_PLACES)
    forces: list[ForceFigure] = Field(max_length=MAX_ENTRIES)
    control_claims: list[ControlClaim] = Field(max_length=MAX_ENTRIES)
    events: list[Event] = Field(max_length=MAX_ENTRIES)
    casualties: list[CasualtyReport] = Field(max_length=MAX_ENTRIES)
    spatial_claims: list[SpatialClaim] = Field([], max_length=MAX_ENTRIES)

    @model_validator(mode="after")
    def _consistent(self) -> Record:
        if self.day0 != DAY0:
            raise ValueError(f"day0 must be {DAY0.isoformat()}, the first day of the assault")
        seen: set[str] = set()
        for entry in self.entries():
            if entry.id in seen:
                raise ValueError(f"id {entry.id!r} is used twice")
            seen.add(entry.id)
        for section in ("forces", "control_claims", "events", "casualties", "spatial_claims"):
            dates = [e.date for e in getattr(self, section)]
            for i in range(1, len(dates)):
                if dates[i] < dates[i - 1]:
                    entry = getattr(self, section)[i]
                    raise ValueError(f"{section}: entry {entry.id!r} ({dates[i]}) comes after a later date")
        known = {p.name for p in self.places}
        for event in self.events:
            if event.place is not None and event.place not in known:
                raise ValueError(f"event {event.id!r}: place {event.place!r} is not in places")
        parts = set(Area.__args__) | {p.name for p in self.places if p.kind in IN_TOWN_PLACE_KINDS}
        for claim in self.spatial_claims:
            for part in claim.parts:
                if part not in parts:
                    raise ValueError(
                        f"spatial claim {claim.id!r}: part {part!r} is neither an area of the town "
                        f"({', '.join(Area.__args__)}) nor a place of kind {' or '.join(IN_TOWN_PLACE_KINDS)}"
                    )
        outcomes = {e.id: e for e in self.events if e.role == "outcome"}
        for claim in self.control_claims:
            if claim.restates is None:
                continue
            if claim.restates not in outcomes:
                raise ValueError(f"control claim {claim.id!r}: restates {claim.restates!r}, not an outcome event's id")
            if outcomes[claim.restates].date != claim.date:
                raise ValueError(
                    f"control claim {claim.id!r}: restates {claim.restates!r}, an event of another date "
                    f"({outcomes[claim.restates].date})"
                )
        return self

    def entries(self) -> list[Entry]:
        """Every dated entry, sorted by date (stable within a date)."""
        every: list[Entry] = [*self.forces, *self.control_claims, *self.events, *self.casualties, *self.spatial_claims]
        return sorted(every, key=lambda e: e.date)


class RecordError(LoadError):
    """A record file that cannot be used; the message names the file, the entry and the field."""


def load_record(path: Path | str = DEFAULT_RECORD_PATH) -> Record:
    """Read and validate a record file; raise :class:`RecordError` naming file, entry (index and id) and field."""
    return load(Record, Path(path), "record", RecordError)


def figure_follows_from_quote(figure: Figure, quote: str) -> bool:
    """Whether ``figure`` follows from ``quote`` by its ``rule`` (see the module docstring)."""
    text = normalize_text(quote)
    written = numbers_in(text)
    numbers = figure.numbers()

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-3 * max(1.0, abs(b))

    if figure.rule == "literal":
        return all(any(close(x, w) for w in written) for x in numbers)
    if figure.rule == "percent":
        has_sign = "%" in text or "percent" in text.lower()
        return has_sign and all(any(close(100 * x, w) for w in written) for x in numbers)
    if figure.rule == "ratio":
        ratios = [a / b for a in written for b in written if b]
        return all(any(close(x, r) for r in ratios) for x in numbers)
    if figure.rule == "fraction_word":
        fractions = [v for word, v in FRACTION_WORDS.items() if word in text.lower()]
        return all(any(close(x, f) for f in fractions) for x in numbers)
    if figure.rule == "phrase":
        return any(
            phrase in text.lower() and figure.interval == interval for phrase, interval in PHRASE_INTERVALS.items()
        )
    return False


def quote_in_article(quote: str, article_text: str) -> bool:
    """Whether ``quote`` occurs in the article, after repairing mojibake and white space in both."""
    return normalize_text(quote) in normalize_text(article_text)


def format_figure(figure: Figure) -> str:
    """A figure as a short human string: "0.6", "431-500", ">= 1000"."""

    def fmt(x: float) -> str:
        return f"{x:g}" if abs(x) < 1e5 else f"{x:,.0f}"

    if figure.value is not None:
        text = fmt(figure.value)
    elif figure.high is None:
        text = f">= {fmt(figure.low)}"  # type: ignore[arg-type]
    elif figure.low is None:
        text = f"<= {fmt(figure.high)}"
    else:
        text = f"{fmt(figure.low)}-{fmt(figure.high)}"
    if figure.qualifier:  # the qualifier says the bound in words: "more than 200", not "more than >= 200"
        return f"{figure.qualifier} {text.removeprefix('>= ').removeprefix('<= ')}"
    return text


def describe(entry: Entry) -> str:
    """What an entry says, in one short line (for tables and reports)."""
    figures = ", ".join(f"{name} {format_figure(fig)}" for name, fig in entry.figures_by_name().items())
    match entry:
        case ControlClaim():
            head = f"{entry.holder} hold share {format_figure(entry.share)}"
            if entry.gain_share is not None:
                head += f" (gained {format_figure(entry.gain_share)})"
            return head
        case Event():
            where = f" {entry.place}" if entry.place else ""
            who = f"{entry.actor} " if entry.actor else ""
            dirs = f" from {'/'.join(entry.directions)}" if entry.directions else ""
            return f"{who}{entry.kind}{where}{dirs}" + (f": {figures}" if figures else "")
        case ForceFigure():
            return f"{entry.side} {entry.kind} {format_figure(entry.figure)}"
        case CasualtyReport():
            return f"{entry.side} casualties ({entry.scope}): {figures}"
        case SpatialClaim():
            some = "some of " if entry.extent == "some" else ""
            verb = "take" if entry.change == "taken" else "hold"
            return f"{entry.holder} {verb} {some}{', '.join(entry.parts)}"
    return figures


def section_of(entry: Entry) -> str:
    """The record section an entry belongs to."""
    sections = {
        ControlClaim: "control",
        Event: "event",
        ForceFigure: "force",
        CasualtyReport: "casualty",
        SpatialClaim: "spatial",
    }
    return sections[type(entry)]


def record_lines(record: Record) -> list[str]:
    """The record as a table, one line per dated entry, for the terminal (``qusayr record``)."""
    entries = record.entries()
    header = f"{'day':>4}  {'date':10}  {'section':8}  {'what':58}  {'lean':4}  source"
    lines = [
        f"{record.battle}: {len(entries)} dated entries from {record.source.title!r} ({record.source.url})",
        f"day 0 = {record.day0.isoformat()};  leans: G government, O opposition, N neutral;  ~ date inferred",
        header,
        "-" * len(header),
    ]
    for entry in entries:
        mark = "~" if entry.date_basis == "inferred" else " "
        what = describe(entry)
        what = what if len(what) <= 58 else what[:55] + "..."
        lines.append(
            f"{entry.day:>4}{mark} {entry.date.isoformat():10}  {section_of(entry):8}  {what:58}  "
            f"{entry.lean[0].upper():4}  {entry.source}"
        )
    return lines


def town_event(record: Record, kind: str) -> Event:
    """The record's outcome event of ``kind`` (encirclement, withdrawal, fall) of the town itself."""
    for event in record.events:
        if event.role == "outcome" and event.kind == kind and event.place == TOWN:
            return event
    raise RecordError(f"record: events: no outcome event of kind {kind!r} at {TOWN}")
