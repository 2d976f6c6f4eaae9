"""Kubernetes QoS classes, the kubelet's oom_score_adj and its eviction order, row by row from
kubernetes/kubernetes pkg/apis/core/v1/helper/qos/qos_test.go, pkg/kubelet/qos/policy_test.go
and pkg/kubelet/eviction/helpers_test.go, against simcontainer.model.qos."""

from __future__ import annotations

import pytest

from simcontainer.model.qos import container_oom_score_adj, eviction_order, pod_qos

QOS_SRC = "kubernetes/kubernetes:pkg/apis/core/v1/helper/qos/qos_test.go"
POLICY_SRC = "kubernetes/kubernetes:pkg/kubelet/qos/policy_test.go"
EVICT_SRC = "kubernetes/kubernetes:pkg/kubelet/eviction/helpers_test.go"

MI = 2**20


def c(cpu_req: str = "", mem_req: str = "", cpu_lim: str = "", mem_lim: str = "") -> tuple:
    """A container as the tests' newContainer(getResourceList(cpu, mem), getResourceList(cpu, mem))."""
    def cpu(q: str) -> float | None:
        return None if q == "" else (float(q[:-1]) / 1000 if q.endswith("m") else float(q))

    def mem(q: str) -> float | None:
        return None if q == "" else (float(q[:-2]) * MI if q.endswith("Mi") else float(q))
    return (cpu(cpu_req), cpu(cpu_lim), mem(mem_req), mem(mem_lim))


G = c("100m", "100Mi", "100m", "100Mi")
# TestGetPodQOS (a gpu limit is ignored: only CPU and memory are QoS compute resources)
QOS = [
    ("guaranteed", [G], "Guaranteed"),
    ("guaranteed with gpu", [G], "Guaranteed"),
    ("guaranteed x2", [G, G], "Guaranteed"),
    ("guaranteed with gpu + guaranteed", [G, G], "Guaranteed"),
    ("best-effort x2", [c(), c()], "BestEffort"),
    ("best-effort with gpu + best-effort", [c(), c()], "BestEffort"),
    ("best-effort with gpu", [c()], "BestEffort"),
    ("best-effort with gpu + burstable", [c(), c("1", "", "2", "")], "Burstable"),
    ("best-effort with gpu + guaranteed 10m", [c(), c("10m", "100Mi", "10m", "100Mi")], "Burstable"),
    ("burstable memory only", [c("", "100Mi", "", "100Mi")], "Burstable"),
    ("burstable requests only", [c("100m", "100Mi")], "Burstable"),
    ("burstable + guaranteed", [c("1", "100Mi", "2", "100Mi"), G], "Burstable"),
    ("burstable + burstable-unbounded", [c("100m", "100Mi", "200m", "200Mi"), c("100m", "100Mi")], "Burstable"),
    ("burstable 10m/100Mi of 100m/200Mi", [c("10m", "100Mi", "100m", "200Mi")], "Burstable"),
    ("burstable zero requests, gpu limit", [c("0", "0", "100m", "200Mi")], "Burstable"),
]


@pytest.mark.parametrize(("name", "containers", "qos"), QOS, ids=[f"{QOS_SRC}::TestGetPodQOS/{r[0]}" for r in QOS])
def test_get_pod_qos(name: str, containers: list, qos: str) -> None:
    assert pod_qos(containers) == qos


# TestGetContainerOOMScoreAdjust: (pod's container, memory capacity, low, high, critical)
STANDARD = 8000000000
ADJ = [
    ("cpuLimit", c(cpu_lim="10"), 4000000000, 999, 999, False),
    ("memoryLimitCPURequest", c(cpu_req="0", mem_lim="10000000000"), 8000000000, 999, 999, False),
    ("zeroMemoryLimit", c(mem_lim="0"), 7230457451, 1000, 1000, False),
    ("noRequestLimit", c(), 4000000000, 1000, 1000, False),
    ("equalRequestLimitCPUMemory", c("5m", "10000000000", "5m", "10000000000"), 123456789, -997, -997, False),
    ("cpuUnlimitedMemoryLimitedWithRequests", c("5m", str(STANDARD // 2), "", "10000000000"), STANDARD, 495, 505,
     False),
    ("requestNoLimit", c("5m", str(STANDARD - 1)), STANDARD, 3, 3, False),
    ("critical", c(), 4000000000, -997, -997, True),
]


@pytest.mark.parametrize(("name", "cont", "capacity", "low", "high", "critical"), ADJ,
                         ids=[f"{POLICY_SRC}::TestGetContainerOOMScoreAdjust/{r[0]}" for r in ADJ])
def test_get_container_oom_score_adjust(name: str, cont: tuple, capacity: int, low: int, high: int,
                                        critical: bool) -> None:
    mem_request = cont[2] or 0.0
    adj = container_oom_score_adj(pod_qos([cont]), mem_request, capacity, critical=critical)
    assert low <= adj <= high


LOW, DEFAULT, HIGH = -1, 0, 1     # eviction_manager_test.go


EVICT = [
    ("TestOrderedByExceedsRequestMemory", ("exceeds",),
     {"below-requests": (199.0, 200.0, LOW), "exceeds-requests": (101.0, 100.0, HIGH)},
     ["below-requests", "exceeds-requests"], ["exceeds-requests", "below-requests"]),
    ("TestOrderedByMemory", ("memory",),
     {"best-effort-high": (500.0, 0.0, DEFAULT), "best-effort-low": (300.0, 0.0, DEFAULT),
      "burstable-high": (800.0, 100.0, DEFAULT), "burstable-low": (300.0, 100.0, DEFAULT),
      "guaranteed-high": (800.0, 1024.0, DEFAULT), "guaranteed-low": (200.0, 1024.0, DEFAULT)},
     ["best-effort-high", "best-effort-low", "burstable-high", "burstable-low", "guaranteed-high", "guaranteed-low"],
     ["burstable-high", "best-effort-high", "best-effort-low", "burstable-low", "guaranteed-high", "guaranteed-low"]),
    ("TestOrderedByPriorityMemory", ("exceeds", "priority", "memory"),
     {"pod1": (500.0, 0.0, LOW), "pod2": (50.0, 0.0, LOW), "pod3": (600.0, 100.0, HIGH),
      "pod4": (150.0, 100.0, HIGH), "pod5": (800.0, 1024.0, LOW), "pod6": (200.0, 1024.0, LOW),
      "pod7": (800.0, 1024.0, HIGH), "pod8": (200.0, 1024.0, HIGH)},
     ["pod8", "pod7", "pod6", "pod5", "pod4", "pod3", "pod2", "pod1"], [f"pod{k}" for k in range(1, 9)]),
]


@pytest.mark.parametrize(("name", "by", "pods", "given", "expected"), EVICT, ids=[f"{EVICT_SRC}::{r[0]}" for r in EVICT])
def test_eviction_order(name: str, by: tuple[str, ...], pods: dict, given: list[str], expected: list[str]) -> None:
    # (usage MiB, request MiB, priority); the memory each pod's stats report, its request
    assert eviction_order([(n, *pods[n]) for n in given], by=by) == expected
