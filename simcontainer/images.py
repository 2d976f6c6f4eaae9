"""Images and layers: the layer graph, a host's image store and registry pulls.

An image is a chain of layers; images built on the same base share their first layers. Layers are
nodes of a networkx DiGraph (edge = "is the parent of"), so what is shared is found from the
graph, not listed by hand. A VM disk image is one node with no parents.

A host's :class:`ImageStore` caches layers with reference counts. Admission *claims* the layers an
instance needs: missing ones are reserved on disk at once (so two admissions never count the same
bytes twice) and fetched by the claimer's pull; an instance needing a layer that another pull is
already fetching waits for that pull instead of downloading it again.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx
import simpy

from simcontainer.scenario import ImageSpec

if TYPE_CHECKING:
    from simcontainer.host import HostNode

# Decompression cost of extracting a layer: gzip inflates at roughly 100-300 MiB/s per core.
# estimate: a conservative 150 MiB of compressed input per core-second.
EXTRACT_MIB_PER_CORE_S = 150.0


@dataclass(frozen=True)
class Layer:
    id: str
    download_mib: float
    disk_mib: float


@dataclass(frozen=True)
class Image:
    """A resolved image: its chain of layers, bottom first."""

    name: str
    kind: str
    layers: tuple[Layer, ...]
    source: str = ""
    download_mib: float = field(init=False)
    disk_mib: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "download_mib", sum(layer.download_mib for layer in self.layers))
        object.__setattr__(self, "disk_mib", sum(layer.disk_mib for layer in self.layers))

    @classmethod
    def from_spec(cls, spec: ImageSpec) -> Image:
        if spec.kind == "vm":
            layers = (Layer(f"vm-disk:{spec.name}", float(spec.download_mib or 0), float(spec.disk_mib or 0)),)
        else:
            layers = tuple(Layer(s.id, s.download_mib, s.disk_mib) for s in spec.layers)
        return cls(spec.name, spec.kind, layers, spec.source)


def resolve(specs: dict[str, ImageSpec]) -> dict[str, Image]:
    return {name: Image.from_spec(spec) for name, spec in specs.items()}


# --------------------------------------------------------------------------- the layer graph


def layer_graph(images: Iterable[Image]) -> nx.DiGraph:
    """Layers as nodes (with sizes and the images that use them), parent -> child edges."""
    g = nx.DiGraph()
    for img in images:
        parent = None
        for layer in img.layers:
            if layer.id not in g:
                g.add_node(layer.id, download_mib=layer.download_mib, disk_mib=layer.disk_mib, images=set())
            g.nodes[layer.id]["images"].add(img.name)
            if parent is not None:
                g.add_edge(parent, layer.id)
            parent = layer.id
    return g


def shared_layers(images: Iterable[Image]) -> dict[str, set[str]]:
    """Layer id -> the images that share it, for layers used by two or more images."""
    g = layer_graph(images)
    return {n: set(d["images"]) for n, d in g.nodes(data=True) if len(d["images"]) > 1}


def unique_disk_mib(images: Iterable[Image]) -> float:
    """Disk a host needs to hold all these images: every layer once."""
    g = layer_graph(images)
    return float(sum(d["disk_mib"] for _, d in g.nodes(data=True)))


def graph_view(images: Iterable[Image]) -> dict[str, Any]:
    """What a view needs to draw the layer graph: nodes with sizes and users, edges, depths."""
    g = layer_graph(images)
    depth = {}
    for n in nx.topological_sort(g):
        preds = list(g.predecessors(n))
        depth[n] = 0 if not preds else 1 + max(depth[p] for p in preds)
    nodes = [
        {"id": n, "download_mib": d["download_mib"], "disk_mib": d["disk_mib"],
         "images": sorted(d["images"]), "shared": len(d["images"]) > 1, "depth": depth[n]}
        for n, d in g.nodes(data=True)
    ]
    return {"nodes": nodes, "edges": [{"parent": a, "child": b} for a, b in g.edges()]}


# --------------------------------------------------------------------------- the store


class _Entry:
    __slots__ = ("layer", "refs", "present", "ready", "last_used")

    def __init__(self, layer: Layer, ready: simpy.Event | None) -> None:
        self.layer = layer
        self.refs = 0
        self.present = ready is None
        self.ready = ready          # fires when the layer is downloaded and extracted
        self.last_used = 0.0


class ImageStore:
    """One host's layer cache."""

    def __init__(self, host: HostNode) -> None:
        self.host = host
        self.env = host.env
        self.entries: dict[str, _Entry] = {}
        self.pulled_mib = 0.0          # bytes downloaded from the registry
        self.stored_mib = 0.0          # disk held by layers (present or being fetched)

    # ---- questions ------------------------------------------------------------------------

    def missing_disk_mib(self, image: Image) -> float:
        """Disk still to be reserved for ``image``: layers neither present nor being fetched."""
        entries = self.entries
        return sum(layer.disk_mib for layer in image.layers if layer.id not in entries)

    def present_mib(self, image: Image) -> float:
        """Bytes of ``image`` already on this host (for image-locality placement)."""
        entries = self.entries
        return sum(layer.disk_mib for layer in image.layers if layer.id in entries)

    def is_ready(self, image: Image) -> bool:
        entries = self.entries
        for layer in image.layers:
            e = entries.get(layer.id)
            if e is None or not e.present:
                return False
        return True

    # ---- claims (at admission) -------------------------------------------------------------

    def claim(self, image: Image) -> list[Layer]:
        """Take a reference on every layer of ``image``; return the ones this caller must fetch.

        The caller has already reserved ``missing_disk_mib(image)`` on the host's disk.
        """
        owned: list[Layer] = []
        now = self.env.now
        for layer in image.layers:
            e = self.entries.get(layer.id)
            if e is None:
                e = self.entries[layer.id] = _Entry(layer, self.env.event())
                self.stored_mib += layer.disk_mib
                owned.append(layer)
            e.refs += 1
            e.last_used = now
        return owned

    def release(self, image: Image) -> None:
        now = self.env.now
        for layer in image.layers:
            e = self.entries[layer.id]
            e.refs -= 1
            e.last_used = now

    def preload(self, image: Image) -> float:
        """Place ``image`` on the host before the run (``prepull``); returns the disk it added."""
        added = 0.0
        for layer in image.layers:
            if layer.id not in self.entries:
                self.entries[layer.id] = _Entry(layer, None)
                self.stored_mib += layer.disk_mib
                added += layer.disk_mib
        return added

    # ---- pulls -----------------------------------------------------------------------------

    def pull(self, image: Image, owned: list[Layer]) -> Generator[simpy.Event, Any, float]:
        """Fetch ``owned`` layers (downloads in parallel up to the daemon's limit, extraction in
        layer order) and wait for layers other pulls are fetching. Returns MiB downloaded."""
        env = self.env
        owned_ids = {layer.id for layer in owned}
        downloads = {layer.id: env.process(self._download(layer)) for layer in owned}
        for layer in image.layers:
            e = self.entries[layer.id]
            if e.present:
                continue
            if layer.id in owned_ids:
                yield downloads[layer.id]
                yield from self._extract(layer)
                e.present = True
                ready, e.ready = e.ready, None
                assert ready is not None
                ready.succeed()
            else:
                assert e.ready is not None
                yield e.ready
        return sum(layer.download_mib for layer in owned)

    def _download(self, layer: Layer) -> Generator[simpy.Event, Any, None]:
        host = self.host
        slot = host.download_slots.acquire()
        if slot is not None:
            yield slot
        try:
            ev = host.net.request(layer.download_mib)
            if ev is not None:
                yield ev
            self.pulled_mib += layer.download_mib
        finally:
            host.download_slots.release()

    def _extract(self, layer: Layer) -> Generator[simpy.Event, Any, None]:
        host = self.host
        events = [ev for ev in (host.disk_bw.request(layer.disk_mib),
                                host.cpu.request(layer.download_mib / EXTRACT_MIB_PER_CORE_S, 1.0))
                  if ev is not None]
        if len(events) == 1:
            yield events[0]
        elif events:
            yield self.env.all_of(events)

    # ---- reporting -------------------------------------------------------------------------

    def layer_count(self) -> int:
        return len(self.entries)

    def unused_mib(self) -> float:
        return sum(e.layer.disk_mib for e in self.entries.values() if e.refs == 0 and e.present)


def pull_seconds(download_mib: float, net_mib_s: float) -> float:
    """Time for one lone pull's download over an idle link (for tests and closed forms)."""
    return download_mib / net_mib_s if net_mib_s > 0 else math.inf
