"""simcontainer.faces.ui.figure_card: a figure drawn as Markdown, read back as drawn."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simcontainer.faces.ui.figure_card import card_html, cards_in

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(label=text.filter(str.strip), value=text, help=st.text(max_size=80))
def test_any_label_value_and_help_round_trip_and_stay_one_html_block(label, value, help):
    h = card_html(label, value, help)
    assert cards_in(h) == [(label, value)]
    assert "\n" not in h and "\r" not in h     # a line break could end the HTML block in Markdown
    assert "<script" not in h.lower()           # what the user typed is escaped, never markup


def test_help_is_the_hover_text_and_no_help_no_icon():
    with_help = card_html("runc fits", "230", "RAM binds first.\n\nsources: x")
    assert 'title="RAM binds first.&#10;&#10;sources: x"' in with_help and "sc-card-help" in with_help
    assert "title=" not in card_html("runc fits", "230") and "sc-card-help" not in card_html("runc fits", "230")
