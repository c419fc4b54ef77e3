"""Fuzzing with hypothesis: whatever is sent, never a 500, and nothing saved from invalid input.

Over the playground form, the JSON answers and actions (a generation's JSON, favourite,
visibility, report, delete, the moderators' decisions one by one and in bulk) and the
gallery's query string with all its filters and cursors. Alice owns the work, Bob is her
teammate, Maude moderates. Each property counts the rows it could create before and after.

Fifty examples per property keep the suite fast; hypothesis keeps the failing examples it
finds under .hypothesis/ (not committed) and tries them first next time. A failure found once
stays here as an @example.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from urllib.parse import quote_from_bytes, urlencode

import pytest
from django.test import Client
from django.utils.http import url_has_allowed_host_and_scheme
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from generations.models import (
    Favourite,
    Generation,
    Moderation,
    ModerationDecision,
    OutputImage,
    Report,
    Visibility,
)
from generations.moderation.forms import DecisionForm
from generations.wavespeed import contract
from tests.factories import add_image, completed

pytestmark = pytest.mark.django_db

# The cast and their work are made once per test, not per example: examples share them (and
# the test's transaction), so each property compares counts before and after its own request.
settings.register_profile(
    "fuzz",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
fuzz = settings(settings.get_profile("fuzz"))

# --- what can be sent -------------------------------------------------------------------------

ODD_TEXT = [
    "",
    " ",
    "\u200b\u200b",
    "\x00",
    "-1",
    "0",
    "1e3",
    "NaN",
    "inf",
    "-inf",
    "١٢٣",
    "²",
    "9" * 40,
    "-" + "9" * 40,
    "<script>alert(1)</script>",
    "%00",
    "' OR 1=1 --",
    "a" * 3000,
    "//evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
]
any_text = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.text(max_size=300),
    st.integers().map(str),
    st.floats().map(str),
)
big_ids = st.one_of(st.integers(min_value=0, max_value=2**70), st.sampled_from([0, 2**63]))


def form_field(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(valid, any_text)


PLAYGROUND_FIELDS = {
    "prompt": form_field(st.text(min_size=1, max_size=2100)),
    "aspect_ratio": form_field(st.sampled_from(contract.ASPECT_RATIOS)),
    "seed": form_field(
        st.integers(min_value=contract.SEED_MIN - 5, max_value=contract.SEED_MAX + 5).map(str)
    ),
    "guidance_scale": form_field(
        st.floats(min_value=0, max_value=25, allow_nan=False).map(lambda x: f"{x:.2f}")
    ),
    "safety_tolerance": form_field(st.sampled_from(contract.SAFETY_TOLERANCES)),
    "num_images": form_field(st.integers(min_value=-2, max_value=8).map(str)),
    "visibility": form_field(st.sampled_from(["team", "private", ""])),
}
VALID_FORM = {
    "prompt": "A lighthouse at dusk",
    "aspect_ratio": "16:9",
    "seed": "42",
    "guidance_scale": "3.5",
    "safety_tolerance": "2",
    "num_images": "1",
    "visibility": "team",
}
# One field broken in a way the form must refuse, whatever the others hold.
BROKEN_FIELDS = {
    "prompt": st.sampled_from(["", " ", "\n\t", "a" * 2001]),
    "aspect_ratio": st.text(max_size=20).filter(lambda v: v not in contract.ASPECT_RATIOS),
    "seed": st.one_of(
        st.integers(min_value=contract.SEED_MAX + 1).map(str),
        st.integers(max_value=contract.SEED_MIN - 1).map(str),
        st.text(alphabet="abcxyz.,e ", min_size=1, max_size=10).filter(lambda v: v.strip()),
    ),
    "guidance_scale": st.one_of(
        st.floats(max_value=contract.GUIDANCE_MIN, exclude_max=True).map(str),
        st.floats(min_value=contract.GUIDANCE_MAX, exclude_min=True).map(str),
        st.sampled_from(["", "nan", "abc"]),
    ),
    "safety_tolerance": st.text(max_size=5).filter(lambda v: v not in contract.SAFETY_TOLERANCES),
    "num_images": st.one_of(
        st.integers(max_value=0).map(str),
        st.integers(min_value=5).map(str),
        st.sampled_from(["x", "1.5"]),
    ),
    "visibility": st.text(min_size=1, max_size=10).filter(
        lambda v: v.strip() and v not in Visibility.values
    ),
}


def raw_body() -> st.SearchStrategy[bytes]:
    """A form body as bytes: valid fields around invalid UTF-8, stray % and separators."""
    field = st.sampled_from([*VALID_FORM, "junk"])
    value = st.one_of(
        st.binary(max_size=40).map(lambda b: quote_from_bytes(b).encode()),
        st.binary(max_size=40),
        st.sampled_from([b"%", b"%zz", b"%ff%fe", b"\xed\xa0\x80", b"a&b=c", b"="]),
    )
    pair = st.tuples(field, value).map(lambda kv: kv[0].encode() + b"=" + kv[1])
    return st.lists(pair, max_size=10).map(lambda pairs: b"&".join(pairs))


# --- the cast ---------------------------------------------------------------------------------


@pytest.fixture
def visitors(alice, bob, maude) -> dict[str, Client]:
    clients = {}
    for name, user in (("alice", alice), ("bob", bob), ("maude", maude)):
        clients[name] = Client()
        clients[name].force_login(user)
    return clients


@pytest.fixture
def work(alice) -> dict:
    """Alice's team and private work, an image awaiting review and one already rejected."""
    team, shown = completed(alice, prompt="Team lighthouse")
    private, hidden = completed(alice, prompt="Private sketch", visibility="private")
    held, _ = completed(alice, prompt="Held statue")
    held.images.all().delete()
    pending = add_image(held, nsfw=True)
    rejected = add_image(held, index=1, nsfw=True, moderation=Moderation.REJECTED)
    return {
        "generations": [team.pk, private.pk, held.pk],
        "images": [shown.pk, hidden.pk, pending.pk, rejected.pk],
        "team": team,
        "private": private,
    }


def counts() -> dict[str, int]:
    return {
        "generations": Generation.objects.count(),
        "reports": Report.objects.count(),
        "decisions": ModerationDecision.objects.count(),
        "favourites": Favourite.objects.count(),
    }


def assert_stays_on_site(response) -> None:
    if response.status_code in (301, 302):
        location = response["Location"]
        assert url_has_allowed_host_and_scheme(location, {"testserver"}), location


# --- the playground form ----------------------------------------------------------------------


@fuzz
@given(data=st.fixed_dictionaries({}, optional=PLAYGROUND_FIELDS))
@example(data={**VALID_FORM, "seed": str(contract.SEED_MAX), "num_images": "4"})
def test_the_playground_form_saves_only_what_the_api_takes(visitors, data):
    before = counts()
    response = visitors["alice"].post("/", data)
    after = counts()
    assert response.status_code in (200, 302), response.status_code
    made = after["generations"] - before["generations"]
    if response.status_code == 200:
        assert made == 0, f"the form was shown again yet {made} generation(s) saved"
        return
    assert 1 <= made <= 4
    for generation in Generation.objects.order_by("-pk")[:made]:
        assert generation.prompt and generation.prompt == generation.prompt.strip()
        assert len(generation.prompt) <= 2000
        assert generation.aspect_ratio in contract.ASPECT_RATIOS
        assert 0 <= generation.seed <= contract.SEED_MAX
        assert math.isfinite(generation.guidance_scale)
        assert contract.GUIDANCE_MIN <= generation.guidance_scale <= contract.GUIDANCE_MAX
        assert generation.safety_tolerance in contract.SAFETY_TOLERANCES
        assert generation.visibility in Visibility.values


@fuzz
@given(
    broken=st.sampled_from(list(BROKEN_FIELDS)),
    data=st.data(),
)
def test_a_form_with_a_field_the_api_refuses_saves_nothing(visitors, broken, data):
    value = data.draw(BROKEN_FIELDS[broken], label=broken)
    before = counts()
    response = visitors["alice"].post("/", {**VALID_FORM, broken: value})
    assert response.status_code == 200
    assert counts() == before


@fuzz
@given(body=raw_body())
def test_a_raw_form_body_never_breaks_the_playground(visitors, body):
    before = counts()
    response = visitors["alice"].post("/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert counts() == before


# --- the gallery's query string ---------------------------------------------------------------

GALLERY_PARAMS = [
    "view",
    "q",
    "author",
    "aspect_ratio",
    "status",
    "since",
    "date_from",
    "date_to",
    "favourites",
    "sort",
    "after",
    "before",
    "partial",
    "page",
]


def encoded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


cursors = st.one_of(
    # Well-formed cursors at any moment Python can hold, in any zone, with any id.
    st.builds(
        lambda moment, pk: encoded(f"{moment.isoformat()}|{pk}".encode()),
        st.datetimes(timezones=st.sampled_from([UTC, None])),
        st.integers(min_value=-(2**70), max_value=2**70),
    ),
    st.binary(max_size=60).map(encoded),
    any_text,
)
gallery_values = {
    "view": st.sampled_from(["team", "mine"]),
    "aspect_ratio": st.sampled_from(contract.ASPECT_RATIOS),
    "status": st.sampled_from(["completed", "in_progress", "failed"]),
    "since": st.sampled_from(["today", "7d", "30d"]),
    "date_from": st.dates().map(str),
    "date_to": st.dates().map(str),
    "favourites": st.sampled_from(["on", "1", "true"]),
    "sort": st.sampled_from(["newest", "oldest"]),
    "after": cursors,
    "before": cursors,
    "partial": st.just("1"),
    "author": st.sampled_from(["alice", "bob", "deleted user"]),
}


def gallery_value(name: str) -> st.SearchStrategy[str]:
    return st.one_of(gallery_values.get(name, any_text), any_text)


gallery_queries = st.lists(
    st.sampled_from(GALLERY_PARAMS).flatmap(
        lambda name: st.tuples(st.just(name), gallery_value(name))
    ),
    max_size=8,
)


@fuzz
@given(
    query=gallery_queries,
    who=st.sampled_from(["alice", "bob", "maude"]),
    as_json=st.booleans(),
)
@example(query=[("after", encoded(b"0001-01-01T00:00:00+00:00|1"))], who="alice", as_json=False)
@example(query=[("date_from", "9999-12-31"), ("since", "30d")], who="maude", as_json=False)
def test_the_gallery_answers_any_query_string(visitors, work, query, who, as_json):
    headers = {"HTTP_ACCEPT": "application/json"} if as_json else {}
    before = counts()
    response = visitors[who].get("/gallery/?" + urlencode(query), **headers)
    assert response.status_code == 200
    assert counts() == before


@fuzz
@given(raw=st.binary(max_size=200))
def test_the_gallery_answers_any_raw_query_bytes(visitors, work, raw):
    response = visitors["alice"].get("/gallery/?" + quote_from_bytes(raw, safe="=&"))
    assert response.status_code == 200


# --- a generation's JSON and the actions on it ------------------------------------------------


def generation_id(work: dict) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(work["generations"]), big_ids)


def image_id(work: dict) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(work["images"]), big_ids)


accept = st.sampled_from(
    ["application/json", "text/html", "*/*", "", "application/json;q=0.1, text/html;q=0.2"]
)


@fuzz
@given(data=st.data(), who=st.sampled_from(["alice", "bob", "maude"]), accept=accept)
def test_a_generations_page_and_json_answer_any_id(visitors, work, data, who, accept):
    pk = data.draw(generation_id(work), label="pk")
    response = visitors[who].get(f"/generations/{pk}/", HTTP_ACCEPT=accept)
    assert response.status_code in (200, 404)
    if response.status_code == 200 and response["Content-Type"] == "application/json":
        assert response.json()["id"] == pk


@fuzz
@given(data=st.data(), favourite=any_text, next_url=any_text, accept=accept)
@example(data=None, favourite="1", next_url="-1", accept="text/html")
@example(data=None, favourite="1", next_url="/gallery/\nSet-Cookie: x=1", accept="text/html")
def test_favourite_takes_any_value(visitors, work, bob, data, favourite, next_url, accept):
    pk = work["team"].pk if data is None else data.draw(generation_id(work), label="pk")
    response = visitors["bob"].post(
        f"/generations/{pk}/favourite/",
        {"favourite": favourite, "next": next_url},
        HTTP_ACCEPT=accept,
    )
    assert response.status_code in (200, 302, 404)
    assert_stays_on_site(response)
    # Bob stars only what he may see, and each at most once.
    starred = set(Favourite.objects.filter(user=bob).values_list("generation_id", flat=True))
    assert starred <= {work["team"].pk}


@fuzz
@given(data=st.data(), visibility=form_field(st.sampled_from(Visibility.values)), next_url=any_text)
def test_visibility_changes_only_to_a_known_value_and_only_by_its_owner(
    visitors, work, data, visibility, next_url
):
    pk = data.draw(generation_id(work), label="pk")
    before = dict(Generation.objects.values_list("pk", "visibility"))
    as_bob = visitors["bob"].post(
        f"/generations/{pk}/visibility/", {"visibility": visibility, "next": next_url}
    )
    assert as_bob.status_code in (302, 403, 404)
    assert dict(Generation.objects.values_list("pk", "visibility")) == before
    as_alice = visitors["alice"].post(
        f"/generations/{pk}/visibility/", {"visibility": visibility, "next": next_url}
    )
    assert as_alice.status_code in (302, 404)
    assert_stays_on_site(as_alice)
    after = dict(Generation.objects.values_list("pk", "visibility"))
    assert set(after.values()) <= set(Visibility.values)
    if visibility not in Visibility.values:
        assert after == before


@fuzz
@given(data=st.data(), reason=any_text, next_url=any_text)
def test_a_report_is_saved_only_with_a_reason(visitors, work, bob, data, reason, next_url):
    pk = data.draw(image_id(work), label="pk")
    before = counts()
    response = visitors["bob"].post(f"/images/{pk}/report/", {"reason": reason, "next": next_url})
    assert response.status_code in (302, 404)
    assert_stays_on_site(response)
    made = counts()["reports"] - before["reports"]
    if not reason.strip() or len(reason) > 1000:
        assert made == 0
    reported = list(Report.objects.filter(reporter=bob).values_list("image_id", flat=True))
    assert len(reported) == len(set(reported)), "one report per person and image"


@fuzz
@given(data=st.data(), body=st.dictionaries(st.sampled_from(["next", "post", "pk"]), any_text))
def test_delete_by_someone_else_deletes_nothing(visitors, work, data, body):
    pk = data.draw(generation_id(work), label="pk")
    response = visitors["bob"].post(f"/generations/{pk}/delete/", body)
    assert response.status_code in (403, 404)
    assert set(work["generations"]) <= set(Generation.objects.values_list("pk", flat=True))


# --- the moderators' decisions ----------------------------------------------------------------


@fuzz
@given(
    data=st.data(),
    action=st.sampled_from(["approve", "reject"]),
    note=any_text,
    next_flag=any_text,
    accept=accept,
)
def test_a_decision_takes_any_note_and_id(visitors, work, data, action, note, next_flag, accept):
    pk = data.draw(image_id(work), label="pk")
    before = counts()
    states = dict(OutputImage.objects.values_list("pk", "moderation"))
    response = visitors["maude"].post(
        f"/moderation/images/{pk}/{action}/",
        {"note": note, "next": next_flag},
        HTTP_ACCEPT=accept,
    )
    assert response.status_code in (200, 302, 400, 404)
    made = counts()["decisions"] - before["decisions"]
    # An unreadable note refuses the decision (400 for scripts, a message otherwise).
    if response.status_code == 404 or not DecisionForm({"note": note}).is_valid():
        assert made == 0
    else:
        target = Moderation.APPROVED if action == "approve" else Moderation.REJECTED
        assert made == (0 if states[pk] == target else 1)
    # Teammates decide nothing.
    assert visitors["bob"].post(f"/moderation/images/{pk}/{action}/").status_code == 403


@fuzz
@given(
    data=st.data(),
    action=form_field(st.sampled_from(["approve", "reject"])),
    count=form_field(st.integers(min_value=-1, max_value=6).map(str)),
    note=any_text,
    as_json=st.booleans(),
)
@example(data=None, action="approve", count="9" * 30, note="", as_json=True)
def test_a_bulk_decision_changes_only_what_it_confirms(
    visitors, work, data, action, count, note, as_json
):
    ids = (
        ["1"]
        if data is None
        else data.draw(
            st.lists(st.one_of(image_id(work).map(str), any_text), max_size=6), label="images"
        )
    )
    before = counts()
    states = dict(OutputImage.objects.values_list("pk", "moderation"))
    headers = {"HTTP_ACCEPT": "application/json"} if as_json else {}
    response = visitors["maude"].post(
        "/moderation/bulk/",
        {"action": action, "images": ids, "confirm_count": count, "note": note},
        **headers,
    )
    assert response.status_code in ((200, 400) if as_json else (200, 302))
    made = counts()["decisions"] - before["decisions"]
    changed = {
        pk
        for pk, state in OutputImage.objects.values_list("pk", "moderation")
        if states[pk] != state
    }
    # One audit row per image that changed, and none without a valid, confirmed decision.
    assert made == len(changed)
    if as_json and response.status_code == 400:
        assert made == 0
    if made:
        assert action in ("approve", "reject") and count.strip() != ""


def test_the_profile_keeps_the_fuzzing_fast():
    profile = settings.get_profile("fuzz")
    assert profile.max_examples == 50 and profile.deadline is None


@pytest.mark.parametrize("pk", [2**63, 2**64, 10**30])
def test_a_generation_id_beyond_the_database_is_not_found(client_for, alice, pk):
    assert client_for(alice).get(f"/generations/{pk}/").status_code == 404


def test_the_cursor_of_the_first_moment_is_a_page_link(client_for, alice):
    completed(alice)
    first = datetime(1, 1, 1, tzinfo=UTC)
    response = client_for(alice).get(
        "/gallery/?after=" + encoded(f"{first.isoformat()}|1".encode())
    )
    assert response.status_code == 200


# --- the WaveSpeed-compatible gateway -----------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
GATEWAY_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
GATEWAY_BODIES = st.dictionaries(
    st.sampled_from(
        [
            "prompt",
            "aspect_ratio",
            "seed",
            "guidance_scale",
            "safety_tolerance",
            "enable_sync_mode",
            "page",
            "page_size",
            "status",
            "model",
            "created_after",
            "include_inputs",
        ]
    ),
    GATEWAY_VALUES | st.sampled_from(list(contract.ASPECT_RATIOS)),
    max_size=6,
)


@fuzz
@given(body=GATEWAY_BODIES, raw=st.binary(max_size=40))
@example(body={"page": 10**20, "page_size": 10**20}, raw=b'{"page": 9223372036854775807}')
def test_the_gateway_never_answers_500_and_saves_only_what_it_accepts(alice, enqueued, body, raw):
    import json

    from generations.accounts import tokens

    token = tokens.issue(alice, "fuzz")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    before = Generation.objects.count()
    submit = Client().post(
        f"/api/v3/{contract.MODEL_ID}",
        json.dumps({**body, "enable_sync_mode": False}),
        content_type="application/json",
        **auth,
    )
    assert submit.status_code in (200, 400), submit.content
    assert submit.json()["code"] == submit.status_code
    assert Generation.objects.count() == before + (1 if submit.status_code == 200 else 0)
    for path, payload in (("/api/v3/predictions", json.dumps(body)), ("/api/v3/predictions", raw)):
        answer = Client().post(path, payload, content_type="application/json", **auth)
        assert answer.status_code in (200, 400), answer.content
    odd = Client().get(f"/api/v3/predictions/{quote_from_bytes(raw, safe='')}/result", **auth)
    assert odd.status_code in (404, 200)


# Header values as a WSGI server hands them over: latin-1 text, no line breaks.
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=300,
)


@fuzz
@given(
    header=HEADER_TEXT
    | st.builds(lambda rest: "Bearer " + rest, HEADER_TEXT)
    | st.builds(lambda rest: "Bearer kpat_" + rest, HEADER_TEXT)
)
@example(header="Bearer kpat_0123456789ab_" + "A" * 43)
@example(header="bearer  kpat_0123456789ab_" + "é" * 43)
def test_any_authorization_header_is_a_401_envelope_and_makes_nothing(alice, enqueued, header):
    answer = Client().post(
        f"/api/v3/{contract.MODEL_ID}",
        '{"prompt": "A fox"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )
    assert answer.status_code == 401, answer.content
    assert answer.json()["code"] == 401
    assert not Generation.objects.exists()
