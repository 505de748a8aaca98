"""The knowledge base of causes and actions: what DOMAIN.md says breaks each layer, in the order
a marketer should read it, and user files that extend or replace it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from funnelscope.analyses.marketing.knowledge import Advice, KnowledgeBase, load_knowledge
from funnelscope.errors import SpecError
from funnelscope.model.templates import TEMPLATES

SEARCH_LAYERS = ["impressions", "clicks", "visits", "inquiries", "orders"]

# Per layer, phrases that must appear among its general causes and actions (DOMAIN.md's list).
DOMAIN_PHRASES = {
    "impressions": [
        "too few keywords",
        "match type",
        "negative keywords",
        "ad rank",
        "bid",
        "schedule",
        "region",
        "budget runs out",
    ],
    "clicks": ['"door"', "average position", "selling point", "offer"],
    "visits": ["20-30%", "10 s", "redirect", "unrelated to the ad", "click fraud", "more data"],
    "inquiries": ["chat window is hidden", "pops up so often", "phone", "over-promises"],
    "orders": [
        "product knowledge",
        "guide the customer to a decision",
        "feedback",
        "promotions",
        "each rep",
        "7 days",
        "90",
    ],
}


@pytest.fixture(scope="module")
def base() -> KnowledgeBase:
    return load_knowledge()


def general(base: KnowledgeBase, layer: str) -> str:
    """Every cause and action of a layer for a whole-account leak against a range, as one text."""
    causes, actions = base.advice(layer, None, "range")
    return " ".join(causes + actions).lower()


def write(tmp_path: Path, text: str, name: str = "my.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("layer", SEARCH_LAYERS)
def test_every_search_marketing_layer_has_causes_actions_and_words(
    base: KnowledgeBase, layer: str
) -> None:
    knowledge = base.layers[layer]
    assert knowledge.causes and knowledge.actions
    assert knowledge.title and knowledge.rate
    for reference in ("history", "peers", "range"):
        causes, actions = base.advice(layer, None, reference)
        assert causes and actions, (layer, reference)


@pytest.mark.parametrize("layer", SEARCH_LAYERS)
def test_the_causes_domain_md_gives_are_there(base: KnowledgeBase, layer: str) -> None:
    text = general(base, layer)
    missing = [phrase for phrase in DOMAIN_PHRASES[layer] if phrase.lower() not in text]
    assert not missing


def test_rate_names_follow_domain_md(base: KnowledgeBase) -> None:
    rates = {layer: base.layers[layer].rate for layer in SEARCH_LAYERS[1:]}
    assert rates == {
        "clicks": "click-through rate",
        "visits": "arrival rate",
        "inquiries": "inquiry rate",
        "orders": "order rate",
    }


def test_shipped_entries_are_short_plain_and_labelled(base: KnowledgeBase) -> None:
    for layer in base.layers.values():
        for entry in layer.causes + layer.actions:
            assert entry.source == "funnelscope"
            assert entry.text == " ".join(entry.text.split())  # folded YAML leaves no breaks
            assert entry.text[-1] in ".!?", entry.text
            sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", entry.text)
            assert len(sentences) <= 2, entry.text
            assert len(entry.text) <= 200, entry.text


def test_event_funnel_stages_with_something_to_say(base: KnowledgeBase) -> None:
    assert "exit-intent" in general(base, "decision")
    assert "shipping cost" in general(base, "paid")
    assert "price" in general(base, "added_to_cart")
    assert "auto-renewal" in general(base, "re_evaluation")
    assert "referral" in general(base, "referral")
    every_stage = {key for template in TEMPLATES.values() for key in template.stage_keys}
    assert set(base.layers) - {"default"} <= every_stage  # no layer for a stage nobody has


def test_keyword_entry_comes_first_for_a_keyword_segment(base: KnowledgeBase) -> None:
    causes, actions = base.advice("clicks", "keyword", "peers")
    assert "keyword is broad" in causes[0]
    assert "search terms report" in actions[0]
    assert "negative keywords" in actions[0] and "match type" in actions[0]
    whole_causes, whole_actions = base.advice("clicks", None, "peers")
    assert not any("search terms report" in text for text in whole_actions)
    assert len(whole_causes) == len(causes) - 1


def test_a_sudden_drop_lists_what_changed_first(base: KnowledgeBase) -> None:
    for layer in [*SEARCH_LAYERS, "paid", "some_stage_nobody_knows"]:
        causes, actions = base.advice(layer, None, "history")
        assert any("date the drop started" in text for text in causes[:2]), layer
        assert any("change log" in text for text in actions[:2]), layer
    visits, _ = base.advice("visits", None, "history")
    assert "landing page broke" in visits[0] and "tracking parameters" in visits[0]
    everything = " ".join(load_knowledge().advice("impressions", None, "history")[0])
    for change in ("site release", "tracking tag", "redirect", "budget cap", "bid strategy"):
        assert change in everything


def test_no_history_entry_when_compared_with_peers(base: KnowledgeBase) -> None:
    for layer in SEARCH_LAYERS:
        causes, actions = base.advice(layer, "campaign", "peers")
        assert not any("date the drop started" in text for text in causes + actions), layer
        assert not any("change log" in text for text in actions), layer
        history, _ = base.advice(layer, "campaign", "history")
        assert any("date the drop started" in text for text in history)


def test_rep_segments_get_coaching(base: KnowledgeBase) -> None:
    causes, actions = base.advice("orders", "rep", "peers")
    assert "rep" in causes[0].lower()
    assert actions[0].startswith("Coach this rep")
    assert "best" in actions[0] and "calls" in actions[0]
    _, other = base.advice("orders", "campaign", "peers")
    assert not any("Coach this rep" in text for text in other)


def test_a_two_condition_entry_beats_one_condition_entries(base: KnowledgeBase) -> None:
    causes, _ = base.advice("impressions", "campaign", "peers")
    assert causes[0].startswith("This campaign's budget")
    causes, _ = base.advice("impressions", "campaign", "history")
    assert not any(text.startswith("This campaign's budget") for text in causes)


def test_unknown_layer_falls_back_to_default(base: KnowledgeBase) -> None:
    assert base.advice("wishlist_saved", None, "range") == base.advice("default", None, "range")
    causes, actions = base.advice("wishlist_saved", None, "range")
    assert causes and actions
    assert base.layer("wishlist_saved") is base.layers["default"]


def test_an_unknown_reference_is_a_programming_error(base: KnowledgeBase) -> None:
    with pytest.raises(ValueError, match="history, peers, range"):
        base.advice("visits", None, "yesterday")


def test_a_user_file_extends_a_layer_before_the_shipped_entries(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
version: 1
layers:
  visits:
    causes:
      - text: Our CDN drops requests from one region.
    actions:
      - text: Ask the CDN team.
      - text: Check the consent banner release.
        when: {reference: history}
""",
    )
    shipped = load_knowledge()
    base = load_knowledge([path])
    causes, actions = base.advice("visits", None, "range")
    assert causes[0] == "Our CDN drops requests from one region."
    assert causes[1:] == shipped.advice("visits", None, "range")[0]
    shipped_actions = shipped.advice("visits", None, "range")[1]
    # after the shipped entry with a `when` (more specific), before the shipped general ones
    assert actions == [shipped_actions[0], "Ask the CDN team.", *shipped_actions[1:]]
    _, history_actions = base.advice("visits", None, "history")
    assert history_actions[0] == "Check the consent banner release."
    assert history_actions[1] == shipped.advice("visits", None, "history")[1][0]
    entry = base.layers["visits"].causes[0]
    assert entry == Advice("Our CDN drops requests from one region.", {}, str(path))
    assert base.layers["visits"].rate == "arrival rate"  # kept when the user gives none


def test_a_later_user_file_comes_before_an_earlier_one(tmp_path: Path) -> None:
    first = write(tmp_path, "layers: {orders: {causes: [{text: First.}]}}", "a.yaml")
    second = write(tmp_path, "layers: {orders: {causes: [{text: Second.}]}}", "b.yaml")
    causes, _ = load_knowledge([first, second]).advice("orders", None, "range")
    assert causes[:2] == ["Second.", "First."]


def test_replace_true_replaces_the_shipped_entries(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
layers:
  clicks:
    replace: true
    rate: CTR
    causes:
      - text: Only ours.
    actions:
      - text: Our action.
""",
    )
    base = load_knowledge([path])
    assert base.advice("clicks", "keyword", "history") == (["Only ours."], ["Our action."])
    assert base.layers["clicks"].rate == "CTR"
    assert base.layers["clicks"].title == load_knowledge().layers["clicks"].title
    assert base.advice("visits", None, "range") == load_knowledge().advice("visits", None, "range")


def test_a_user_file_adds_a_new_layer(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
layers:
  viewing_booked:
    title: Viewings booked
    rate: viewing rate
    causes:
      - text: Agents call back too late.
        when: {dimension: [agent, office]}
      - text: Photos are poor.
    actions:
      - text: Call back within the hour.
""",
    )
    base = load_knowledge([Path(path)])
    layer = base.layers["viewing_booked"]
    assert (layer.title, layer.rate) == ("Viewings booked", "viewing rate")
    assert layer.causes[0].when == {"dimension": ("agent", "office")}
    assert base.advice("viewing_booked", "office", "peers")[0] == [
        "Agents call back too late.",
        "Photos are poor.",
    ]
    assert base.advice("viewing_booked", None, "peers") == (
        ["Photos are poor."],
        ["Call back within the hour."],
    )
    untitled = write(tmp_path, "layers: {deposit_paid: {causes: [{text: X.}]}}", "u.yaml")
    assert load_knowledge([untitled]).layers["deposit_paid"].title == "Deposit paid"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            """\
layers:
  visits:
    causes:
      - text: A.
      - text: B.
      - text: C.
        when: {referense: history}
""",
            "my.yaml: layers.visits.causes[2].when.referense: unknown key; "
            "use dimension or reference",
        ),
        (
            "layers: {visits: {causes: [{text: A., when: {reference: yesterday}}]}}",
            "my.yaml: layers.visits.causes[0].when.reference: 'yesterday' is not a reference; "
            "use one of history, peers, range",
        ),
        (
            "layers: {visits: {causes: [{text: A., when: {dimension: []}}]}}",
            "my.yaml: layers.visits.causes[0].when.dimension: is an empty list; "
            "name at least one, e.g. keyword",
        ),
        (
            "layers: {visits: {causes: [{text: A., when: {dimension: 3}}]}}",
            "my.yaml: layers.visits.causes[0].when.dimension: 3 is not a name; "
            "write e.g. dimension: keyword",
        ),
        (
            "layers: {visits: {causes: [{text: A., when: [history]}]}}",
            "my.yaml: layers.visits.causes[0].when: must be a mapping, not list ['history']; "
            "write e.g. when: {reference: history}",
        ),
        (
            "layers: {visits: {actions: [{when: {reference: history}}]}}",
            "my.yaml: layers.visits.actions[0].text: is required; "
            "write text: followed by the words",
        ),
        (
            "layers: {visits: {actions: [{text: ''}]}}",
            "my.yaml: layers.visits.actions[0].text: is empty; expected some words; "
            "write text: followed by the words",
        ),
        (
            "layers: {visits: {actions: [Just a string.]}}",
            "my.yaml: layers.visits.actions[0]: must be a mapping, not str 'Just a string.'; "
            "write each entry as - text: ...",
        ),
        (
            "layers: {visits: {causes: {text: A.}}}",
            "my.yaml: layers.visits.causes: must be a list, not dict {'text': 'A.'}; "
            "write each entry as - text: ...",
        ),
        (
            "layers: {visits: {cause: []}}",
            "my.yaml: layers.visits.cause: unknown key; "
            "use title, rate, causes, actions or replace",
        ),
        (
            "layers: {visits: {replace: yes please}}",
            "my.yaml: layers.visits.replace: must be true or false, not str 'yes please'",
        ),
        (
            "layers: {visits: {title: 5}}",
            "my.yaml: layers.visits.title: must be some words, not int 5; "
            "write title: followed by the words",
        ),
        (
            "layer: {visits: {}}",
            "my.yaml: layer: unknown key; use version or layers",
        ),
        ("version: 2\nlayers: {}", "my.yaml: version: 2 is not supported; write version: 1"),
        ("version: 1", "my.yaml: layers: is empty; expected a mapping of layers"),
        ("- a list", "my.yaml: is not a knowledge file; start it with version: 1 and layers:"),
        ("layers: {visits: [a", "my.yaml:1: is not valid YAML"),
    ],
)
def test_each_mistake_names_the_file_the_path_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    write(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as caught:
        load_knowledge(["my.yaml"])
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(SpecError, match=r"nowhere\.yaml: file not found; check the path"):
        load_knowledge([missing])


def test_loading_twice_gives_independent_bases() -> None:
    first = load_knowledge()
    first.layers.pop("visits")
    assert "visits" in load_knowledge().layers
