"""Notebook 08's decision aid: the rule, and the widget that holds the answers."""

from __future__ import annotations

from nbext.widgets.decision_aid import DecisionAid, recommend


def test_two_reasons_for_server_state_recommend_assistants() -> None:
    choice = recommend(stateful=True, complex=False, integration=True, overhead=False)
    assert choice.api.startswith("Assistants") and len(choice.reasons) == 2


def test_a_single_reason_keeps_chat_completions() -> None:
    choice = recommend(stateful=False, complex=True, integration=False, overhead=False)
    assert choice.api.startswith("Chat Completions")


def test_the_widget_recomputes_when_a_toggle_changes() -> None:
    aid = DecisionAid()
    assert aid.recommendation.api.startswith("Chat Completions")
    aid.toggles["stateful"].value = "yes"
    aid.toggles["integration"].value = "yes"
    assert "Assistants" in aid.verdict.value
    bundle = aid._repr_mimebundle_()
    assert "Assistants" in bundle["text/html"] and "text/plain" in bundle
