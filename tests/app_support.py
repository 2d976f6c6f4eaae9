"""The app through Streamlit's AppTest, for the page tests: open a page, read a metric."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(page: str, timeout: float = 60, **query: str) -> AppTest:
    """The app on ``page`` (``?page=``, plus ``query``), run once, with no exception."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.query_params["page"] = page
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    """The value of the first metric whose label starts with ``label``."""
    return next(m.value for m in at.metric if m.label.startswith(label))
