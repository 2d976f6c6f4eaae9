"""A figure card: a label over a large number, drawn as HTML in Markdown.

``st.metric`` draws the same, but its frontend code loads on demand the first time a page shows
one, and Streamlit reveals it together with the elements that arrive last (the charts): on a new
visitor's planner page the runtimes' "fits" figures came 0.6 s after the sentence that states
them (bench/bench_app.py). Markdown's code is loaded with the page, so a card shows with the
sentence. Its help is the card's hover text, as ``st.metric``'s is its "?" icon's.
"""

from __future__ import annotations

import html
import re
from typing import Any

# Streamlit's metric look (label 0.875rem, value 2.25rem), in the theme's own text colour
STYLE = ("<style>.sc-card{padding:0 0 .25rem 0}.sc-card-label{font-size:.875rem;opacity:.8;"
         "display:flex;gap:.35rem;align-items:center}.sc-card-help{display:inline-flex;width:1.1em;height:1.1em;"
         "border:1px solid currentColor;border-radius:50%;font-size:.7rem;align-items:center;"
         "justify-content:center;opacity:.6;cursor:help}"
         ".sc-card-value{font-size:2.25rem;line-height:1.25;white-space:nowrap}</style>")
_CARD = re.compile(r'data-testid="scFigure".*?<span class="sc-card-text">(.*?)</span>.*?'
                   r'data-testid="scFigureValue">(.*?)</div>', re.S)


def _escaped(text: str) -> str:
    """``text`` as HTML on one line: a raw line break (a blank line) would end the HTML block in
    Markdown, so breaks are character references."""
    return html.escape(text).replace("\r", "&#13;").replace("\n", "&#10;")


def card_html(label: str, value: str, help: str = "") -> str:    # noqa: A002 - as st.metric's
    """The card's HTML: ``label`` over ``value``, ``help`` on hover (and a circled "?")."""
    hover = f' title="{_escaped(help)}"' if help else ""
    icon = f'<span class="sc-card-help"{hover}>?</span>' if help else ""
    return (f'<div class="sc-card" data-testid="scFigure"{hover}><div class="sc-card-label">'
            f'<span class="sc-card-text">{_escaped(label)}</span>{icon}</div>'
            f'<div class="sc-card-value" data-testid="scFigureValue">{_escaped(value)}</div></div>')


def card(where: Any, label: str, value: str, help: str = "") -> None:    # noqa: A002 - as st.metric's
    """Draw a figure card into ``where`` (st, a column or a container)."""
    where.markdown(STYLE + card_html(label, value, help), unsafe_allow_html=True)


def cards_in(markdown: str) -> list[tuple[str, str]]:
    """(label, value) of every card in a Markdown body (what a page test reads back)."""
    return [(html.unescape(a), html.unescape(b)) for a, b in _CARD.findall(markdown)]


__all__ = ["STYLE", "card", "card_html", "cards_in"]
