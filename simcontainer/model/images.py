"""Images and layers: the layer graph, a host's image store and registry pulls.

An image is a chain of layers; images built on the same base share their first layers. Layers are
nodes of a networkx DiGraph (edge = "is the parent of"), so what is shared is found from the
graph, not listed by hand. A VM disk image is one node with no parents.

A host's :class:`ImageStore` caches layers with reference counts. Admission *claims* the layers an
instance needs: missing ones are reserved on disk at once (so two admissions never count the same
bytes twice) and fetched by the claimer's pull; an instance needing a layer that another pull is
already fetching waits for that pull instead of downloading it again. Where the bytes come from,
and how long the registry's round trips, the streams and decompression take:
:mod:`simcontainer.model.registry`.

Garbage collection: when an admission would take the host's disk use past ``gc_high`` (a share
of capacity), unused layers (no references, fully present) are removed least recently used first
until use, the new reservation included, is at ``gc_low`` or nothing removable is left. Admission
counts those reclaimable bytes as free, so an instance that fits only after collection is admitted
(and collection runs then); layers in use or in flight are never removed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from simcontainer.model.registry import (
    EXTRACT_DIR_S,
    EXTRACT_FILE_S,
    STARTUP_FRACTION,
    Distribution,
)
from simcontainer.scenario.catalogue import ImageSpec
from simcontainer.scenario.schema import Registry

if TYPE_CHECKING:
    import networkx as nx  # imported by the layer-graph views only: a run never needs it

    from simcontainer.model.resources import FairShare, Pool, Slots

# ``on_pull(instance, resolved_at, bytes_at)``: when one instance's pull had its manifest and
# config (the registry's round trips done) and when the last of its layers' bytes were in, told
# by the store when the pull ends (the result splits the pull phase at these two times).
PullHook = Callable[[int, float, float], None]

@dataclass(frozen=True)
class Layer:
    id: str
    download_mib: float
    disk_mib: float
    compression: str = "gzip"     # gzip | zstd | none: how it travels (registry.DECODE_MB_S)
    files: int = 0                # entries it unpacks (registry.EXTRACT_FILE_S, EXTRACT_DIR_S)
    dirs: int = 0


@dataclass(frozen=True)
class Image:
    """A resolved image: its chain of layers, bottom first."""

    name: str
    kind: str
    layers: tuple[Layer, ...]
    source: str = ""
    guest_boot: Any = field(default=None, compare=False)        # a VM image's guest boot (Phase)
    guest_os_mib: float | None = field(default=None, compare=False)
    startup_fraction: float | None = None   # lazy pulls: share read at start-up (None: default)
    boot_read_mib: float | None = field(default=None, compare=False)   # a VM image's boot read
    working_set_mib: float | None = None    # lazy pulls: MiB read at start-up (None: the fraction)
    download_mib: float = field(init=False)
    disk_mib: float = field(init=False)

    def __post_init__(self) -> None:
        # A layer id is one layer: listed twice in a chain (an empty layer repeated, say), it is
        # stored and pulled once, so keep its first place only.
        seen: set[str] = set()
        unique = tuple(la for la in self.layers if not (la.id in seen or seen.add(la.id)))
        object.__setattr__(self, "layers", unique)
        object.__setattr__(self, "download_mib", sum(layer.download_mib for layer in self.layers))
        object.__setattr__(self, "disk_mib", sum(layer.disk_mib for layer in self.layers))

    @classmethod
    def from_spec(cls, spec: ImageSpec) -> Image:
        if spec.kind == "vm":
            layers = (Layer(f"vm-disk:{spec.name}", float(spec.download_mib or 0), float(spec.disk_mib or 0),
                            spec.compression or "none"),)
        else:
            layers = tuple(Layer(s.id, s.download_mib, s.disk_mib, s.compression, s.files, s.dirs)
                           for s in spec.layers)
        return cls(spec.name, spec.kind, layers, spec.source, spec.guest_boot, spec.guest_os_mib,
                   spec.startup_fraction, boot_read_mib=spec.boot_read_mib,
                   working_set_mib=spec.working_set_mib)

    def startup_share(self) -> float:
        """Under lazy pulling, the share of each layer fetched before the container starts: its
        working set over its size when the image has one (the app reads what it needs, however
        big the image), else its start-up fraction (default: Slacker's 6.4 %)."""
        if self.working_set_mib is not None:
            return min(1.0, self.working_set_mib / self.disk_mib) if self.disk_mib > 0 else 1.0
        return self.startup_fraction or STARTUP_FRACTION


def resolve(specs: dict[str, ImageSpec]) -> dict[str, Image]:
    return {name: Image.from_spec(spec) for name, spec in specs.items()}


# --------------------------------------------------------------------------- the layer graph


def layer_graph(images: Iterable[Image]) -> nx.DiGraph:
    """Layers as nodes (with sizes and the images that use them), parent -> child edges.

    Each node also keeps ``position``: its lowest index in any image's chain (0 = a base layer).
    """
    import networkx as nx  # noqa: PLC0415 - networkx: only where the layer graph is drawn

    g = nx.DiGraph()
    for img in images:
        parent = None
        for pos, layer in enumerate(img.layers):
            if layer.id not in g:
                g.add_node(layer.id, download_mib=layer.download_mib, disk_mib=layer.disk_mib,
                           images=set(), position=pos)
            node = g.nodes[layer.id]
            node["images"].add(img.name)
            node["position"] = min(node["position"], pos)
            if parent is not None:
                g.add_edge(parent, layer.id)
            parent = layer.id
    return g


def shared_layers(images: Iterable[Image]) -> dict[str, set[str]]:
    """Layer id -> the images that share it, for layers used by two or more images."""
    g = layer_graph(images)
    return {n: set(d["images"]) for n, d in g.nodes(data=True) if len(d["images"]) > 1}


def layer_depths(g: nx.DiGraph) -> dict[str, int]:
    """Drawing row of each layer: the longest chain of parents beneath it (0 = a base layer).

    Consistent chains make a DAG. Inline images may list shared layer ids in different orders,
    which makes a cycle; then each layer falls back to its lowest position in any chain, so a
    view can still be drawn instead of failing.
    """
    import networkx as nx  # noqa: PLC0415 - networkx: only where the layer graph is drawn

    if not nx.is_directed_acyclic_graph(g):
        return {n: int(d["position"]) for n, d in g.nodes(data=True)}
    depth: dict[str, int] = {}
    for n in nx.topological_sort(g):
        preds = list(g.predecessors(n))
        depth[n] = 0 if not preds else 1 + max(depth[p] for p in preds)
    return depth


def graph_view(images: Iterable[Image], store: ImageStore | None = None) -> dict[str, Any]:
    """What a view needs to draw the layer graph, as plain JSON-able data.

    * ``nodes``: one per layer — id, download/disk MiB, the images using it (sorted), ``shared``
      (used by two or more images), ``depth`` (row to draw it in, see :func:`layer_depths`);
      with a ``store``, also ``state`` (``absent`` | ``pulling`` | ``cached`` | ``in_use``) and
      ``refs`` (instances using it on that host).
    * ``edges``: ``{"parent", "child"}``, the parent being the layer beneath.
    * ``images``: each image's name, kind, layer ids bottom first, sizes, and ``own_disk_mib``
      (its layers no other listed image uses).
    * ``totals``: disk and download of every image counted in full (``*_unshared``) vs every
      layer once, and the difference (``saved_disk_mib``) — sharing, on one host holding them all.
    """
    images = list(images)
    g = layer_graph(images)
    depth = layer_depths(g)
    nodes = []
    for n, d in g.nodes(data=True):
        node: dict[str, Any] = {
            "id": n, "download_mib": d["download_mib"], "disk_mib": d["disk_mib"],
            "images": sorted(d["images"]), "shared": len(d["images"]) > 1, "depth": depth[n]}
        if store is not None:
            node["state"], node["refs"] = store.layer_state(n)
        nodes.append(node)
    image_rows = [
        {"name": img.name, "kind": img.kind, "layers": [layer.id for layer in img.layers],
         "download_mib": img.download_mib, "disk_mib": img.disk_mib,
         "own_disk_mib": float(sum(layer.disk_mib for layer in img.layers
                                   if len(g.nodes[layer.id]["images"]) == 1))}
        for img in images
    ]
    disk_all = float(sum(img.disk_mib for img in images))
    disk_once = float(sum(d["disk_mib"] for _, d in g.nodes(data=True)))
    totals = {
        "images": len(images), "layers": g.number_of_nodes(),
        "shared_layers": sum(1 for node in nodes if node["shared"]),
        "disk_mib_unshared": disk_all, "disk_mib": disk_once, "saved_disk_mib": disk_all - disk_once,
        "download_mib_unshared": float(sum(img.download_mib for img in images)),
        "download_mib": float(sum(d["download_mib"] for _, d in g.nodes(data=True))),
    }
    return {"nodes": nodes, "edges": [{"parent": a, "child": b} for a, b in g.edges()],
            "images": image_rows, "totals": totals}


# --------------------------------------------------------------------------- the store


class _Entry:
    __slots__ = ("layer", "refs", "present", "ready", "last_used", "seq", "fetching", "bytes_at")

    def __init__(self, layer: Layer, ready: simpy.Event | None, seq: int) -> None:
        self.layer = layer
        self.refs = 0
        self.present = ready is None
        self.ready = ready          # fires when the layer is downloaded and extracted
        self.last_used = 0.0
        self.seq = seq              # arrival order: breaks LRU ties child-first (see collect)
        self.fetching = False       # a lazy pull is still fetching the rest in the background
        self.bytes_at = 0.0         # when its download ended (its extraction follows)


class ImageStore:
    """One host's layer cache, with its garbage collector.

    Disk accounting: every layer's ``disk_mib`` is held in ``disk`` (the host's disk pool) from the moment it is
    claimed (admission) or preloaded until the collector removes it, so ``stored_mib`` is the
    part of ``disk.used`` that is image layers. Two running counters make admission cheap:
    ``in_use_mib`` (layers some instance references, present or in flight) and ``idle_mib``
    (present layers nobody references: exactly what the collector may remove).
    """

    def __init__(self, env: simpy.Environment, *, disk: Pool, net: FairShare, disk_bw: FairShare,
                 cpu: FairShare, download_slots: Slots, cpu_speed: float = 1.0,
                 gc_high: float = 0.85, gc_low: float = 0.80) -> None:
        # The resources it uses, passed in (simpy's way: a store gets its env and resources,
        # never its owner -- no images <-> host import circle).
        self.env = env
        self.disk = disk
        self.net = net
        self.disk_bw = disk_bw
        self.cpu = cpu
        self.download_slots = download_slots
        self.cpu_speed = cpu_speed
        self.gc_high = gc_high
        self.gc_low = gc_low
        self.entries: dict[str, _Entry] = {}
        self.pulled_mib = 0.0          # bytes downloaded from the registry
        self.stored_mib = 0.0          # disk held by layers (present or being fetched)
        self.in_use_mib = 0.0          # disk of layers referenced by at least one instance
        self.idle_mib = 0.0            # disk of present layers no instance references
        self.gc_runs = 0               # collections that removed at least one layer
        self.gc_freed_mib = 0.0
        self.gc_layers = 0
        self.gc_log: list[tuple[float, float, int]] = []   # (time, MiB freed, layers removed)
        self._seq = 0
        # Where layers come from (set by the engine: one Distribution shared by all hosts); a
        # store on its own makes a private default registry on its first pull.
        self.registry: Distribution | None = None
        self.host_index = 0            # which host this is, to the registry (its mirror's site)
        self.on_pull: PullHook | None = None
        self.lazy_runtime_mib = 0.0    # bytes lazy pulls fetched while their containers ran

    # ---- questions ------------------------------------------------------------------------

    def missing_disk_mib(self, image: Image) -> float:
        """Disk still to be reserved for ``image``: layers neither present nor being fetched."""
        entries = self.entries
        missing = 0.0    # a plain loop: this runs on every admission, a generator costs more
        for layer in image.layers:
            if layer.id not in entries:
                missing += layer.disk_mib
        return missing

    def present_mib(self, image: Image) -> float:
        """Bytes of ``image`` this host holds or is already fetching (image-locality placement:
        a layer in flight will be there before a new pull could bring it)."""
        entries = self.entries
        return sum(layer.disk_mib for layer in image.layers if layer.id in entries)

    def is_ready(self, image: Image) -> bool:
        entries = self.entries
        for layer in image.layers:
            e = entries.get(layer.id)
            if e is None or not e.present:
                return False
        return True

    def reclaimable_mib(self, keep: Image | None = None) -> float:
        """Disk the collector could free now without touching ``keep``'s layers (the image an
        admission is about to claim: evicting it only to fetch it again would be a loss)."""
        idle = self.idle_mib
        if idle <= 0 or keep is None:
            return max(idle, 0.0)
        entries = self.entries
        for layer in keep.layers:
            e = entries.get(layer.id)
            if e is not None and e.refs == 0 and e.present:
                idle -= e.layer.disk_mib
        return max(idle, 0.0)

    def layer_state(self, layer_id: str) -> tuple[str, int]:
        """``(state, refs)`` of one layer here: absent, pulling, cached (idle) or in_use."""
        e = self.entries.get(layer_id)
        if e is None:
            return "absent", 0
        if not e.present:
            return "pulling", e.refs
        return ("in_use" if e.refs else "cached"), e.refs

    # ---- claims (at admission) -------------------------------------------------------------

    def _new_entry(self, layer: Layer, ready: simpy.Event | None) -> _Entry:
        self._seq += 1
        e = self.entries[layer.id] = _Entry(layer, ready, self._seq)
        self.stored_mib += layer.disk_mib
        return e

    def claim(self, image: Image) -> list[Layer]:
        """Take a reference on every layer of ``image``; return the ones this caller must fetch.

        The caller has already reserved ``missing_disk_mib(image)`` on the host's disk.
        """
        owned: list[Layer] = []
        now = self.env._now     # simpy's ``now`` property, read directly (once per admission)
        entries = self.entries
        for layer in image.layers:
            e = entries.get(layer.id)
            if e is None:
                e = self._new_entry(layer, self.env.event())
                owned.append(layer)
            if e.refs == 0:
                self.in_use_mib += e.layer.disk_mib
                if e.present:
                    self.idle_mib -= e.layer.disk_mib
            e.refs += 1
            e.last_used = now
        return owned

    def release(self, image: Image) -> None:
        now = self.env._now     # (once per removal)
        entries = self.entries
        for layer in image.layers:
            e = entries[layer.id]
            e.refs -= 1
            e.last_used = now
            if e.refs == 0:
                self.in_use_mib -= e.layer.disk_mib
                if e.present:
                    self.idle_mib += e.layer.disk_mib

    def preload(self, image: Image) -> float:
        """Place ``image`` on the host before the run (``prepull``); returns the disk it added.

        Preloaded layers are unused until an instance claims them, so the collector may remove
        them like any other cached image (kubelet does the same with pre-pulled images).
        """
        added = 0.0
        for layer in image.layers:
            if layer.id not in self.entries:
                self._new_entry(layer, None)
                self.idle_mib += layer.disk_mib
                added += layer.disk_mib
        return added

    # ---- garbage collection ----------------------------------------------------------------

    def make_room(self, need_mib: float, keep: Image | None = None) -> float:
        """Before an admission reserves ``need_mib``: if that takes disk use past the high
        watermark, collect down to the low one (counting the new reservation). Returns MiB freed.

        Admission has already checked that ``need_mib`` fits once reclaimable layers are gone,
        and the target below is never above ``capacity - need_mib``, so the reservation that
        follows always fits.
        """
        disk = self.disk
        if disk.used + need_mib <= self.gc_high * disk.capacity:
            return 0.0
        return self.collect(self.gc_low * disk.capacity - need_mib, keep)

    def collect(self, target_used_mib: float, keep: Image | None = None) -> float:
        """Remove unused layers, least recently used first, until ``disk.used`` is at most
        ``target_used_mib`` or nothing removable is left. Returns MiB freed.

        Only present layers with no references go: a layer in use or in flight always has a
        reference (its claimer's), so it is never touched. ``keep``'s layers stay too. Ties in
        last use (an image's layers are claimed and released together) go to the newest entry
        first, so an image's top layers leave before the base under them.
        """
        disk = self.disk
        if disk.used <= target_used_mib or self.idle_mib <= 0:
            return 0.0
        keep_ids = {layer.id for layer in keep.layers} if keep is not None else set()
        victims = sorted((e for e in self.entries.values()
                          if e.refs == 0 and e.present and not e.fetching and e.layer.id not in keep_ids),
                         key=lambda e: (e.last_used, -e.seq))
        now = self.env.now
        freed, removed = 0.0, 0
        for e in victims:
            if disk.used <= target_used_mib:
                break
            size = e.layer.disk_mib
            del self.entries[e.layer.id]
            self.stored_mib -= size
            self.idle_mib -= size
            disk.release(size, now)
            freed += size
            removed += 1
        if removed:
            if not self.entries:
                self.stored_mib = self.idle_mib = 0.0   # no float residue on an empty store
            self.gc_runs += 1
            self.gc_freed_mib += freed
            self.gc_layers += removed
            self.gc_log.append((now, freed, removed))
        return freed

    # ---- pulls -----------------------------------------------------------------------------

    def _distribution(self) -> Distribution:
        if self.registry is None:

            self.registry = Distribution(self.env, Registry())
        return self.registry

    def pull(self, image: Image, owned: Sequence[Layer], instance: int = -1, retry: Any = None
             ) -> Generator[simpy.Event, Any, float]:
        """Resolve the image at the registry, fetch ``owned`` layers (downloads in parallel up to
        the daemon's limit, extraction in layer order) and wait for layers other pulls are
        fetching. Returns MiB downloaded (under lazy pulling, the start-up part only).

        It tells ``on_pull`` when the registry's round trips (token, manifest, config) were done
        and when the image's last layer bytes were in: the result splits the pull phase into
        ``registry`` (from the phase's start: a control plane's pull queue included),
        ``download`` and ``extract`` (extraction not hidden under later downloads). A layer
        another pull fetches counts as download until its bytes are in, then as extraction.
        """
        env = self.env
        reg = self._distribution()
        # ``retry``: the plane's back-off for a refused pull (the kubelet's ImagePullBackOff, per
        # pod and image); None: a 429 fails the pull (registry.PullFailed)
        yield from reg.resolve(self.host_index, image.name, retry, f"{instance}_{image.name}")
        resolved = env.now
        share = image.startup_share() if reg.lazy is not None else 1.0
        streamed = reg.spec.streamed
        owned_ids = {layer.id for layer in owned}
        downloads = {layer.id: env.process(self._download(layer, share)) for layer in owned}
        bytes_in = resolved
        for layer in image.layers:
            e = self.entries[layer.id]
            if e.present:
                continue
            if layer.id in owned_ids:
                if streamed:
                    # decoded as the bytes arrive: done when both the download and the decode
                    # work are (a fluid pipe; exact when one of the two is the bottleneck)
                    yield env.all_of([downloads[layer.id], *self._extract_work(layer, share)])
                    bytes_in = max(bytes_in, e.bytes_at)
                else:
                    yield downloads[layer.id]
                    bytes_in = max(bytes_in, e.bytes_at)
                    yield from self._extract(layer, share)
                e.present = True
                if e.refs == 0:       # not expected (the claimer holds a ref), kept consistent
                    self.idle_mib += e.layer.disk_mib
                if share < 1.0:
                    e.fetching = True
                    env.process(self._fetch_rest(e, share))
                ready, e.ready = e.ready, None
                assert ready is not None
                ready.succeed()
            else:
                assert e.ready is not None
                yield e.ready
                bytes_in = max(bytes_in, e.bytes_at)
        if self.on_pull is not None:
            self.on_pull(instance, resolved, bytes_in)
        return sum(layer.download_mib for layer in owned) * share * (reg.lazy.size_factor if reg.lazy else 1.0)

    def _download(self, layer: Layer, share: float = 1.0) -> Generator[simpy.Event, Any, None]:
        reg = self._distribution()
        slots = self.download_slots
        slot = slots.acquire()
        if slot is not None:
            try:
                yield slot
            except BaseException:       # interrupted while queued: leave the queue
                slots.cancel(slot)
                raise
        try:
            mib = layer.download_mib
            if reg.lazy is not None:
                mib *= share * reg.lazy.size_factor
                t = reg.rtt_s * reg.lazy.layer_round_trips      # the layer's TOC / ztoc first
                if t > 0:
                    yield self.env.timeout(t)
            yield from reg.fetch(self.host_index, self.net, layer.id, mib)
            self.pulled_mib += mib
            self.entries[layer.id].bytes_at = self.env.now
        finally:
            slots.release()

    def _extract_work(self, layer: Layer, share: float = 1.0) -> list[simpy.Event]:
        """The work of unpacking ``share`` of the layer, requested now: the disk write beside one
        core decoding at the layer's decoder rate and creating its files and directories (per
        entry: :data:`EXTRACT_FILE_S`, :data:`EXTRACT_DIR_S`), scaled by the host's ``cpu_speed``
        (both on the host's fair shares, so a burst stretches them)."""
        disk = layer.disk_mib * share
        rate = self._distribution().decode_mib_s[layer.compression]
        cpu_s = disk / rate if rate != math.inf else 0.0
        if layer.files or layer.dirs:
            cpu_s += (layer.files * EXTRACT_FILE_S + layer.dirs * EXTRACT_DIR_S) * share
        return [ev for ev in (self.disk_bw.request(disk),
                              self.cpu.request(cpu_s / self.cpu_speed, 1.0) if cpu_s > 0 else None)
                if ev is not None]

    def _extract(self, layer: Layer, share: float = 1.0) -> Generator[simpy.Event, Any, None]:
        """Decompress and write ``share`` of the layer (:meth:`_extract_work`), waiting for it."""
        events = self._extract_work(layer, share)
        if len(events) == 1:
            yield events[0]
        elif events:
            yield self.env.all_of(events)

    def _fetch_rest(self, e: _Entry, share: float) -> Generator[simpy.Event, Any, None]:
        """A lazily pulled layer's remaining bytes, fetched while its containers run: network,
        registry egress, decompression and disk writes at run time."""
        reg = self._distribution()
        layer = e.layer
        rest = 1.0 - share
        mib = layer.download_mib * rest * reg.lazy.size_factor if reg.lazy else 0.0
        # The fetch holds a reference of its own: a layer whose containers have all stopped stays
        # in use (never idle, never collected) until its bytes are all in.
        e.refs += 1
        try:
            # the rest is its own piece of the blob: a mirror or the swarm holding the start-up
            # part does not hold it yet
            yield from reg.fetch(self.host_index, self.net, layer.id + "#rest", mib, first=False)
            self.pulled_mib += mib
            self.lazy_runtime_mib += mib
            reg.lazy_runtime_mib += mib
            yield from self._extract(layer, rest)
        finally:
            e.fetching = False
            e.refs -= 1
            if e.refs == 0:
                self.in_use_mib -= layer.disk_mib
                self.idle_mib += layer.disk_mib

    # ---- reporting -------------------------------------------------------------------------

    def layer_count(self) -> int:
        return len(self.entries)

    def unused_mib(self) -> float:
        return sum(e.layer.disk_mib for e in self.entries.values() if e.refs == 0 and e.present)
