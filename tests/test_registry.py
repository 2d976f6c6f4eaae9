"""The registry as a resource shared by hosts: egress, a rate limit with 429s, mirrors, P2P (issue 15).

The deploy: 200 containers spread over 50 cold hosts (4 each), one 100 MiB uncompressed layer,
hosts on a 125 MB/s link, a registry on one 10 GbE port (1,250 MB/s), no per-stream cap, a disk so
fast that extraction is a rounding error. Every expected time is arithmetic on those numbers.
"""

from __future__ import annotations

from typing import Any

import pytest
import simpy

import simcontainer as sc
from simcontainer.model.host import MIB_PER_MB
from simcontainer.model.registry import Distribution, PullFailed, download_retry_s
from simcontainer.model.restart import ImagePullBackOff
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.schema import Registry as RegistrySpec

ZERO = {"name": "zero", "kind": "container"}
HOSTS, PER_HOST, MIB = 50, 4, 100.0
LINK = 125.0 * MIB_PER_MB
EGRESS = 1250.0 * MIB_PER_MB
RTT = 0.030
REGISTRY_S = RTT * (3 + 4 + 2)          # token, manifest, config (the defaults)
BLOB_S = RTT * 2                         # GET + redirect


def deploy(registry: dict[str, Any], hosts: int = HOSTS, per_host: int = PER_HOST, **workload: Any) -> dict[str, Any]:
    scen = sc.parse_scenario({
        "name": "deploy-50", "duration_s": 120.0, "seed": 2,
        "host": {"cpu_cores": 16, "ram_mib": 65536, "disk_gib": 200, "disk_mb_s": 1e7, "net_mb_s": 125.0,
                 "count": hosts},
        "daemon": {"placement": "spread"},
        "runtimes": [ZERO],
        "images": [{"name": "app", "layers": [{"id": "app", "download_mib": MIB, "disk_mib": MIB,
                                               "compression": "none"}]}],
        "workloads": [{"name": "app", "runtime": "zero", "image": "app", "mem_mib": 64, "writable_mib": 0,
                       "arrival": {"kind": "burst", "count": hosts * per_host}, **workload}],
        "registry": {"rtt_ms": RTT * 1000, "per_stream_mb_s": 1e6, **registry},
    })
    return sc.simulate(scen).summary


def download_s(summary: dict[str, Any]) -> float:
    return summary["workloads"]["app"]["pull_phases_s"]["download"]


def test_one_cold_host_is_bound_by_its_own_link() -> None:
    s = deploy({"egress_mb_s": 1250.0}, hosts=1)
    assert download_s(s) == pytest.approx(BLOB_S + MIB / LINK, rel=1e-6)


def test_fifty_cold_hosts_are_bound_by_the_registry() -> None:
    s = deploy({"egress_mb_s": 1250.0})
    # 50 hosts ask 50 x 125 MB/s of a 1,250 MB/s registry: each gets 25 MB/s, a fifth of its link
    assert download_s(s) == pytest.approx(BLOB_S + HOSTS * MIB / EGRESS, rel=1e-6)
    assert download_s(s) > 4 * (BLOB_S + MIB / LINK)
    reg = s["host"]["registry"]
    assert reg["origin_mib"] == pytest.approx(HOSTS * MIB)     # every host fetched its own copy
    assert reg["requests"] == HOSTS * PER_HOST                  # each docker run asks for the manifest
    # without an egress limit (a CDN) the same deploy is link-bound again
    assert download_s(deploy({})) == pytest.approx(BLOB_S + MIB / LINK, rel=1e-6)


def test_a_mirror_per_site_removes_the_registry_bottleneck() -> None:
    s = deploy({"egress_mb_s": 1250.0, "mirror": {"hosts_per_site": 10, "egress_mb_s": 1250.0, "rtt_ms": 1.0}})
    # five sites; each mirror fetches the layer once while its ten hosts stream it: every flow is
    # held to the host link (10 x 125 MB/s = the mirror's 1,250 MB/s; 5 fills share the registry)
    assert download_s(s) == pytest.approx(0.001 * 2 + MIB / LINK, rel=1e-6)
    reg = s["host"]["registry"]
    assert reg["origin_mib"] == pytest.approx(5 * MIB)
    assert reg["mirror_mib"] == pytest.approx(HOSTS * MIB)
    assert reg["requests"] == 5                                 # one manifest request per site
    # the first manifest at a site goes through to the registry; the rest wait for it
    assert s["workloads"]["app"]["pull_phases_s"]["registry"] == pytest.approx(0.001 * 6 + REGISTRY_S, rel=1e-6)
    assert download_s(s) < download_s(deploy({"egress_mb_s": 1250.0})) / 4


def test_peer_to_peer_takes_one_copy_from_the_registry() -> None:
    # no stragglers (p2p_sigma = 0: every peer at its link's speed; tests/test_costs.py has them)
    s = deploy({"egress_mb_s": 1250.0, "p2p": True, "p2p_sigma": 0.0})
    reg = s["host"]["registry"]
    assert reg["origin_mib"] == pytest.approx(MIB)
    assert reg["peer_mib"] == pytest.approx((HOSTS - 1) * MIB)
    # the seed gets the registry to itself (its link binds); the swarm keeps pace with it
    assert download_s(s) == pytest.approx(BLOB_S + MIB / LINK, rel=1e-6)


def _two_resolves(retry: Any = None, **spec: Any) -> tuple[list[Any], Distribution]:
    """Hosts 0 and 1 resolve the image at t = 0 against a registry of ``spec``: what each got
    (the time it was done, or the PullFailed)."""
    env = simpy.Environment()
    dist = Distribution(env, RegistrySpec(rtt_ms=RTT * 1000, **spec))
    out: list[Any] = [None, None]

    def one(h: int):
        try:
            yield from dist.resolve(h, "app", retry=retry)
            out[h] = env.now
        except PullFailed as err:
            out[h] = err
    for h in (0, 1):
        env.process(one(h))
    env.run()
    return out, dist


def test_dockerd_does_not_retry_a_429_the_pull_fails_at_once() -> None:
    # a bucket of 1 refilled at 0.1/s: host 0's manifest request passes, host 1's is refused;
    # moby's retryOnError wraps ErrorCodeTooManyRequests in xfer.DoNotRetry
    got, dist = _two_resolves(rate_limit_per_s=0.1, rate_limit_burst=1)
    assert got[0] == pytest.approx(REGISTRY_S)
    assert isinstance(got[1], PullFailed) and got[1].status == 429 and got[1].code == "toomanyrequests"
    assert dist.throttled == 1 and dist.requests == 2


def test_the_kubelet_tries_a_throttled_pull_again_after_image_pull_back_off() -> None:
    # 429 at RTT, ImagePullBackOff 10 s: the bucket has refilled 1.003 tokens, the retry passes
    got, dist = _two_resolves(retry=ImagePullBackOff(), rate_limit_per_s=0.1, rate_limit_burst=1)
    assert got[1] == pytest.approx(RTT + 10.0 + REGISTRY_S)
    # a slower refill: refused again, back-off doubled to 20 s
    got, dist = _two_resolves(retry=ImagePullBackOff(), rate_limit_per_s=0.05, rate_limit_burst=1)
    assert got[1] == pytest.approx(RTT + 10.0 + RTT + 20.0 + REGISTRY_S)
    assert dist.throttled == 2


def test_under_the_kubelet_a_throttled_pull_waits_out_image_pull_back_off_and_succeeds() -> None:
    s = deploy({"rate_limit_per_s": 0.1, "rate_limit_burst": 1}, hosts=2, per_host=1, control_plane="kubelet")
    assert s["host"]["registry"]["throttled"] == 1
    assert s["workloads"]["app"]["started"] == 2
    host1 = RTT + 10.0 + REGISTRY_S                      # the 429, ImagePullBackOff 10 s, the pull
    assert s["workloads"]["app"]["pull_phases_s"]["registry"] == pytest.approx((REGISTRY_S + host1) / 2, rel=1e-6)


def test_a_throttled_docker_run_fails_the_instance() -> None:
    s = deploy({"rate_limit_per_s": 0.1, "rate_limit_burst": 1}, hosts=2, per_host=1)
    assert s["workloads"]["app"]["lifecycle"]["failed_starts"] == 1
    assert s["host"]["registry"]["throttled"] == 1


def test_the_deploy_is_deterministic() -> None:
    reg = {"egress_mb_s": 800.0, "mirror": {"hosts_per_site": 7}, "rate_limit_per_s": 2.0, "rate_limit_burst": 20}
    assert deploy(reg) == deploy(reg)


@pytest.mark.parametrize(("registry", "needle"), [
    ({"rtt_ms": "30"}, "registry.rtt_ms"),
    ({"per_stream_mb_s": 0}, "registry.per_stream_mb_s"),
    ({"egress_mb_s": -1}, "registry.egress_mb_s"),
    ({"lazy": "zip"}, "registry.lazy"),
    ({"decoder": "xz"}, "registry.decoder"),
    ({"mirror": {"hosts_per_site": 0}}, "registry.mirror.hosts_per_site"),
    ({"colour": "blue"}, "registry.colour"),
])
def test_registry_fields_are_checked(registry: dict[str, Any], needle: str) -> None:
    with pytest.raises(ScenarioError) as err:
        sc.parse_scenario({"name": "x", "duration_s": 1.0, "host": {"cpu_cores": 1, "ram_mib": 1024, "disk_gib": 1},
                           "workloads": [{"name": "w", "runtime": "runc", "image": "alpine:3.20", "mem_mib": 8,
                                          "arrival": {"kind": "burst", "count": 1}}],
                           "registry": registry})
    assert any(p.startswith(needle) for p in err.value.problems), err.value.problems


def test_layer_compression_is_checked() -> None:
    with pytest.raises(ScenarioError) as err:
        sc.parse_scenario({"name": "x", "duration_s": 1.0, "host": {"cpu_cores": 1, "ram_mib": 1024, "disk_gib": 1},
                           "images": [{"name": "i", "layers": [{"id": "l", "download_mib": 1, "disk_mib": 1,
                                                                 "compression": "lz4"}]}],
                           "workloads": [{"name": "w", "runtime": "runc", "image": "i", "mem_mib": 8,
                                          "arrival": {"kind": "burst", "count": 1}}]})
    assert any("compression" in p for p in err.value.problems), err.value.problems


def test_lazy_pulls_through_a_swarm_fetch_the_rest_from_the_registry_once() -> None:
    s = deploy({"egress_mb_s": 1250.0, "p2p": True, "lazy": "soci"})
    reg = s["host"]["registry"]
    # the start-up part and the rest each come from the registry once; every other byte from peers
    assert reg["origin_mib"] == pytest.approx(MIB)
    assert reg["origin_mib"] + reg["peer_mib"] == pytest.approx(HOSTS * MIB)
    assert reg["lazy_runtime_mib"] == pytest.approx(HOSTS * MIB * (1 - 0.064))


def test_a_per_host_limit_gives_each_host_its_own_bucket() -> None:
    """Docker Hub's limit is per IP address: with a bucket of 1 per host, two hosts each pull at
    once where one shared bucket of 1 refused the second host twice."""
    got, shared = _two_resolves(rate_limit_per_s=0.1, rate_limit_burst=1)
    per_host = deploy({"rate_limit_per_s": 0.1, "rate_limit_burst": 1, "rate_limit_scope": "host"},
                      hosts=2, per_host=1)
    assert shared.throttled == 1
    assert per_host["host"]["registry"]["throttled"] == 0
    assert per_host["workloads"]["app"]["pull_phases_s"]["registry"] == pytest.approx(REGISTRY_S)


def test_dockerd_retries_a_layer_download_after_5_s_times_the_attempt_at_most_5_attempts() -> None:
    # moby xfer/download.go: delay := attempt * 5; attempt >= maxDownloadAttempts (5) fails
    assert [download_retry_s(a) for a in range(1, 6)] == [5.0, 10.0, 15.0, 20.0, None]
    assert download_retry_s(1, do_not_retry=True) is None
