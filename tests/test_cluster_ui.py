"""The Cluster rollout page and the "a node dies" lesson through Streamlit's AppTest."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from app_support import metric, open_page  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402


def start(page: str) -> AppTest:
    return open_page(page, timeout=120)


def test_cluster_page_answers_and_follows_its_controls():
    at = start("cluster")
    assert at.title[0].value == "Cluster rollout"
    slow = float(metric(at, "Rollout time").split()[0])
    assert "What bound it" in at.success[0].value and "controller-manager API QPS" in at.success[0].value
    assert len(at.get("vega_lite_chart")) == 2
    at.selectbox(key="cl_limits").set_value("lifted (1,000 QPS each)").run()
    assert not at.exception
    fast = float(metric(at, "Rollout time").split()[0])
    assert fast < slow                      # lifting the client limits shortens the rollout
    at.select_slider(key="cl_per").set_value(100).run()
    at.select_slider(key="cl_nodes").set_value(2000).run()
    assert at.warning and "more than this page simulates" in at.warning[0].value


def test_node_dies_lesson():
    at = start("learn-node-dies")
    assert at.title[0].value == "A node dies"
    assert len(at.get("vega_lite_chart")) == 2
    before = float(metric(at, "Pods running again after").split()[0])
    assert 340 <= before <= 370             # grace 50 s + toleration 300 s + restart
    at.slider(key="nd_toleration").set_value(30).run()
    assert not at.exception
    after = float(metric(at, "Pods running again after").split()[0])
    assert before - after == pytest.approx(270, abs=5)
