"""The kube-scheduler's choice of a node to preempt on, row by row from
kubernetes/kubernetes pkg/scheduler/core/generic_scheduler_test.go ``TestPickOneNodeForPreemption``
(the table that moved to pkg/scheduler/framework/plugins/defaultpreemption/default_preemption_test.go),
against simcontainer.model.placement (Admission placement, then Preemption.choose: SelectVictimsOnNode
and pickOneNodeForPreemption).

Units as the test's: a node holds 5 x the default request (CPU and memory move together, so RAM
alone stands for both); small = 1, medium = 2, large = 3, veryLarge = 5. Priorities: neg -100,
low 0, mid 100, high 1000, veryHigh 10000. Start times: 2019-01-01 ... 2019-01-07 as days."""

from __future__ import annotations

import pytest
from conftest import scenario_dict

import simcontainer as sc
from simcontainer.engine.core import Engine
from simcontainer.model.host import Demand
from simcontainer.model.placement import Preemption, Ticket

SRC = "kubernetes/kubernetes:pkg/scheduler/core/generic_scheduler_test.go"
UNIT = 100.0
SMALL, MEDIUM, LARGE, VERY_LARGE = 1, 2, 3, 5
NEG, LOW, MID, HIGH, VERY_HIGH = -100, 0, 100, 1000, 10000
T0 = 1.0            # startTime (2019-01-01); startTime201901dd = day dd


def _choose(n_nodes: int, pod: tuple[int, int], pods: list[tuple[int, int, int, float]]) -> str:
    """pod: (size, priority); pods: (node 1.., size, priority, start day). The node the pod goes
    to: where it fits now, else where it preempts."""
    data = scenario_dict(duration_s=1.0, host={"ram_mib": 5 * UNIT, "reserved_mib": 0.0, "count": n_nodes},
                         daemon={"admission": "backfill", "preemption": True, "placement": "first-fit"})
    eng = Engine(sc.parse_scenario(data))
    image = eng.plans[0].image
    running = []
    for node, size, prio, start in pods:
        t = Ticket(Demand(size * UNIT, 0.0, 0.0), image, prio)
        t.host = eng.hosts[node - 1]
        t.placed_at = start
        t.host.ram.used += size * UNIT      # the snapshot as given (a node may be over-full)
        running.append(t)
    me = Ticket(Demand(pod[0] * UNIT, 0.0, 0.0), image, pod[1])
    if eng.admission._try_place(me):
        assert me.host is not None
        return f"machine{me.host.index + 1}"
    pre = Preemption(eng.admission, lambda h: [t for t in running if t.host is h], lambda t: True,
                     lambda *a: None)
    got = pre.choose(me)
    assert got is not None
    return f"machine{got[0].index + 1}"


ROWS = [
    ("No node needs preemption", 1, (LARGE, HIGH), [(1, SMALL, MID, T0)], ["machine1"]),
    ("a pod that fits on both machines when lower priority pods are preempted", 2, (LARGE, HIGH),
     [(1, LARGE, MID, T0), (2, LARGE, MID, T0)], ["machine1", "machine2"]),
    ("a pod that fits on a machine with no preemption", 3, (LARGE, HIGH),
     [(1, LARGE, MID, T0), (2, LARGE, MID, T0)], ["machine3"]),
    ("machine with min highest priority pod is picked", 3, (VERY_LARGE, HIGH),
     [(1, MEDIUM, MID, T0), (1, LARGE, MID, T0), (2, MEDIUM, MID, T0), (2, MEDIUM, LOW, T0),
      (3, MEDIUM, LOW, T0), (3, MEDIUM, LOW, T0)], ["machine3"]),
    ("when highest priorities are the same, minimum sum of priorities is picked", 3, (VERY_LARGE, HIGH),
     [(1, MEDIUM, MID, T0), (1, LARGE, MID, T0), (2, LARGE, MID, T0), (2, MEDIUM, LOW, T0),
      (3, MEDIUM, MID, T0), (3, MEDIUM, MID, T0)], ["machine2"]),
    ("when highest priority and sum are the same, minimum number of pods is picked", 3, (VERY_LARGE, HIGH),
     [(1, SMALL, MID, T0), (1, SMALL, NEG, T0), (1, SMALL, MID, T0), (1, SMALL, NEG, T0),
      (2, LARGE, MID, T0), (2, MEDIUM, NEG, T0),
      (3, MEDIUM, MID, T0), (3, SMALL, NEG, T0), (3, SMALL, LOW, T0)], ["machine2"]),
    ("sum of adjusted priorities is considered", 3, (VERY_LARGE, HIGH),
     [(1, SMALL, MID, T0), (1, SMALL, NEG, T0), (1, SMALL, NEG, T0),
      (2, LARGE, MID, T0), (2, MEDIUM, NEG, T0),
      (3, MEDIUM, MID, T0), (3, SMALL, NEG, T0), (3, SMALL, LOW, T0)], ["machine2"]),
    ("non-overlapping lowest high priority, sum priorities, and number of pods", 4, (VERY_LARGE, VERY_HIGH),
     [(1, SMALL, MID, T0), (1, SMALL, LOW, T0), (1, SMALL, LOW, T0),
      (2, LARGE, HIGH, T0),
      (3, MEDIUM, MID, T0), (3, SMALL, LOW, T0), (3, SMALL, LOW, T0), (3, MEDIUM, LOW, T0),
      (4, MEDIUM, MID, T0), (4, SMALL, MID, T0), (4, SMALL, MID, T0), (4, SMALL, NEG, T0)], ["machine1"]),
    ("same priority, same number of victims, different start time for each machine's pod", 3, (VERY_LARGE, HIGH),
     [(1, MEDIUM, MID, 3), (1, MEDIUM, MID, 3), (2, MEDIUM, MID, 4), (2, MEDIUM, MID, 4),
      (3, MEDIUM, MID, 2), (3, MEDIUM, MID, 2)], ["machine2"]),
    ("same priority, same number of victims, different start time for all pods", 3, (VERY_LARGE, HIGH),
     [(1, MEDIUM, MID, 5), (1, MEDIUM, MID, 3), (2, MEDIUM, MID, 6), (2, MEDIUM, MID, 2),
      (3, MEDIUM, MID, 4), (3, MEDIUM, MID, 7)], ["machine3"]),
    ("different priority, same number of victims, different start time for all pods", 3, (VERY_LARGE, HIGH),
     [(1, MEDIUM, LOW, 5), (1, MEDIUM, MID, 3), (2, MEDIUM, MID, 7), (2, MEDIUM, LOW, 2),
      (3, MEDIUM, LOW, 4), (3, MEDIUM, MID, 6)], ["machine2"]),
]


@pytest.mark.parametrize(("name", "nodes", "pod", "pods", "expected"), ROWS,
                         ids=[f"{SRC}::TestPickOneNodeForPreemption/{r[0]}" for r in ROWS])
def test_pick_one_node_for_preemption(name: str, nodes: int, pod: tuple[int, int], pods: list, expected: list[str]) -> None:
    assert _choose(nodes, pod, pods) in expected
