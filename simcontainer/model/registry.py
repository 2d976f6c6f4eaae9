"""Where layers come from: the registry, per-site mirrors and peers, shared by every host.

A pull talks to a registry before it moves a byte (`docker pull` against the Registry HTTP API V2):

1. **registry** — an auth token (a new TLS connection to the token service and a GET), the
   manifest (a new connection to the registry; a multi-arch image is an index, then the
   platform's manifest), the image config blob (a GET answered by a redirect to blob storage);
2. **download** — per layer blob, a request (GET + redirect) then the bytes; each blob is one
   connection, capped at ``per_stream_mb_s`` beside the host's link, so ``max_concurrent_downloads``
   matters exactly when one stream cannot fill the link;
3. **extract** — decompress at the decoder implementation's rate (:data:`DECODE_MB_S`: Go's
   compress/gzip in dockerd and containerd, unpigz, Go's zstd, or none), create every file and
   directory (:data:`EXTRACT_FILE_S`, :data:`EXTRACT_DIR_S` each, from the layer's ``files`` and
   ``dirs``) and write the bytes to disk. dockerd stores each blob in a temp file before it
   unpacks it (moby distribution/pull_v2.go: ``ioutil.TempFile("", "GetImageBlob")`` then
   ``io.Copy``), and containerd fetches into its content store first, so a layer's extraction
   follows its download (later layers still download meanwhile); ``streamed = true`` decodes as
   the bytes arrive (containers/image in CRI-O and podman).

Every round trip costs ``rtt_ms``, and the registry's own work on the token, manifest and config
requests ``handshake_s``. The numbers of round trips are estimates read off the protocol (TCP + TLS
1.3 handshakes = 2 round trips per new connection; the request itself 1; a blob GET answered with
a 307 to a CDN, 1 more), not measurements. ``kind`` (hub, cloud, mirror) fills the fields a
scenario leaves unset from :data:`REGISTRY_KINDS`.

**Shared**: the registry's egress (``egress_mb_s``, None = a CDN without a limit that matters) is one
fair-share resource for all hosts; a byte of a blob moves through the host's link and the egress
together (a flow through two fair-share links is modelled as a piece of work on each, finished
when both are: exact when one of them is the bottleneck, a little optimistic when both bind).
A rate limit (``rate_limit_per_s``, ``rate_limit_burst``: a token bucket over manifest requests,
which is what Docker Hub counts as a pull) answers **429** ``toomanyrequests``. dockerd does
not retry it: moby ``distribution/errors.go`` ``retryOnError`` wraps ``ErrorCodeTooManyRequests``
in ``xfer.DoNotRetry`` and the pull fails at once (:class:`PullFailed`, raised to the caller);
the ``retry_step_s`` × attempt delay (moby ``xfer/download.go``: ``delay := attempt * 5``, at most
``max-download-attempts`` = 5 attempts) is for layer-download errors (:func:`download_retry_s`).
Under the kubelet a failed pull is tried again after ImagePullBackOff (10 s doubling to 300 s:
:class:`simcontainer.model.restart.ImagePullBackOff`): pass ``retry`` to :meth:`Distribution.resolve`.
``rate_limit_scope = "registry"``: one bucket for every host (a private
registry's limit); ``"host"``: a bucket per host, as Docker Hub's limit is per IP address
(anonymous: 100 pulls per 6 hours; authenticated: 200 -- Docker Hub docs, "Docker Hub rate
limit"): ``rate_limit_per_s = 100 / 21600``, ``rate_limit_burst = 100``.

**Mirror** (a pull-through cache per site of ``hosts_per_site`` hosts): manifests and blobs come
from the site's mirror (its own ``rtt_ms`` and egress); a blob the mirror does not hold is fetched
from the registry once while the site's hosts that want it stream it as it arrives.

**Peer-to-peer** (Dragonfly, Kraken): the first host that wants a blob fetches it from the
registry; every other host gets it from peers, piece by piece, as a swarm: its transfer runs at its
own link (no per-stream cap: many peer connections) and cannot end before the registry's copy
has arrived. This is a fluid model of a swarm whose peers upload as fast as they download.
Manifests still come from the registry (one request per pull), and a blob once in the swarm stays
there (a peer's garbage collection is not tracked: with 2+ holders, some peer still has it).
Swarms have stragglers: a peer's download takes ``exp(p2p_sigma * max(Z, 0))`` times its fluid time,
Z a standard normal drawn per host and blob (a fixed hash of the run's seed, the host and the blob,
so the same run gives the same stragglers). Half the hosts finish at their link's speed; the
default 0.253 is Uber's Kraken benchmark (README: a 3 GB image to 2,600 hosts at a 300 MB/s
limit: p50 10 s "at speed limit", p99 18 s -> ln(1.8) / 2.326; its p99.9, 22 s, is then 21.9 s).

**Lazy pulling** (eStargz, SOCI, Nydus): a container starts once the start-up share of each layer
has been fetched (``startup_fraction``: per image, default 6.4 %: Harter et al., Slacker, FAST
2016, "only 6.4% of the pulled data is read" at start-up) plus the format's index; the rest is
fetched in the background while the container runs (stargz-snapshotter's background fetcher is on
by default), which costs network, registry egress, decompression CPU and disk writes at run time.
Conversion cost (at build time, not simulated): eStargz recompresses every layer into per-file gzip
streams plus a TOC (a few % larger: each file its own gzip stream — google/crfs README) and needs
a new image digest; SOCI leaves the image as it is and builds a separate index (one pass over
each layer's bytes); Nydus converts to its own RAFS format (new digest).
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from simcontainer.model.resources import FairShare
from simcontainer.model.restart import ImagePullBackOff

if TYPE_CHECKING:
    from simcontainer.scenario.schema import Registry as RegistrySpec

MIB_PER_MB = 1e6 / 2**20

# Decompression rate per core in MB/s of *uncompressed* output, per decoder implementation.
# "gzip": dockerd and containerd inflate in-process with Go's compress/gzip (moby pkg/archive
# DecompressStream, containerd archive/compression) when unpigz is not installed. Estimate: 240
# MB/s, 0.6x zlib's ~400 MB/s (facebook/zstd README, lzbench on an i7-9700K): Go's inflate is pure
# Go without zlib's hand-tuned inner loop, and its CRC and bufio copies add per byte.
# "pigz": unpigz (moby and containerd run it as a child process when it is on PATH): it inflates on
# one thread but reads, writes and checks the CRC on others: 1.51x GNU gzip on one thread
# (TechHara/cpp_gunzip README, linux.tar.gz: gzip 4.93 s, pigz 3.26 s), taken on zlib's 400 -> 605.
# "zstd": containerd and dockerd decode zstd layers with klauspost/compress/zstd (Go): estimate 1,000
# MB/s, about 0.6x C zstd's 1,700 MB/s (facebook/zstd README), as for gzip. "none": only the write.
DECODE_MB_S = {"gzip": 240.0, "pigz": 605.0, "zstd": 1000.0, "none": math.inf}

# Unpacking pays per entry, not only per byte: for each regular file the tar reader parses a header
# and the applier creates, writes, closes, chowns, chmods and sets the times and xattrs of it
# (containerd archive/tar.go applyNaive + createTarFile; moby pkg/archive the same): ~7 syscalls on
# overlayfs' upper ext4/xfs plus Go's per-header work. Estimate 50 us per file and 30 us per
# directory (mkdir, chown, chmod, times -- and its times set again once its children are in) of one
# core at cpu_speed 1: untarring a Linux source tree (~75,000 files, ~1.2 GB) from the page cache
# takes several seconds on a desktop, of which the bytes at 1-2 GB/s are under one.
EXTRACT_FILE_S = 50e-6
EXTRACT_DIR_S = 30e-6

# Slacker (Harter et al., FAST 2016): pulls are 76% of container start time and only 6.4% of the
# pulled data is read: the default start-up share of an image under lazy pulling.
STARTUP_FRACTION = 0.064


@dataclass(frozen=True)
class LazyFormat:
    """A lazily pullable image format: its extra round trips and its size on the wire."""

    name: str
    image_round_trips: int      # per image: finding the index (SOCI: the referrers API + index)
    layer_round_trips: int      # per layer: its TOC / ztoc / bootstrap before any file
    size_factor: float          # bytes on the wire relative to the plain gzip layer


# Estimates from each format's design (stargz-snapshotter docs, soci-snapshotter docs, Nydus
# docs): eStargz reads the TOC at the end of each layer (a range GET); SOCI looks the index up
# with the referrers API and fetches a ztoc per layer; Nydus fetches a bootstrap per image.
LAZY_FORMATS = {
    "estargz": LazyFormat("estargz", 0, 1, 1.03),
    "soci": LazyFormat("soci", 2, 1, 1.0),
    "nydus": LazyFormat("nydus", 1, 0, 1.0),
}


# moby daemon/internal/distribution/xfer/download.go: maxDownloadAttempts = 5; the wait before
# attempt n + 1 is n x 5 s.
MAX_DOWNLOAD_ATTEMPTS = 5
DOWNLOAD_RETRY_STEP_S = 5.0


def download_retry_s(attempt: int, do_not_retry: bool = False, max_attempts: int = MAX_DOWNLOAD_ATTEMPTS,
                     step_s: float = DOWNLOAD_RETRY_STEP_S) -> float | None:
    """dockerd's answer after download attempt ``attempt`` (1, 2, ...) failed: the seconds to
    wait before the next one, or None when the pull fails -- an error wrapped in
    ``xfer.DoNotRetry`` (401, 403, 429 toomanyrequests, unknown name, ENOSPC ...) or the last of
    ``max_attempts``."""
    if do_not_retry or attempt >= max_attempts:
        return None
    return step_s * attempt


class PullFailed(Exception):
    """A pull the registry refused and the client does not retry: ``docker pull`` / ``run``
    ends with the registry's error (``status``, ``code``). The lifecycle catches it and fails
    the instance (``Daemon._fail(inst, str(err))``)."""

    def __init__(self, image: str, status: int = 429, code: str = "toomanyrequests", message: str = "") -> None:
        super().__init__(image, status, code, message)     # args rebuild it (simpy re-raises copies)
        self.image = image
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"pull {self.image}: {self.status} {self.code}: {self.message}"


# Handshake and per-connection defaults per kind of registry, for the fields a scenario's
# [registry] does not set (estimates from the protocol and the services' documentation; no timed
# handshake of each was found published):
# * hub (Docker Hub): a token from auth.docker.io (its own TLS connection), then registry-1 for an
#   image index and the platform's manifest, the config blob redirected to the CDN: 3 + 4 + 2 round
#   trips at ~30 ms, plus ~0.6 s of server time (token issuance and manifest lookups; `docker pull`
#   of an image already present -- manifest only -- takes about a second on a typical link); blobs
#   from a CDN at ~100 MB/s per connection (estimate: one TCP stream from a CDN edge in the same
#   region; measured pulls of single large layers exceed the old 60 MB/s estimate).
# * cloud (ECR, Artifact Registry, ACR in the host's region): a cached credential-helper token (no
#   auth round trip per pull), 5 ms round trips, ~0.1 s of server time, blobs from the provider's
#   object store at ~150 MB/s per connection (estimate).
# * mirror (a pull-through cache or registry:2 on the LAN): no token, 0.5 ms round trips, 10 ms of
#   server time, ~250 MB/s per connection (estimate: one TCP stream on 10 GbE, served from disk).
REGISTRY_KINDS: dict[str, dict[str, Any]] = {
    "hub": {"rtt_ms": 30.0, "auth_round_trips": 3, "handshake_s": 0.6, "per_stream_mb_s": 100.0},
    "cloud": {"rtt_ms": 5.0, "auth_round_trips": 0, "handshake_s": 0.1, "per_stream_mb_s": 150.0},
    "mirror": {"rtt_ms": 0.5, "auth_round_trips": 0, "handshake_s": 0.01, "per_stream_mb_s": 250.0},
}


def effective(spec: RegistrySpec) -> RegistrySpec:
    """``spec`` with its kind's defaults (:data:`REGISTRY_KINDS`) for the fields it does not set."""
    preset = REGISTRY_KINDS.get(spec.kind)
    if not preset:
        return spec
    given = spec.model_fields_set
    return spec.model_copy(update={k: v for k, v in preset.items() if k not in given})


class _Tier:
    """A place blobs come from (the registry, a site's mirror): its egress and what it holds."""

    __slots__ = ("egress", "rtt_s", "held", "manifests")

    def __init__(self, env: simpy.Environment, egress_mb_s: float | None, rtt_s: float, name: str) -> None:
        self.egress = FairShare(env, egress_mb_s * MIB_PER_MB, name) if egress_mb_s else None
        self.rtt_s = rtt_s
        self.held: dict[str, simpy.Event | None] = {}   # blob -> None (held) or its fill in flight
        self.manifests: dict[str, simpy.Event | None] = {}   # image -> the same, for manifests


class Distribution:
    """The registry and, if configured, its mirrors and the peer swarm: one per run."""

    def __init__(self, env: simpy.Environment, spec: RegistrySpec, seed: int = 0) -> None:
        self.env = env
        self.seed = seed               # the run's seed: which peers straggle (see straggle)
        self.spec = spec = effective(spec)
        self.rtt_s = spec.rtt_ms / 1000.0
        self.handshake_s = spec.handshake_s
        self.cap = spec.per_stream_mb_s * MIB_PER_MB
        self.origin = _Tier(env, spec.egress_mb_s, self.rtt_s, "registry.egress")
        self.mirrors: dict[int, _Tier] = {}
        self.lazy = LAZY_FORMATS.get(spec.lazy)
        self.decode_mib_s = {k: v * MIB_PER_MB for k, v in DECODE_MB_S.items()}
        if spec.decoder == "pigz":
            self.decode_mib_s["gzip"] = DECODE_MB_S["pigz"] * MIB_PER_MB
        self._buckets: dict[int, list[float]] = {}    # scope key -> [tokens, when counted]
        # what happened, for the result
        self.requests = 0              # manifest requests that reached the registry
        self.throttled = 0             # of them answered 429
        self.origin_mib = 0.0          # bytes the registry sent (to hosts or mirrors)
        self.mirror_mib = 0.0          # bytes mirrors sent to hosts
        self.peer_mib = 0.0            # bytes hosts got from peers
        self.lazy_runtime_mib = 0.0    # bytes lazy pulls fetched while containers ran

    # ---- the registry phase ------------------------------------------------------------------

    def _mirror(self, host: int) -> _Tier | None:
        """The mirror of host number ``host``'s site, if there are mirrors."""
        m = self.spec.mirror
        if m is None:
            return None
        site = host // m.hosts_per_site
        tier = self.mirrors.get(site)
        if tier is None:
            tier = self.mirrors[site] = _Tier(self.env, m.egress_mb_s, m.rtt_ms / 1000.0,
                                              f"mirror{site}.egress")
        return tier

    def resolve(self, host: int, image_name: str, retry: ImagePullBackOff | None = None,
                key: str | None = None) -> Generator[simpy.Event, Any, None]:
        """Token, manifest and config: the round trips before host number ``host`` can ask
        for its first layer. A 429 raises :class:`PullFailed` (dockerd), or with ``retry`` (the
        kubelet's ImagePullBackOff, per ``key``: pod and image) waits out the back-off and asks
        again."""
        while True:
            try:
                yield from self._resolve(host, image_name)
            except PullFailed:
                if retry is None:
                    raise
                yield self.env.timeout(retry.after_failure(key or f"{host}_{image_name}", self.env.now))
                continue
            if retry is not None:
                retry.succeeded(key or f"{host}_{image_name}")
            return

    def _resolve(self, host: int, image_name: str) -> Generator[simpy.Event, Any, None]:
        spec = self.spec
        mirror = self._mirror(host)
        lazy = self.lazy
        extra = lazy.image_round_trips if lazy is not None else 0
        if mirror is not None:
            # a site mirror is asked without a token; on a miss it asks the registry itself
            yield self.env.timeout(mirror.rtt_s * (spec.manifest_round_trips + spec.config_round_trips + extra))
            state = mirror.manifests.get(image_name, False)
            if state is None:
                return
            if state is not False:               # the mirror is asking the registry already
                yield state
                return
            fill = mirror.manifests[image_name] = self.env.event()
            # the mirror asks for its site: under a per-host limit, its first host's bucket
            site_host = host - host % self.spec.mirror.hosts_per_site if self.spec.mirror else host
            try:
                yield from self._from_origin(site_host, image_name)
            except PullFailed as err:
                # the mirror passes the registry's 429 on to every pull waiting for it
                del mirror.manifests[image_name]
                fill.fail(err)
                fill.defused = True
                raise
            mirror.manifests[image_name] = None
            fill.succeed()
            return
        yield from self._from_origin(host, image_name)

    def _from_origin(self, host: int, image_name: str) -> Generator[simpy.Event, Any, None]:
        spec = self.spec
        extra = self.lazy.image_round_trips if self.lazy is not None else 0
        yield from self._rate_limited(host, image_name)
        t = self.rtt_s * (spec.auth_round_trips + spec.manifest_round_trips + spec.config_round_trips + extra)
        t += self.handshake_s
        if t > 0:
            yield self.env.timeout(t)

    def _rate_limited(self, host: int, image_name: str) -> Generator[simpy.Event, Any, None]:
        """One manifest request against the token bucket (the registry's, or ``host``'s); a 429
        costs its round trip and raises :class:`PullFailed` (``xfer.DoNotRetry``)."""
        spec = self.spec
        rate = spec.rate_limit_per_s
        self.requests += 1
        if rate is None:
            return
        now = self.env.now
        key = host if spec.rate_limit_scope == "host" else -1
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [float(spec.rate_limit_burst), now]
        bucket[0] = min(float(spec.rate_limit_burst), bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return
        self.throttled += 1
        if self.rtt_s > 0:
            yield self.env.timeout(self.rtt_s)
        raise PullFailed(image_name, 429, "toomanyrequests", "You have reached your pull rate limit")

    # ---- blobs ---------------------------------------------------------------------------------

    def fetch(self, host: int, net: FairShare, blob: str, mib: float, *, first: bool = True,
              cap: float | None = None) -> Generator[simpy.Event, Any, None]:
        """Bring ``mib`` of blob ``blob`` to host number ``host`` over its link ``net``: the
        request's round trips (``first``: a new request, not the rest of a lazily fetched blob),
        then the bytes."""
        env = self.env
        spec = self.spec
        cap = self.cap if cap is None else cap
        mirror = self._mirror(host)
        if first:
            rtt = mirror.rtt_s if mirror is not None else self.rtt_s
            t = rtt * spec.blob_round_trips
            if t > 0:
                yield env.timeout(t)
        if mib <= 0:
            return
        if spec.p2p:
            yield from self._from_swarm(host, net, blob, mib, cap)
        elif mirror is not None:
            yield from self._through(mirror, net, blob, mib, cap)
        else:
            self.origin_mib += mib
            yield from _transfer(env, [net, self.origin.egress], mib, cap)

    def _through(self, mirror: _Tier, net: FairShare, blob: str, mib: float, cap: float
                 ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        self.mirror_mib += mib
        state = mirror.held.get(blob, False)
        if state is None:                        # the mirror holds it
            yield from _transfer(env, [net, mirror.egress], mib, cap)
            return
        if state is not False:                   # being filled: stream behind the fill
            yield from _transfer(env, [net, mirror.egress], mib, cap, after=state)
            return
        fill = mirror.held[blob] = env.event()    # a miss: the mirror fetches it from the registry
        self.origin_mib += mib
        try:
            yield from _transfer(env, [net, mirror.egress, self.origin.egress], mib, cap)
        finally:
            mirror.held[blob] = None
            fill.succeed()

    def straggle(self, host: int, blob: str) -> float:
        """How many times its fluid time host number ``host``'s swarm download of ``blob`` takes:
        ``exp(p2p_sigma * max(Z, 0))``, Z drawn from a hash of (seed, host, blob)."""
        sigma = self.spec.p2p_sigma
        if sigma <= 0:
            return 1.0
        z = random.Random(zlib.crc32(f"{self.seed}:{host}:{blob}".encode())).gauss(0.0, 1.0)
        return math.exp(sigma * z) if z > 0 else 1.0

    def _from_swarm(self, host: int, net: FairShare, blob: str, mib: float, cap: float
                    ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        state = self.origin.held.get(blob, False)
        if state is False:                       # nobody has it: this host seeds it
            fill = self.origin.held[blob] = env.event()
            self.origin_mib += mib
            try:
                yield from _transfer(env, [net, self.origin.egress], mib, cap)
            finally:
                self.origin.held[blob] = None
                fill.succeed()
            return
        self.peer_mib += mib
        start = env.now
        yield from _transfer(env, [net], mib, math.inf, after=state)
        slow = self.straggle(host, blob)
        if slow > 1.0:        # its pieces came from slower peers: longer, the link no busier
            yield env.timeout((slow - 1.0) * (env.now - start))

    def stats(self) -> dict[str, Any]:
        """What the registry did in the run (the result's ``host.registry``): manifest requests
        and how many were answered 429, and MiB sent by the registry, by mirrors, by peers, and
        fetched by lazy pulls while their containers ran."""
        return {"requests": self.requests, "throttled": self.throttled, "origin_mib": self.origin_mib,
                "mirror_mib": self.mirror_mib, "peer_mib": self.peer_mib,
                "lazy_runtime_mib": self.lazy_runtime_mib}


def _transfer(env: simpy.Environment, links: list[FairShare | None], mib: float, cap: float,
              after: simpy.Event | None = None) -> Generator[simpy.Event, Any, None]:
    """``mib`` through every link at once (each its fair share, capped per stream); done when
    every link has carried it and, if given, ``after`` has fired."""
    events = [ev for link in links if link is not None
              for ev in (link.request(mib, cap),) if ev is not None]
    if after is not None and not after.processed:
        events.append(after)
    if len(events) == 1:
        yield events[0]
    elif events:
        yield env.all_of(events)
