import copy
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.record import (
    DAY0,
    IN_TOWN_PLACE_KINDS,
    ControlClaim,
    Figure,
    RecordError,
    figure_follows_from_quote,
    format_figure,
    load_record,
    normalize_text,
    quote_in_article,
)


@pytest.fixture(scope="module")
def record():
    return load_record()


def test_the_record_loads_and_is_not_trivial(record):
    assert len(record.control_claims) >= 15
    assert len(record.events) >= 40
    assert len(record.casualties) >= 10
    assert len(record.forces) >= 8


def test_every_quote_occurs_in_the_article(record, article_text):
    missing = [(e.id, e.quote) for e in record.entries() if not quote_in_article(e.quote, article_text)]
    assert missing == []


def test_every_place_alias_occurs_in_the_article(record, article_text):
    text = normalize_text(article_text)
    missing = [(p.name, a) for p in record.places for a in p.aliases if normalize_text(a) not in text]
    assert missing == []


def test_every_figure_follows_from_its_quote(record):
    wrong = [
        (e.id, name, fig)
        for e in record.entries()
        for name, fig in e.figures_by_name().items()
        if not figure_follows_from_quote(fig, e.quote)
    ]
    assert wrong == []


def test_days_agree_with_dates_and_sections_are_sorted(record):
    for entry in record.entries():
        assert entry.day == (entry.date - DAY0).days, entry.id
    for section in (record.forces, record.control_claims, record.events, record.casualties, record.spatial_claims):
        dates = [e.date for e in section]
        assert dates == sorted(dates)


def test_every_percentage_and_fraction_of_the_article_is_in_the_record(record, article_text):
    """Completeness: each "N%" / "N percent" / "two-thirds" of the article is quoted by some entry."""
    text = normalize_text(article_text)
    quotes = " | ".join(normalize_text(e.quote) for e in record.entries())
    shares = re.findall(r"\d+ ?(?:%|percent)", text) + re.findall(r"two-thirds of the city", text)
    assert shares, "the article should hold percentages"
    assert [s for s in shares if s not in quotes] == []


def test_infobox_figures_are_all_recorded(record):
    figures = {x for e in record.entries() for f in e.figures_by_name().values() for x in f.numbers()}
    for number in (1900, 15, 5000, 6000, 1700, 2000, 431, 500, 1000, 1257, 1192, 114, 23, 8, 200, 47):
        assert number in figures, number


def test_key_claims_and_events_are_present(record):
    grid = [c for c in record.control_claims if c.share.rule == "ratio"]
    assert [(c.day, round(c.share.value, 4)) for c in grid] == [(10, 0.8125)]
    kinds = {(e.kind, e.place) for e in record.events}
    for place in ("al-Dabaa air base", "Hamidiya", "Arjoun", "Jawadiyeh"):
        assert ("capture", place) in kinds, place
    assert {"encirclement", "corridor", "withdrawal", "fall", "water_cut", "rotation_policy"} <= {
        e.kind for e in record.events
    }
    fall = [e for e in record.events if e.kind == "fall"]
    assert [e.date.isoformat() for e in fall] == ["2013-06-05"]
    barrage = next(e for e in record.events if "shells_per_min" in e.figures)
    assert (barrage.day, barrage.figures["shells_per_min"].value) == (6, 40)


@pytest.mark.parametrize(
    ("figure", "text"),
    [
        (Figure(low=200.0, qualifier="more than"), "more than 200"),
        (Figure(high=0.8, qualifier="up to"), "up to 0.8"),
        (Figure(low=200.0), ">= 200"),
        (Figure(value=0.6, qualifier="about"), "about 0.6"),
        (Figure(low=24.0, high=99.0), "24-99"),
    ],
)
def test_a_figure_prints_its_bound_once(figure, text):
    assert format_figure(figure) == text


def test_gov_share_of_a_rebel_claim_is_the_complement():
    claim = ControlClaim.model_validate(
        {
            "id": "x",
            "date": DAY0,
            "day": 0,
            "source": "s",
            "lean": "opposition",
            "quote": "rebels were holding 80 percent",
            "holder": "rebels",
            "share": {"value": 0.8, "rule": "percent"},
        }
    )
    assert claim.gov_share == pytest.approx((0.2, 0.2))


@pytest.mark.parametrize(
    ("figure", "quote", "follows"),
    [
        ({"value": 0.6, "rule": "percent"}, "in control of 60% of the city", True),
        ({"value": 0.6, "rule": "percent"}, "in control of 60 of the city", False),
        ({"value": 0.5, "rule": "percent"}, "in control of 60% of the city", False),
        ({"value": 0.6, "rule": "literal"}, "in control of 60% of the city", False),
        ({"value": 0.667, "rule": "fraction_word"}, "captured two-thirds of the city", True),
        ({"value": 0.75, "rule": "fraction_word"}, "captured two-thirds of the city", False),
        ({"value": 0.8125, "rule": "ratio"}, "16 squares, of which they had captured 13", True),
        ({"value": 0.75, "rule": "ratio"}, "16 squares, of which they had captured 13", False),
        ({"low": 6, "high": 7, "rule": "literal"}, "lasted for six to seven hours", True),
        ({"value": 1900}, "1,900 fighters", True),
        ({"value": 1800}, "1,900 fighters", False),
        ({"low": 7, "high": 9}, "killing 7–9 and wounding 80", True),
        ({"low": 0.5, "high": 1.0, "rule": "phrase"}, "more than half the city", True),
        ({"low": 0.6, "high": 1.0, "rule": "phrase"}, "more than half the city", False),
        ({"low": 0.5, "high": 1.0, "rule": "phrase"}, "sixty of the city", False),
    ],
)
def test_derivation_rules(figure, quote, follows):
    assert figure_follows_from_quote(Figure.model_validate(figure), quote) is follows


def test_quotes_match_across_mojibake_and_line_wraps():
    article = "killing 7â€“9 and\n   wounding 80"
    assert quote_in_article("killing 7–9 and wounding 80", article)
    assert not quote_in_article("killing 7–9 and wounding 81", article)


# --- bad input -------------------------------------------------------------------------------


@functools.cache
def _record_mapping() -> dict:
    """The record file as YAML reads it, parsed once (PyYAML's pure-Python parser takes tenths of a second)."""
    from sim.record import DEFAULT_RECORD_PATH

    return yaml.safe_load(DEFAULT_RECORD_PATH.read_text(encoding="utf-8"))


def _write_broken(tmp_path: Path, breaker) -> Path:
    raw = copy.deepcopy(_record_mapping())  # a breaker changes its copy only
    breaker(raw)
    path = tmp_path / "record.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _first_claim_id(raw) -> str:
    return raw["control_claims"][0]["id"]


@pytest.mark.parametrize(
    ("breaker", "expected"),
    [
        (
            lambda raw: raw["control_claims"][0].update(colour="red"),
            ["control_claims.0", "colour", "Extra inputs", "valid keys:", "holder"],
        ),
        (lambda raw: raw["control_claims"][0].update(day="zero"), ["control_claims.0", "day"]),
        (lambda raw: raw["control_claims"][0].update(day=5), ["control_claims.0", "day is 5"]),
        (lambda raw: raw["control_claims"][0]["share"].update(rule="guess"), ["control_claims.0", "share.rule"]),
        (lambda raw: raw["control_claims"][0].update(lean="pro-rebel"), ["control_claims.0", "lean"]),
        (lambda raw: raw["control_claims"].reverse(), ["comes after a later date"]),
        (lambda raw: raw["control_claims"][0].update(restates="no-such-event"), ["restates 'no-such-event'"]),
        (lambda raw: raw["control_claims"][0].update(restates="water-cut"), ["not an outcome event"]),
        (lambda raw: raw["control_claims"][0].update(restates="fall"), ["restates 'fall'", "another date"]),
        (
            lambda raw: raw["spatial_claims"][0].update(parts=["the bakery"]),
            ["spatial claim 'main-square-captured'", "part 'the bakery'", "neither an area"],
        ),
        (
            lambda raw: raw["spatial_claims"][0].update(holder="rebels"),
            ["spatial_claims.0", "'taken' is taken by the attackers"],
        ),
        (lambda raw: raw["spatial_claims"][0].update(extent="all"), ["spatial_claims.0", "extent"]),
        (  # a village is outside the town: not a part of it
            lambda raw: raw["spatial_claims"][0].update(parts=["Arjoun"]),
            ["spatial claim 'main-square-captured'", "part 'Arjoun'", "facility or landmark"],
        ),
        (  # the control claims' areas moved to spatial claims
            lambda raw: raw["control_claims"][0].update(areas_gov=["east"]),
            ["control_claims.0", "areas_gov", "Extra inputs"],
        ),
    ],
)
def test_a_malformed_record_names_file_entry_and_field(tmp_path, breaker, expected):
    path = _write_broken(tmp_path, breaker)
    with pytest.raises(RecordError) as info:
        load_record(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_the_aps_first_day_says_where_each_side_stood(record):
    spatial = {c.id: c for c in record.spatial_claims}
    gov, rebels = spatial["where-d00-ap-more-than-half-gov"], spatial["where-d00-ap-more-than-half-rebels"]
    assert (gov.holder, gov.change, gov.parts, gov.lean, gov.day) == ("gov", "holds", ["south", "east"], "neutral", 0)
    assert (rebels.holder, rebels.parts, rebels.lean, rebels.day) == ("rebels", ["north", "west"], "neutral", 0)
    assert (gov.source, rebels.source) == ("AP", "AP")
    assert {c.id for c in record.spatial_claims if c.change == "taken"} >= {"main-square-captured", "south-seized"}
    assert not any(e.kind == "capture" and e.place == "main square / municipality building" for e in record.events)


MOVED_CAPTURES = {
    "main-square-captured",
    "main-square-capture-confirmed",
    "south-seized",
    "state-media-east-stability",
    "south-west-captured-d15",
    "local-government-building-d15",
    "water-station-captured",
}


def test_captures_inside_the_town_are_spatial_claims_not_events(record):
    inside = {p.name for p in record.places if p.kind in IN_TOWN_PLACE_KINDS}
    in_town_captures = [
        e.id
        for e in record.events
        if e.kind == "capture" and (e.place in inside or (e.place == "al-Qusayr" and e.directions))
    ]
    assert in_town_captures == []
    spatial = {c.id: c for c in record.spatial_claims}
    assert set(spatial) >= MOVED_CAPTURES
    assert not MOVED_CAPTURES & {e.id for e in record.events}
    assert all(spatial[i].holder == "gov" for i in MOVED_CAPTURES)
    assert spatial["state-media-east-stability"].change == "holds"  # "restored stability", not a seizure
    assert spatial["south-seized"].parts == ["south", "town hall"]
    assert not any(c.restates in MOVED_CAPTURES for c in record.control_claims)


def test_spatial_claims_quote_the_article_and_name_their_day(record, article_text):
    assert len(record.spatial_claims) >= 30
    for claim in record.spatial_claims:
        assert quote_in_article(claim.quote, article_text), claim.id
        assert claim in record.entries()
        if claim.id not in MOVED_CAPTURES:
            assert re.fullmatch(r"where-d(\d\d)-[a-z0-9-]+", claim.id), claim.id
            assert int(claim.id[7:9]) == claim.day, claim.id
        assert "expected" not in claim.quote  # an expectation is not a claim of who held what


def test_every_landmark_in_the_town_is_named_by_a_spatial_claim(record):
    named = {part for c in record.spatial_claims for part in c.parts}
    inside = {p.name for p in record.places if p.kind in IN_TOWN_PLACE_KINDS}
    assert inside - named == set()
    assert {"town hall", "stadium area", "cultural centre", "church", "al-Baladyeh roundabout"} <= inside
    assert {"al-Ghytta area", "security buildings", "makeshift hospital", "local government building"} <= inside


def test_the_control_claims_areas_became_spatial_claims(record):
    spatial = {c.id: c for c in record.spatial_claims}
    expected = {
        "where-d00-hezbollah-two-thirds-rebels": ("rebels", ["north"]),
        "where-d01-activist-most-gov": ("gov", ["main square / municipality building", "centre"]),
        "where-d01-activist-outskirts-gov": ("gov", ["outskirts"]),
        "where-d04-rebel-sources-40pct-rebels": ("rebels", ["centre", "west"]),
        "where-d09-spokesman-security-buildings": ("gov", ["security buildings"]),
        "where-d12-reuters-two-thirds-rebels": ("rebels", ["centre"]),
    }
    for ident, (holder, parts) in expected.items():
        assert (spatial[ident].holder, spatial[ident].parts) == (holder, parts), ident
    claims = {c.id: c for c in record.control_claims}
    for ident in expected:
        claim = spatial[ident]
        same_day = [c for c in claims.values() if c.day == claim.day and c.source == claim.source]
        assert same_day, ident  # the control claim it came from: same day, same source


def test_the_state_medias_second_day_list(record):
    spatial = {c.id: c for c in record.spatial_claims}
    landmarks = spatial["where-d01-state-media-landmarks"]
    assert (landmarks.day, landmarks.holder, landmarks.lean) == (1, "gov", "government")
    assert set(landmarks.parts) == {
        "stadium area",
        "main square / municipality building",
        "cultural centre",
        "church",
        "al-Baladyeh roundabout",
        "al-Ghytta area",
    }
    west = spatial["where-d01-state-media-west-some"]
    assert (west.parts, west.extent) == (["west"], "some")
    remnants = spatial["where-d01-state-media-remnants"]
    assert (remnants.holder, remnants.parts, remnants.extent) == ("rebels", ["north", "east"], "some")


def test_the_rebels_last_stand_is_the_north(record):
    """From day 4 on, each claim of where the rebels held names the north, the centre or the west."""
    north = [c for c in record.spatial_claims if c.holder == "rebels" and "north" in c.parts]
    assert {c.day for c in north} >= {0, 1, 4, 5, 9, 11, 15}
    assert {c.lean for c in north} == {"government", "opposition", "neutral"}
    late = [c for c in record.spatial_claims if c.holder == "rebels" and c.day >= 4]
    assert all(set(c.parts) <= {"north", "centre", "west", "makeshift hospital"} for c in late)
    mop_up = next(c for c in record.spatial_claims if c.id == "where-d17-mop-up-north")
    assert (mop_up.holder, mop_up.parts, mop_up.lean) == ("gov", ["north"], "government")


def test_error_names_the_entry_id(tmp_path):
    ident = {}

    def breaker(raw):
        ident["id"] = _first_claim_id(raw)
        raw["control_claims"][0]["day"] = 99

    path = _write_broken(tmp_path, breaker)
    with pytest.raises(RecordError, match=re.escape(repr(ident["id"]))):
        load_record(path)


def test_cli_refuses_a_bad_record_with_status_2_and_no_traceback(tmp_path):
    path = _write_broken(tmp_path, lambda raw: raw["events"][0].update(place=["a", "list"]))
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "record", "--file", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(path) in proc.stderr
    assert "events.0" in proc.stderr
    assert proc.stdout == ""


def test_cli_refuses_a_missing_file(tmp_path, capsys):
    assert main(["record", "--file", str(tmp_path / "nope.yaml")]) == 2
    assert f"{tmp_path / 'nope.yaml'}: no such record file" in capsys.readouterr().err


def test_cli_prints_the_record_as_a_table_and_as_json(record, capsys):
    assert main(["record"]) == 0
    table = capsys.readouterr().out
    assert "2013-05-29" in table
    assert "SOHR" in table
    assert len(table.splitlines()) >= len(record.entries())
    assert main(["record", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["control_claims"]) == len(record.control_claims)
    assert data["day0"] == "2013-05-19"
