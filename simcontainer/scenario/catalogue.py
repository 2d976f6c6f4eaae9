"""What the catalogue describes, as pydantic models: a runtime profile, a control plane's profile,
a phase's distribution, an image and its layers (models/runtimes/, models/control-planes/,
models/images.toml; or inline in a scenario)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    pass


from simcontainer.scenario.fields import MAX_COUNT, Int, Model, Name, NonNeg, Positive


class Phase(Model):
    """One startup (or teardown) phase of a runtime.

    The fixed latency (``median_s``/``p95_s``, a lognormal, or a constant when ``p95_s`` is
    omitted; or ``dist = "exponential"`` with ``mean_s``) does not stretch under contention; ``cpu_s`` core-seconds are served by the host's
    fair-share CPU and do; ``serial_s`` is held under the control plane's lock for the instance
    (dockerd: the network's endpoint lock), so it queues behind other instances on that lock.
    """

    dist: Literal["lognormal", "exponential"] = "lognormal"
    median_s: NonNeg = 0.0
    p95_s: NonNeg | None = None
    mean_s: NonNeg | None = None   # dist = "exponential" only: the mean of the latency
    cpu_s: NonNeg = 0.0
    cpu_cores: Positive = 1.0
    serial_s: NonNeg = 0.0

    @model_validator(mode="after")
    def _tail_above_median(self) -> Phase:
        if self.dist == "exponential":
            if self.mean_s is None or self.p95_s is not None or self.median_s:
                raise ValueError("dist = 'exponential' takes mean_s (and no median_s or p95_s)")
            return self
        if self.mean_s is not None:
            raise ValueError("mean_s is for dist = 'exponential'; a lognormal latency takes median_s and p95_s")
        if self.p95_s is not None and self.p95_s < self.median_s:
            raise ValueError(
                f"p95_s ({self.p95_s}) is below median_s ({self.median_s}) (allowed: p95_s >= median_s)"
            )
        return self

    @property
    def is_zero(self) -> bool:
        return (self.median_s == 0 and not self.p95_s and not self.mean_s and self.cpu_s == 0
                and self.serial_s == 0)


class Sourced(Model):
    """A profile whose figures carry their sources (key -> citation) and free-text notes."""

    sources: dict[str, str] = {}
    notes: list[str] = []
    # parameter key -> ids of the published figures (models/published.toml) its value was fitted
    # to: the fidelity report keeps those figures out of its validation
    fitted_to: dict[str, list[str]] = {}

    @field_validator("notes", mode="before")
    @classmethod
    def _notes_as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class RuntimeProfile(Sourced):
    """A container runtime or VMM with its measured overheads (see models/runtimes/)."""

    name: Name
    kind: Literal["container", "vm"]
    description: str = ""
    # How the app names one instance ("QEMU VM") and the kernel it runs on ("guest kernel"), and
    # the image it runs when a study needs one (a Python app for containers, a VM disk for VMs)
    label: str = ""
    kernel_label: str = ""
    default_image: Name | None = None
    api: Phase = Phase()
    create: Phase = Phase()
    boot: Phase = Phase()
    stop: Phase = Phase()
    mem_overhead_mib: NonNeg = 0.0
    disk_overhead_mib: NonNeg = 0.0
    cpu_factor: Annotated[float, Field(gt=0, le=1)] = 1.0
    io_factor: Annotated[float, Field(gt=0, le=1)] = 1.0
    default_guest_mem_mib: NonNeg = 0.0
    guest_os_mib: NonNeg = 0.0
    # The control plane in front of the runtime by default (models/control-planes/); None: the
    # runtime is driven directly, with no control plane of its own (custom and test runtimes).
    control_plane: Name | None = None
    # VM runtimes: the VM image whose guest a container image boots like once converted into a
    # rootfs (None: a container image on this runtime is refused)
    rootfs_guest: Name | None = None
    # The kernel its instances run on (what a kernel fault takes down with them): None = "host"
    # for containers (one kernel shared by every container on the host), "guest" for VMs (one
    # kernel per VM); "sentry" for gVisor (a user-space kernel per sandbox); "guest" for Kata.
    kernel: Literal["host", "guest", "sentry"] | None = None
    # The kinds of control plane that can drive this runtime (models/runtimes/*.toml cite why);
    # None: any (custom and test runtimes)
    control_planes: list[Literal["dockerd", "kubelet", "libvirt", "firecracker", "direct"]] | None = None
    # VM runtimes: the disk a VM gets when its workload leaves ``vm_disk`` unset -- what the
    # runtime's own tooling does by default ("overlay": a copy-on-write file over the shared base
    # image; "copy": a private copy of the image per VM); its ``sources`` entry says why
    vm_disk_default: Literal["copy", "overlay"] = "copy"


ControlPlaneKind = Literal["dockerd", "kubelet", "libvirt", "firecracker", "direct"]


class ControlPlaneProfile(Sourced):
    """What sits in front of a runtime and how it queues (see models/control-planes/).

    ``workers``: a request pool (libvirtd's ``max_workers``) that holds the create step (API
    handling and the runtime's create), or None for a thread/goroutine per request. ``api`` is
    the request handling of one create; ``sandbox`` a pod sandbox (kubelet); ``network`` the
    network setup of one start (its ``serial_s`` is held under the network's lock when
    ``network_lock``); ``teardown`` the cleanup after the runtime's stop (its ``serial_s`` under
    the same lock). ``image_pulls`` caps the images pulled at once on a host (kubelet's
    ``serializeImagePulls`` = 1). ``bridge_max_ports``: ports one bridge network holds.
    ``serial_cpu_share``: the part of a serialized section that is CPU work (scales with the
    host's ``cpu_speed``). An inline profile with ``base`` takes every field it does not set
    from the named profile.
    """

    name: Name
    kind: ControlPlaneKind | None = None
    label: str = ""             # how the app names it: "kubelet/containerd (CRI)"
    base: Name | None = None
    description: str = ""
    workers: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    api: Phase = Phase()
    sandbox: Phase = Phase()
    network: Phase = Phase()
    teardown: Phase = Phase()
    network_lock: bool = False
    image_pulls: Annotated[Int, Field(ge=1, le=10_000)] | None = None
    bridge_max_ports: Annotated[Int, Field(ge=1, le=MAX_COUNT)] | None = None
    serial_cpu_share: Annotated[float, Field(ge=0, le=1)] = 1.0
    # costs (0: none; simcontainer.model.controlplane): CPU per create per instance running on the
    # host; the kubelet's PLEG relist (a start is seen at the end of the next one); a start's disk
    # work (MiB, fsyncs at the host's disk_sync_ms); host-wide serialized creation; the lognormal
    # spread of every serialized hold (its mean kept)
    per_instance_cpu_s: NonNeg = 0.0
    relist_period_s: NonNeg = 0.0
    relist_base_s: NonNeg = 0.0
    relist_per_instance_s: NonNeg = 0.0
    rootfs_mib: NonNeg = 0.0
    rootfs_syncs: Annotated[Int, Field(ge=0, le=10_000)] = 0
    host_serial_s: NonNeg = 0.0
    serial_sigma: Annotated[float, Field(ge=0, le=5)] = 0.0


# --------------------------------------------------------------------------- images


Compression = Literal["gzip", "zstd", "none"]


class LayerSpec(Model):
    id: Name
    download_mib: NonNeg
    disk_mib: NonNeg
    compression: Compression = "gzip"    # how the blob travels (simcontainer.model.registry.DECODE_MB_S)
    # entries the layer unpacks (simcontainer.model.registry.EXTRACT_FILE_S / EXTRACT_DIR_S)
    files: Annotated[Int, Field(ge=0, le=100_000_000)] = 0
    dirs: Annotated[Int, Field(ge=0, le=100_000_000)] = 0


class ImageSpec(Model):
    """A container image (a chain of layers, optionally on a ``base`` image) or a VM disk image."""

    name: Name
    kind: Literal["container", "vm"] = "container"
    base: Name | None = None
    layers: list[LayerSpec] = []
    disk_mib: NonNeg | None = None
    download_mib: NonNeg | None = None
    # a VM disk image's download (None: "none", a qcow2 file is used as it arrives; a container's
    # compression is per layer)
    compression: Compression | None = None
    # Lazy pulls: the share of the image's bytes a container reads before it is up (None: the
    # registry's default, simcontainer.model.registry.STARTUP_FRACTION).
    startup_fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    # Lazy pulls: MiB the app reads before it is up (wins over startup_fraction)
    working_set_mib: NonNeg | None = None
    source: str = ""
    # VM images: the guest's own boot (its kernel's entry to a command running: a minimal kernel +
    # init, or a full distribution with systemd and cloud-init) and what the guest OS keeps
    # resident; None: the runtime's figures
    guest_boot: Phase | None = None
    guest_os_mib: NonNeg | None = None
    # VM images: MiB the guest's boot reads from its disk (None: an estimate, BOOT_READ_FRACTION
    # of disk_mib; see models/memory.md)
    boot_read_mib: NonNeg | None = None
    sources: dict[str, str] = {}
    fitted_to: dict[str, list[str]] = {}    # as on a runtime profile (Sourced)

    @model_validator(mode="after")
    def _shape(self) -> ImageSpec:
        if self.kind != "vm" and (self.guest_boot is not None or self.guest_os_mib is not None
                                  or self.boot_read_mib is not None):
            raise ValueError("guest_boot, guest_os_mib and boot_read_mib describe a VM image's guest OS "
                             "(kind = 'vm')")
        if self.kind == "vm":
            if self.layers or self.base:
                raise ValueError("a VM image has disk_mib and download_mib, not layers or base")
            if self.disk_mib is None or self.download_mib is None:
                raise ValueError("a VM image needs disk_mib and download_mib")
        else:
            if self.disk_mib is not None or self.download_mib is not None:
                raise ValueError(
                    "a container image is sized by its layers; disk_mib/download_mib are for kind = 'vm'"
                )
            if not self.layers and not self.base:
                raise ValueError("a container image needs layers (or a base image)")
        return self


# --------------------------------------------------------------------------- host, daemon
