"""The API server and its clients' rate limits.

Every client (the controller manager, the scheduler, each kubelet) holds a client-side token
bucket (client-go's ``flowcontrol.NewTokenBucketRateLimiter(qps, burst)``): a call waits until a
token is there, tokens refill at ``qps`` up to ``burst``. A call then costs the server's latency:
a read is served from the watch cache; a write (create, update, patch, delete, bind) is handled
and then written to etcd. A watcher sees a write after the watch propagation delay.

For speed a call is one simpy timeout: the bucket is computed in closed form (as
``rate.Limiter.Reserve``: a reservation may drive the tokens below zero; the call waits until
they are back), so a throttled call costs no extra event.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from simcontainer.scenario.workload import lognormal_sigma

READ, WRITE = 0, 1


class TokenBucket:
    """client-go's token bucket in closed form: :meth:`reserve` answers how long a call waits."""

    __slots__ = ("qps", "burst", "tokens", "at", "log")

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = float(qps)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = 0.0
        self.log: list[float] | None = None    # when set, the time each call leaves the client

    def reserve(self, now: float) -> float:
        """Take a token for a call made at ``now``; the wait before it may go."""
        tokens = min(self.burst, self.tokens + (now - self.at) * self.qps)
        self.at = now
        tokens -= 1.0
        self.tokens = tokens
        wait = 0.0 if tokens >= 0 else -tokens / self.qps
        if self.log is not None:
            self.log.append(now + wait)
        return wait


class Lognormal:
    """A latency with a median and a 95th percentile, drawn from a buffered stream of standard
    normals (:class:`simcontainer.model.cluster.objects.Draws`)."""

    __slots__ = ("median", "sigma", "stream")

    def __init__(self, median: float, p95: float, stream: Any) -> None:
        self.median = median
        self.sigma = lognormal_sigma(median, p95)
        self.stream = stream

    def __call__(self) -> float:
        if self.sigma > 0:
            return self.median * math.exp(self.sigma * self.stream.normal())
        return self.median


class ApiServer:
    """kube-apiserver in front of etcd; records every call's latency (throttling included) by
    client and verb."""

    def __init__(self, env: simpy.Environment, settings: dict[str, Any], watch: dict[str, Any],
                 stream: Any) -> None:
        self.env = env
        s = settings
        self.read = Lognormal(s["read_median_s"], s["read_p95_s"], stream)
        self.handle = Lognormal(s["write_median_s"], s["write_p95_s"], stream)
        self.etcd = Lognormal(s["etcd_write_median_s"], s["etcd_write_p95_s"], stream)
        self.watch = Lognormal(watch["median_s"], watch["p95_s"], stream)
        self.max_mutating = s["max_mutating_inflight"]
        # per (client kind, verb): latency seen by the caller, and the part spent throttled
        self.latency: dict[tuple[str, str], array] = {}
        self.throttled: dict[tuple[str, str], array] = {}
        self.writes = 0
        self.reads = 0
        self.write_service_s = 0.0       # sum of server time of writes (for the inflight estimate)
        self.write_spans = array("d")     # (start, end) of every write's service: the inflight peak
        self.background_writes = 0        # heartbeats (node leases), counted in closed form

    def cost(self, bucket: TokenBucket, client: str, verb: str, kind: int = WRITE) -> float:
        """The time from issuing a call to its answer: the client's throttling wait, then the
        server's latency. Recorded; no event (the caller waits for it as it likes)."""
        now = self.env.now
        wait = bucket.reserve(now)
        if kind == WRITE:
            serve = self.handle() + self.etcd()
            self.writes += 1
            self.write_service_s += serve
            self.write_spans.extend((now + wait, now + wait + serve))
        else:
            serve = self.read()
            self.reads += 1
        key = (client, verb)
        lat = self.latency.get(key)
        if lat is None:
            lat = self.latency[key] = array("d")
            self.throttled[key] = array("d")
        lat.append(wait + serve)
        self.throttled[key].append(wait)
        return wait + serve

    def call(self, bucket: TokenBucket, client: str, verb: str, then: Callable[[Any], None],
             kind: int = WRITE, watched: bool = True) -> float:
        """Issue a call; ``then`` runs when a watcher sees its result (the answer plus the watch
        delay when ``watched``). Returns the delay."""
        d = self.cost(bucket, client, verb, kind) + (self.watch() if watched else 0.0)
        ev = self.env.timeout(d)
        ev.callbacks.append(then)
        return d

    def peak_mutating_inflight(self) -> int:
        """The most writes in service at once (a sweep over their spans). Above
        ``max_mutating_inflight`` a real API server answers 429 and the client retries; this
        model does not: it only reports the peak against the limit."""
        spans = np.frombuffer(self.write_spans, dtype=float).reshape(-1, 2)
        if spans.size == 0:
            return 0
        times = np.concatenate([spans[:, 0], spans[:, 1]])
        steps = np.concatenate([np.ones(len(spans)), -np.ones(len(spans))])
        order = np.lexsort((steps, times))       # at a tie an end comes before a start
        return int(np.cumsum(steps[order]).max())

    def summary(self) -> dict[str, Any]:
        """Latency percentiles per client and verb, as the API-call-latency SLI groups them."""
        out: dict[str, Any] = {}
        for (client, verb), lat in sorted(self.latency.items()):
            a = np.frombuffer(lat, dtype=float)
            t = np.frombuffer(self.throttled[(client, verb)], dtype=float)
            out[f"{client} {verb}"] = {"calls": int(a.size), "p50_s": float(np.percentile(a, 50)),
                                       "p99_s": float(np.percentile(a, 99)),
                                       "throttled_share": float((t > 0).mean()), "mean_throttle_s": float(t.mean())}
        return out


__all__ = ["READ", "WRITE", "ApiServer", "Lognormal", "TokenBucket"]
