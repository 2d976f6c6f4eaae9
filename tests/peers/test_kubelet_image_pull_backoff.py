"""ImagePullBackOff, step by step from kubernetes/kubernetes pkg/kubelet/images/image_manager_test.go
(``pullerTestCases`` run by ``TestParallelPuller``: a back-off of 1 s doubling to 1 min, the fake
clock stepped 1 s before each EnsureImageExists), against simcontainer.model.restart.ImagePullBackOff:
a failed pull records a back-off; while it lasts the kubelet answers ErrImagePullBackOff without
pulling."""

from __future__ import annotations

import pytest

from simcontainer.model.restart import ImagePullBackOff

SRC = "kubernetes/kubernetes:pkg/kubelet/images/image_manager_test.go"

# (case, pull result while pulling, expected error per step)
CASES = [
    ("image missing, unable to fetch", "404",
     ["ErrImagePull", "ErrImagePull", "ErrImagePullBackOff", "ErrImagePull", "ErrImagePullBackOff",
      "ErrImagePullBackOff"]),
    ("image present and excessive qps rate, pull", "qps",
     ["ErrImagePull", "ErrImagePull", "ErrImagePullBackOff"]),
    ("image missing, pull", None, [None]),
]
ROWS = [(name, fails, k, steps) for name, fails, steps in CASES for k in range(len(steps))]


def _ensure(backoff: ImagePullBackOff, key: str, now: float, fails: str | None) -> str | None:
    """EnsureImageExists for an image that must be pulled: back-off first, then the pull."""
    if backoff.backoff.in_backoff_since_update(key, now):
        return "ErrImagePullBackOff"
    if fails is None:
        backoff.succeeded(key)
        return None
    backoff.after_failure(key, now)
    return "ErrImagePull"


@pytest.mark.parametrize(("name", "fails", "step", "steps"), ROWS,
                         ids=[f"{SRC}::TestParallelPuller/{r[0]}/{r[2]}" for r in ROWS])
def test_puller(name: str, fails: str | None, step: int, steps: list) -> None:
    backoff = ImagePullBackOff(initial_s=1.0, max_s=60.0)      # flowcontrol.NewBackOff(time.Second, time.Minute)
    now, got = 0.0, []
    for _ in range(step + 1):
        now += 1.0
        got.append(_ensure(backoff, "bar_missing_image", now, fails))
    assert got[step] == steps[step]


def test_the_kubelet_defaults_are_10_s_doubling_to_300_s() -> None:
    b = ImagePullBackOff()
    assert [b.after_failure("k", float(t)) for t in range(7)] == [10, 20, 40, 80, 160, 300, 300]
