"""The scenario schema: what a user writes in a TOML file, validated before anything runs.

Everything here is plain pydantic data. Names that refer to the catalogue (runtime profiles,
images, host presets) are checked against a :class:`~simcontainer.scenario.profiles.Catalogue` passed in
the validation context, so that one file is validated against one set of models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from simcontainer.scenario.cluster import Cluster
from simcontainer.scenario.defaults import host_reserve_mib
from simcontainer.scenario.errors import short_repr

if TYPE_CHECKING:
    from simcontainer.scenario.profiles import Catalogue
from simcontainer.scenario.catalogue import ControlPlaneProfile, ImageSpec, RuntimeProfile
from simcontainer.scenario.fields import MAX_COUNT, MAX_NUMBER, Int, Model, Name, NonNeg, Positive


class Host(Model):
    cpu_cores: Positive
    ram_mib: Positive
    disk_gib: Positive
    disk_mb_s: Positive = 500.0
    net_mb_s: Positive = 125.0
    count: Annotated[Int, Field(ge=1, le=10_000)] = 1
    cpu_overcommit: Positive | None = None
    # single-thread speed relative to the calibration machine (1.0 = Ryzen 9 3950X, the machine of
    # moby/moby issue 42096): divides CPU work and the CPU-bound part of serialized sections
    cpu_speed: Positive = 1.0
    preset: Name | None = None
    # ---- memory as hosts share it (simcontainer.model.memory) ----
    # RAM kept for the OS and the daemons: neither admission nor instances may use it. None (unset):
    # the typical reserve of a Kubernetes node (simcontainer.scenario.defaults.typical_reserve_mib:
    # GKE's kube-/system-reserved tiers + the kubelet's 100 Mi hard eviction threshold); 0: nothing
    # kept. Read it through ``reserve_mib``, which applies the default.
    reserved_mib: NonNeg | None = None
    # admission counts a container's ``mem_request_mib`` ("request", Kubernetes) or its whole
    # reservation (``mem_mib`` / a VM's guest RAM: "reservation", today's behaviour)
    memory_admission: Literal["reservation", "request"] = "reservation"
    # admission may promise this many times the RAM there is (None: 1, no overcommit)
    memory_overcommit: Annotated[float, Field(ge=1, le=100)] | None = None
    # swap: resident memory beyond RAM up to this much is swapped out instead of OOM-killed
    swap_mib: NonNeg = 0.0
    # swap slows the swapping instances: their running CPU load is capped at its cap / (1 +
    # swap_slowdown x their swapped fraction) (0: swap only absorbs; an estimate, models/memory.md)
    swap_slowdown: Annotated[float, Field(ge=0, le=1000)] = 0.0
    # CPU requests as weights (cgroup cpu.weight / cpu.shares): under contention running apps get
    # cores in proportion to their ``cpu`` request (capped by ``cpu_limit``); False: equally
    cpu_shares: bool = False
    # KSM (Linux ksmd) merging identical guest pages at pages_to_scan / sleep_millisecs
    ksm: bool = False
    ksm_pages_to_scan: Annotated[Int, Field(ge=1, le=1_000_000)] = 100
    ksm_sleep_ms: Annotated[float, Field(gt=0, le=60_000)] = 20.0
    # one synchronous write (fsync) on the disk, ms: a control plane's rootfs_syncs cost this
    disk_sync_ms: NonNeg = 0.5

    @property
    def reserve_mib(self) -> float:
        """The RAM this host keeps back: ``reserved_mib`` as written, or the typical reserve of a
        host of ``ram_mib`` when unset (the one place the default is applied)."""
        return host_reserve_mib(self.ram_mib, self.reserved_mib)

    @model_validator(mode="after")
    def _reserved_below_ram(self) -> Host:
        if self.reserve_mib >= self.ram_mib:
            if self.reserved_mib is None:
                raise ValueError(f"the typical host reserve ({self.reserve_mib:g} MiB) leaves nothing of "
                                 f"ram_mib ({self.ram_mib:g}) for instances: set reserved_mib (0: keep nothing)")
            raise ValueError(f"reserved_mib ({self.reserved_mib:g}) must be below ram_mib "
                             f"({self.ram_mib:g}): nothing would be left for instances")
        return self


Placement = Literal["first-fit", "best-fit", "spread", "image-locality"]


API_WORKERS_DEPRECATED = (
    "daemon.api_workers is deprecated: there is no longer one worker pool for every runtime; each "
    "control plane queues as it really does (models/control-planes/: dockerd has no pool, libvirt "
    "has max_workers = 20, each Firecracker VMM its own API). api_workers = {n} is applied as a "
    "pool of {n} workers in front of each control plane on a host; to size one plane's pool write "
    "[[control_planes]] name = \"<plane>\" base = \"<plane>\" workers = N instead")


class Daemon(Model):
    # Deprecated (see API_WORKERS_DEPRECATED): control planes carry their own concurrency.
    api_workers: Annotated[Int, Field(ge=1, le=100_000)] | None = None
    max_concurrent_downloads: Annotated[Int, Field(ge=1, le=1000)] = 3
    # backfill (the default): the kube-scheduler's way (scan by priority, start whatever fits,
    # retry the rest); queue: strict FIFO (head-of-line, no real daemon or scheduler works so: the
    # M/M/c/Erlang C model); reject: turn away; none: dockerd's (start everything; RAM may pass
    # capacity). See simcontainer.model.placement.
    admission: Literal["queue", "reject", "backfill", "none"] = "backfill"
    # backfill: when a waiting request is tried again -- "release" (every time room frees) or
    # "backoff" (the kube-scheduler's 1 s doubling to 10 s per pod, from the next release on)
    retry: Literal["release", "backoff"] = "release"
    # backfill: a pending request may evict running instances of lower workload priority
    preemption: bool = False
    placement: Placement = "first-fit"
    prepull: list[Name] = []
    gc_high: Annotated[float, Field(gt=0, le=1)] = 0.85
    gc_low: Annotated[float, Field(gt=0, le=1)] = 0.80
    # dockerd's live-restore (off by default, as in dockerd): containers keep running while the
    # daemon restarts (faults of kind "daemon_restart")
    live_restore: bool = False

    @model_validator(mode="after")
    def _watermarks(self) -> Daemon:
        if self.gc_low > self.gc_high:
            raise ValueError(f"gc_low ({self.gc_low}) is above gc_high ({self.gc_high}) (allowed: gc_low <= gc_high)")
        if self.admission != "backfill" and (self.preemption or self.retry != "release"):
            what = "preemption = true" if self.preemption else f"retry = {self.retry!r}"
            raise ValueError(f"{what} needs admission = \"backfill\" (got {self.admission!r})")
        return self


# --------------------------------------------------------------------------- registry


class Mirror(Model):
    """A pull-through cache per site: each site's hosts pull through their own mirror, which
    fetches a layer from the registry once and serves it from then on."""

    hosts_per_site: Annotated[Int, Field(ge=1, le=10_000)] = 10
    egress_mb_s: Positive = 1250.0
    rtt_ms: NonNeg = 1.0


class Registry(Model):
    """Where images come from: round trips, per-connection and shared bandwidth, a rate limit,
    how layers decompress, lazy pulling, and optional mirrors or peer-to-peer distribution.
    Defaults and their sources: :mod:`simcontainer.model.registry`."""

    rtt_ms: NonNeg = 30.0
    auth_round_trips: Annotated[Int, Field(ge=0, le=100)] = 3
    manifest_round_trips: Annotated[Int, Field(ge=0, le=100)] = 4
    config_round_trips: Annotated[Int, Field(ge=0, le=100)] = 2
    blob_round_trips: Annotated[Int, Field(ge=0, le=100)] = 2
    per_stream_mb_s: Positive = 60.0
    egress_mb_s: Positive | None = None
    rate_limit_per_s: Positive | None = None
    rate_limit_burst: Annotated[Int, Field(ge=1, le=10**15)] = 100
    rate_limit_scope: Literal["registry", "host"] = "registry"   # one bucket, or one per host (per IP)
    retry_step_s: NonNeg = 5.0
    decoder: Literal["gzip", "pigz"] = "gzip"
    streamed: bool = False      # decode as the bytes arrive (CRI-O, podman), not after the download
    # defaults (registry.REGISTRY_KINDS) for the fields not set here; "custom": as written
    kind: Literal["custom", "hub", "cloud", "mirror"] = "custom"
    handshake_s: NonNeg = 0.0   # server time of token, manifest and config, beyond the round trips
    lazy: Literal["none", "estargz", "soci", "nydus"] = "none"
    mirror: Mirror | None = None
    p2p: bool = False
    # swarm stragglers: a peer's download takes exp(p2p_sigma x max(Z, 0)) its fluid time
    p2p_sigma: Annotated[float, Field(ge=0, le=5)] = 0.253


# --------------------------------------------------------------------------- workloads

RESTART_POLICIES = ("no", "on-failure", "on-failure:N", "always", "unless-stopped")


def _restart_policy(v: str) -> str:
    name, _, n = v.partition(":")
    # at most 7 digits before int(): Python refuses to convert a string of more than 4,300
    ok = v in RESTART_POLICIES[:2] + RESTART_POLICIES[3:] or (
        name == "on-failure" and n.isdigit() and n.isascii() and len(n) <= 7 and 0 < int(n) <= 1_000_000)
    if not ok:
        raise ValueError(f"got {short_repr(v)} (allowed: {', '.join(RESTART_POLICIES)} with N a whole number "
                         "1..1000000)")
    return v


class PoissonArrival(Model):
    kind: Literal["poisson"]
    rate_per_s: Positive
    start_s: NonNeg = 0.0


class ApiArrival(Model):
    """No requests of its own: the workload's instances come only from scripted ``create``
    actions (what ``simcontainer serve`` records for a ``docker create``)."""

    kind: Literal["api"]


class BurstArrival(Model):
    kind: Literal["burst"]
    count: Annotated[Int, Field(ge=1, le=MAX_COUNT)]
    at_s: NonNeg = 0.0


class IntervalArrival(Model):
    kind: Literal["interval"]
    every_s: Positive
    start_s: NonNeg = 0.0


class TraceArrival(Model):
    """Arrivals read from a CSV file: ``time_s`` and optional ``lifetime_s`` and ``workload``."""

    kind: Literal["trace"]
    path: Name


class AzureArrival(Model):
    """Arrivals from an Azure Functions 2019 invocation file (``invocations_per_function_md.anon
    .dNN.csv``: a row per function, 1,440 per-minute counts): one function's row (``function``, its
    HashFunction) or every row summed, each count thinned by ``scale``, spread at random within
    its minute, from ``start_minute`` on (minute ``start_minute`` is t = 0)."""

    kind: Literal["azure"]
    path: Name
    function: Name | None = None
    scale: Annotated[float, Field(gt=0, le=1)] = 1.0
    start_minute: Annotated[Int, Field(ge=0, le=1439)] = 0


Arrival = Annotated[
    PoissonArrival | BurstArrival | IntervalArrival | TraceArrival | AzureArrival | ApiArrival,
    Field(discriminator="kind"),
]


class FixedLifetime(Model):
    kind: Literal["fixed"]
    s: NonNeg


class ExponentialLifetime(Model):
    kind: Literal["exponential"]
    mean_s: Positive


class LognormalLifetime(Model):
    kind: Literal["lognormal"]
    median_s: Positive
    p95_s: Positive

    @model_validator(mode="after")
    def _tail(self) -> LognormalLifetime:
        if self.p95_s < self.median_s:
            raise ValueError(f"p95_s ({self.p95_s}) is below median_s ({self.median_s}) (allowed: p95_s >= median_s)")
        return self


class ForeverLifetime(Model):
    kind: Literal["forever"]


Lifetime = Annotated[
    FixedLifetime | ExponentialLifetime | LognormalLifetime | ForeverLifetime,
    Field(discriminator="kind"),
]


class MemoryUsage(Model):
    """Memory an instance uses over time: a linear ramp over ``ramp_s`` (in ``ramp_steps``) to
    its working set, then every ``interval_s`` a draw around it (coefficient of variation ``cv``,
    normal, clipped at 0), plus ``leak_mib_per_h`` per hour of running."""

    working_set_mib: NonNeg | None = None        # None: the workload's mem_mib
    ramp_s: NonNeg = 30.0
    ramp_steps: Annotated[Int, Field(ge=1, le=1000)] = 5
    cv: Annotated[float, Field(ge=0, le=10)] = 0.0
    interval_s: Annotated[float, Field(ge=0.1, le=MAX_NUMBER)] = 60.0    # >= 0.1 s: a bounded event rate
    leak_mib_per_h: NonNeg = 0.0


class WarmStart(Model):
    """How a workload's instances can start without a cold start (simcontainer.model.warm; figures and
    sources in models/warm.toml). ``start``: "cold" (pull, create, boot) or "snapshot" (a VM's
    snapshot restore, a container's CRIU restore); ``pool``: instances started ahead and kept
    idle; ``refill``: "immediate" (a replacement starts when one is taken) or "none";
    ``keep_alive_s``: an instance stays warm this long after its work ends (0: not kept)."""

    start: Literal["cold", "snapshot"] = "cold"
    pool: Annotated[Int, Field(ge=0, le=10_000)] = 0
    refill: Literal["immediate", "none"] = "immediate"
    keep_alive_s: NonNeg = 0.0


class HealthCheck(Model):
    """A workload's health check (simcontainer.model.health). ``kind``: "docker" (a Dockerfile's
    ``HEALTHCHECK``: the ``health_status`` events, "ready" once healthy, never a restart by
    itself), "liveness" (a kubelet probe: failing it kills the container, its restart policy
    restarts it) or "readiness" (a kubelet probe: failing it marks the container not ready);
    None: the control plane's own (the kubelet's: "liveness"; every other plane: "docker").

    Unset figures are the kind's defaults: Docker's ``HEALTHCHECK`` (interval 30 s, timeout 30 s,
    retries 3, start period 0 s, start interval 5 s: docs.docker.com/reference/dockerfile/
    #healthcheck, moby ``daemon/health.go``) or a probe's (periodSeconds 10, timeoutSeconds 1,
    failureThreshold 3, successThreshold 1, initialDelaySeconds 0: kubernetes.io "Configure
    Liveness, Readiness and Startup Probes", ``pkg/apis/core/v1/defaults.go``). For a probe,
    ``interval_s`` is periodSeconds, ``retries`` failureThreshold and ``start_period_s``
    initialDelaySeconds (no probe before it; Docker's start period instead runs checks whose
    failures do not count).

    The app: healthy from ``ready_s`` after each start until ``fail_after_s`` after it (None:
    for ever); one check costs ``check_s`` CPU seconds on its host's fair-share CPU (one core at
    most) and fails when it takes longer than ``timeout_s``."""

    kind: Literal["docker", "liveness", "readiness"] | None = None
    interval_s: Positive | None = None
    timeout_s: Positive | None = None
    retries: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    start_period_s: NonNeg | None = None
    start_interval_s: Positive | None = None       # Docker's --start-interval (only kind "docker")
    success_threshold: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None    # a probe's
    check_s: NonNeg = 0.0
    fail_after_s: NonNeg | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> HealthCheck:
        if self.start_interval_s is not None and self.kind != "docker":
            raise ValueError("start_interval_s is Docker's (HEALTHCHECK --start-interval): give it with "
                             'kind = "docker" (allowed: kind = "docker", start_interval_s = 5.0)')
        if self.success_threshold is not None and self.kind not in ("liveness", "readiness"):
            raise ValueError("success_threshold is a kubelet probe's (successThreshold): give it with "
                             'kind = "readiness" (allowed: kind = "readiness", success_threshold = 1)')
        if self.kind == "liveness" and self.success_threshold not in (None, 1):
            # Kubernetes API validation: "must be 1" for liveness and startup probes
            raise ValueError("a liveness probe's success_threshold must be 1 (Kubernetes validation) "
                             "(allowed: success_threshold = 1)")
        return self


class Workload(Model):
    name: Name
    runtime: Name
    image: Name
    cpu: NonNeg = 0.0
    mem_mib: NonNeg
    guest_mem_mib: Positive | None = None
    # PriorityClass value: with admission = "backfill" higher goes first and, with preemption,
    # may evict lower (the kube-scheduler's range for user classes: at most 1e9)
    priority: Annotated[Int, Field(ge=-2_147_483_648, le=1_000_000_000)] = 0
    ready_s: NonNeg = 0.0
    writable_mib: NonNeg = 10.0
    # VMs: "copy" (a full private copy of the disk image per VM) or "overlay" (a copy-on-write file
    # over the shared cached image); None: the runtime's own tooling default (its profile's
    # ``vm_disk_default``). Read it through ``disk_mode(runtime)``, which applies the default.
    vm_disk: Literal["copy", "overlay"] | None = None
    # None: the runtime's default control plane (its profile's ``control_plane``)
    control_plane: Name | None = None
    # None: "bridge" for containers, "tap" for VMs; ``networks``: user networks of that mode the
    # instances are spread over (round robin), each with its own lock and bridge ports
    network: Literal["bridge", "none", "host", "tap"] | None = None
    networks: Annotated[Int, Field(ge=1, le=10_000)] = 1
    arrival: Arrival
    lifetime: Lifetime = ForeverLifetime(kind="forever")
    max_instances: Annotated[Int, Field(ge=1, le=MAX_COUNT)] | None = None
    # ---- lifecycle and failures (simcontainer.model.daemon, parts, restart) ----
    # ``docker run --rm``: removed at exit. False as in Docker: an exited instance keeps its
    # writable layer on disk (and its name) until a ``remove``.
    auto_remove: bool = False
    # ``docker stop -t`` / terminationGracePeriodSeconds; None: the plane's default (kubelet 30 s,
    # every other plane Docker's 10 s)
    stop_grace_s: NonNeg | None = None
    # What the app does on SIGTERM: "exit" (a handler: it shuts down in ``shutdown_s`` and exits
    # 0), "default" (no handler, not PID 1: it dies at once, 143), "ignore" (PID 1 without a
    # handler: the kernel ignores the signal; SIGKILL after the grace period, 137)
    sigterm: Literal["exit", "default", "ignore"] = "exit"
    shutdown_s: NonNeg = 0.0
    # Restart policy: "no", "on-failure", "on-failure:N", "always", "unless-stopped"; None: the
    # plane's default ("always" under the kubelet, a pod's restartPolicy default; else "no")
    restart: Annotated[str, AfterValidator(_restart_policy)] | None = None
    # App crashes: the time a running app lasts until it fails (a distribution like ``lifetime``:
    # fixed, exponential -- a constant crash rate --, lognormal; None or forever: it never
    # crashes), counted from each start; and the exit code it fails with
    time_to_failure: Lifetime | None = None
    # (0: the app ends by itself, cleanly -- "on-failure" does not restart it; "always" does)
    crash_exit_code: Annotated[Int, Field(ge=0, le=255)] = 1
    # Share of image pulls that fail (ErrImagePull): the start fails
    pull_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    # Requests per second the service receives, spread over its running instances: only to
    # count the requests a fault makes fail (the summary's faults[].requests_failed)
    requests_per_s: NonNeg = 0.0
    # ---- memory, CPU and IO as hosts share them (simcontainer.model.memory) ----
    # Kubernetes-style request (admission when host.memory_admission = "request"; None: mem_mib)
    mem_request_mib: NonNeg | None = None
    # the cgroup's memory.max: usage above it is OOM-killed (137); None: no limit
    mem_limit_mib: Positive | None = None
    # memory used over time (None: flat at mem_mib, no process)
    usage: MemoryUsage | None = None
    # the kernel's oom_score_adj (-1000: never chosen by the host's OOM killer)
    oom_score_adj: Annotated[Int, Field(ge=-1000, le=1000)] = 0
    # file pages the app reads from its image (libraries, binaries): containers of one image share
    # them once per host (one page cache); each VM holds its own copy in its guest's page cache
    file_cache_mib: NonNeg = 0.0
    # VMs: a balloon driver returns guest memory the guest no longer uses (else touched pages stay)
    balloon: bool = False
    # VMs: share of touched guest pages identical across guests of the same image (KSM merges them)
    ksm_shared_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0
    # CFS quota in cores (cpu.max quota / period); None: no limit
    cpu_limit: Positive | None = None
    # VMs: vCPUs (a VM cannot use more cores than it has vCPUs); None: no cap
    vcpus: Annotated[Int, Field(ge=1, le=4096)] | None = None
    # disk read/write load of the running app (MB/s asked), fair-shared with pulls and copies
    io_mb_s: NonNeg = 0.0
    # Warm paths (simcontainer.model.warm): snapshot/CRIU restore, a pre-warmed pool, keep-alive. None:
    # every request cold-starts. Only with a plain ``docker run`` lifecycle (no restart policy,
    # crashes, grace period, faults or scripted actions).
    warm: WarmStart | None = None
    # A health check (Docker's HEALTHCHECK, a kubelet probe; simcontainer.model.health). None:
    # none, and "ready" is ``ready_s`` after the start.
    health: HealthCheck | None = None

    def disk_mode(self, runtime: RuntimeProfile) -> Literal["copy", "overlay"]:
        """How a VM of this workload gets its disk: ``vm_disk`` as written, or the runtime's own
        tooling default when unset (the one place the default is applied)."""
        return self.vm_disk if self.vm_disk is not None else runtime.vm_disk_default

    def uses_lifecycle(self) -> bool:
        """Whether anything beyond ``docker run`` with a clean stop is asked for (with or
        without ``--rm``): the planner then shows the lifecycle table."""
        return not (self.stop_grace_s is None and self.sigterm == "exit" and self.shutdown_s == 0 and self.restart in (None, "no") and self.time_to_failure is None
                    and self.pull_error_rate == 0 and self.usage is None and self.mem_limit_mib is None
                    and self.health is None)

    @model_validator(mode="after")
    def _health_not_warm(self) -> Workload:
        if self.health is not None and self.warm is not None:
            raise ValueError("health: a warm instance (warm) is taken ready, past its health check; "
                             "give a workload health or warm, not both")
        return self


class Fault(Model):
    """A fault at ``at_s``, or repeatedly (exponential gaps of mean ``every_s``).

    ``host_panic``: the host's kernel panics: every instance on ``host`` dies; the host is back
    after ``reboot_s``. ``guest_panic``: one VM or sandbox's own kernel panics (a random running
    instance of ``workload``, or of any workload, with a kernel of its own). ``kernel``: a fault
    in the kernel a random running instance runs on: the host's (a host panic) for containers that
    share it, its own for a VM or a sandbox. ``daemon_restart``: dockerd restarts (down for
    ``daemon_down_s``): its containers stop unless ``live_restore``.
    """

    kind: Literal["host_panic", "guest_panic", "kernel", "daemon_restart"]
    at_s: NonNeg | None = None
    every_s: Positive | None = None
    host: Annotated[Int, Field(ge=0, le=MAX_COUNT)] = 0
    workload: Name | None = None
    # Estimates (no single source): a server's firmware POST plus an OS boot, about a minute;
    # a daemon restart a couple of seconds.
    reboot_s: NonNeg = 60.0
    daemon_down_s: NonNeg = 2.0

    @model_validator(mode="after")
    def _when(self) -> Fault:
        if (self.at_s is None) == (self.every_s is None):
            raise ValueError("give exactly one of at_s (a time) and every_s (a mean interval) "
                             "(allowed: at_s = 100.0 or every_s = 3600.0)")
        return self


class Action(Model):
    """A scripted API request: at ``at_s``, ``op`` on the ``instance``-th request of ``workload``."""

    at_s: NonNeg
    op: Literal["create", "start", "stop", "kill", "restart", "pause", "unpause", "remove"]
    workload: Name
    instance: Annotated[Int, Field(ge=0, le=MAX_COUNT)] = 0
    # kill: the signal (docker kill --signal); stop/restart: the grace seconds (docker stop -t;
    # -1: no limit; unset: the control plane's default); remove: force (docker rm -f)
    signal: Literal["KILL", "TERM", "INT", "HUP", "QUIT", "USR1", "USR2"] = "KILL"
    t: Annotated[float, Field(ge=-1, le=MAX_NUMBER)] | None = None
    force: bool = False


# --------------------------------------------------------------------------- scenario


class _CatalogueServices:
    """The shipped catalogue's loader, registered by :mod:`simcontainer.scenario.profiles` when
    it loads: profiles reads the models defined here, so this module cannot import it back
    (the package's ``__init__`` imports profiles first, so the services are always set)."""

    default: Callable[[], Catalogue]
    resolve_control_planes: Callable[..., dict[str, ControlPlaneProfile]]


_CATALOGUE = _CatalogueServices()


def use_catalogue(default: Callable[[], Catalogue], resolve_control_planes: Callable[..., Any]) -> None:
    _CATALOGUE.default = default
    _CATALOGUE.resolve_control_planes = resolve_control_planes


class Scenario(Model):
    """A whole what-if: one host type (``count`` identical hosts), a daemon, workloads."""

    name: Name
    duration_s: Positive
    seed: Annotated[Int, Field(ge=0, lt=2**63)] = 0
    host: Host
    daemon: Daemon = Daemon()
    runtimes: list[RuntimeProfile] = []
    control_planes: list[ControlPlaneProfile] = []
    images: list[ImageSpec] = []
    workloads: Annotated[list[Workload], Field(min_length=1)]
    actions: list[Action] = []
    faults: list[Fault] = []
    registry: Registry = Registry()
    cluster: Cluster | None = None     # a Kubernetes cluster above the hosts (simcontainer.model.cluster)
    # Where relative paths (trace files) are resolved from; set by load_scenario, not by users.
    base_dir: str | None = Field(default=None, exclude=True)

    @field_validator("base_dir", mode="before")
    @classmethod
    def _base_dir_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, Path) else v

    # ---- resolution helpers used by the engine and views -------------------------------

    def runtime_table(self, catalogue: Catalogue | None = None) -> dict[str, RuntimeProfile]:
        cat = catalogue or _CATALOGUE.default()
        return {**cat.runtimes, **{r.name: r for r in self.runtimes}}

    def control_plane_table(self, catalogue: Catalogue | None = None) -> dict[str, ControlPlaneProfile]:
        """Control planes by name: the catalogue's, then inline ones (``base`` filled in)."""
        cat = catalogue or _CATALOGUE.default()
        return _CATALOGUE.resolve_control_planes(self.control_planes, cat.control_planes)

    def image_table(self, catalogue: Catalogue | None = None) -> dict[str, ImageSpec]:
        """Image specs by name, catalogue then inline (an inline ``base`` is not expanded here:
        for layer chains use :func:`simcontainer.engine.core.image_table`)."""
        cat = catalogue or _CATALOGUE.default()
        return {**cat.images, **{i.name: i for i in self.images}}

    def to_dict(self) -> dict[str, Any]:
        """Plain data that validates back to an equal scenario (what ``save_scenario`` writes)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False, exclude={"base_dir"})

def resolve_path(path: str, base_dir: str | None) -> Path:
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


# --------------------------------------------------------------------------- loading / saving
