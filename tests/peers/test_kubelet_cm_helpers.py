"""The kubelet's CPU conversions, row by row from kubernetes/kubernetes
pkg/kubelet/cm/helpers_linux_test.go, against simcontainer.model.host (what ``cpu_limit`` and, with
``host.cpu_shares``, a CPU request become)."""

from __future__ import annotations

import pytest

from simcontainer.model.host import (
    MAX_SHARES,
    MIN_SHARES,
    cfs_limit_cores,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    quota_to_milli_cpu,
    shares_to_milli_cpu,
)

SRC = "kubernetes/kubernetes:pkg/kubelet/cm/helpers_linux_test.go"

# TestMilliCPUToQuota: input milliCPU, expected quota (us), period (us; 0 for no limit)
QUOTA = [(0, 0, 0), (5, 1000, 100000), (9, 1000, 100000), (10, 1000, 100000), (200, 20000, 100000),
         (500, 50000, 100000), (1000, 100000, 100000), (1500, 150000, 100000)]


@pytest.mark.parametrize(("milli", "quota", "period"), QUOTA, ids=[f"{SRC}::TestMilliCPUToQuota/{r[0]}m" for r in QUOTA])
def test_milli_cpu_to_quota(milli: int, quota: int, period: int) -> None:
    assert milli_cpu_to_quota(milli, period) == quota
    if milli:      # and what a workload's cpu_limit of that many cores gets to run
        assert cfs_limit_cores(milli / 1000.0) == pytest.approx(quota / period)


SHARES = [
    ("zero milliCPU returns MinShares", 0, MIN_SHARES),
    ("1 milliCPU rounds down to MinShares", 1, MIN_SHARES),
    ("2 milliCPU computes to exactly MinShares (2*1024/1000=2)", 2, MIN_SHARES),
    ("3 milliCPU computes to 3 shares (3*1024/1000=3)", 3, 3),
    ("100 milliCPU maps to 102 shares", 100, 102),
    ("500 milliCPU maps to 512 shares", 500, 512),
    ("1000 milliCPU (1 CPU) maps to 1024 shares", 1000, 1024),
    ("255999 milliCPU just below MaxShares", 255999, 255999 * 1024 // 1000),
    ("256000 milliCPU hits exactly MaxShares", 256000, MAX_SHARES),
    ("256001 milliCPU clamped to MaxShares", 256001, MAX_SHARES),
    ("1000000 milliCPU clamped to MaxShares", 1000000, MAX_SHARES),
    ("negative milliCPU clamped to MinShares", -1, MIN_SHARES),
    ("large negative clamped to MinShares", -1000000, MIN_SHARES),
]


@pytest.mark.parametrize(("name", "milli", "shares"), SHARES, ids=[f"{SRC}::TestMilliCPUToShares/{r[0]}" for r in SHARES])
def test_milli_cpu_to_shares(name: str, milli: int, shares: int) -> None:
    assert milli_cpu_to_shares(milli) == shares


TO_MILLI = [
    ("zero shares returns 0 (below MinShares threshold)", 0, 0),
    ("1 share returns 0 (below MinShares)", 1, 0),
    ("MinShares (2) returns ceil(2*1000/1024)=2", MIN_SHARES, 2),
    ("3 shares returns ceil(3*1000/1024)=3", 3, 3),
    ("102 shares returns ceil(102*1000/1024)=100", 102, 100),
    ("512 shares returns ceil(512*1000/1024)=500", 512, 500),
    ("1024 shares returns ceil(1024*1000/1024)=1000", 1024, 1000),
    ("MaxShares (262144) returns ceil(262144*1000/1024)=256000", MAX_SHARES, 256000),
    ("negative shares returns 0", -1, 0),
]


@pytest.mark.parametrize(("name", "shares", "milli"), TO_MILLI, ids=[f"{SRC}::TestSharesToMilliCPU/{r[0]}" for r in TO_MILLI])
def test_shares_to_milli_cpu(name: str, shares: int, milli: int) -> None:
    assert shares_to_milli_cpu(shares) == milli


ROUND = [("100m", 100), ("250m", 250), ("500m", 500), ("1000m (1 CPU)", 1000), ("2000m", 2000), ("4000m", 4000)]


@pytest.mark.parametrize(("name", "milli"), ROUND, ids=[f"{SRC}::TestMilliCPUToSharesRoundTrip/{r[0]}" for r in ROUND])
def test_milli_cpu_to_shares_round_trip(name: str, milli: int) -> None:
    assert shares_to_milli_cpu(milli_cpu_to_shares(milli)) == milli


FROM_QUOTA = [
    ("unlimited quota (-1) returns 0", -1, 100000, 0),
    ("zero quota returns 0", 0, 100000, 0),
    ("quota=1000 period=100000 returns 10 (MinMilliCPULimit)", 1000, 100000, 10),
    ("quota=5000 period=100000 returns 50", 5000, 100000, 50),
    ("quota=50000 period=100000 returns 500", 50000, 100000, 500),
    ("quota=100000 period=100000 returns 1000 (1 CPU)", 100000, 100000, 1000),
    ("quota=200000 period=100000 returns 2000 (2 CPUs)", 200000, 100000, 2000),
    ("non-standard period: quota=5000 period=5000 returns 1000", 5000, 5000, 1000),
    ("sub-milliCPU truncation: quota=1 period=100000 returns 0", 1, 100000, 0),
    ("near-minimum: quota=100 period=100000 returns 1", 100, 100000, 1),
]


@pytest.mark.parametrize(("name", "quota", "period", "milli"), FROM_QUOTA,
                         ids=[f"{SRC}::TestQuotaToMilliCPU/{r[0]}" for r in FROM_QUOTA])
def test_quota_to_milli_cpu(name: str, quota: int, period: int, milli: int) -> None:
    assert quota_to_milli_cpu(quota, period) == milli
