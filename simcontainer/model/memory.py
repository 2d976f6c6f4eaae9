"""Memory as a host really shares it: use over time, cgroup limits, the kernel's OOM killer, KVM
guest memory, balloons and KSM.

Opt-in: nothing here runs unless a workload has a ``usage`` model or a ``mem_limit_mib``, or the
host has ``ksm``. A run without
them keeps today's flat reservations and has no process, no hook call and no cost (the lifecycle
benchmark checks it).

- **Resident memory** of a host (:class:`HostMemory`) is the sum over its running instances of
  what each holds now: a flat instance its reservation (working set + runtime overhead); an
  instance with a ``usage`` model its current level + runtime overhead; a VM the guest pages it
  has touched (guest OS + the app's peak use, never above its guest RAM) + the VMM overhead -- KVM
  backs guest memory on first touch (QEMU allocates it lazily unless ``-mem-prealloc``) and the
  host gets it back only through a balloon (``balloon = true``); minus what KSM merged.
- **cgroup OOM**: an instance whose level passes its ``mem_limit_mib`` (memory.max) is killed by
  its cgroup: exit 137, ``oom_killed``, an ``oom`` event; its restart policy acts
  (the daemon's one lifecycle handles the ``"oom"`` interrupt, :meth:`Daemon.caught`).
- **host OOM**: an allocation that would take resident memory beyond the host's RAM minus
  ``reserved_mib`` plus ``swap_mib`` first runs the kernel's OOM killer: the running instance of
  highest badness (:func:`badness`, Linux ``mm/oom_kill.c`` ``oom_badness``: resident pages plus
  ``oom_score_adj`` thousandths of the total) dies, VMs included, until the allocation fits.
  Every kill is recorded (``Recorder.oom_kills``) with its victim and reason.
- **swap slows, not kills**: resident memory past the host's capacity (up to ``swap_mib``) is
  swapped out, spread over the running instances in proportion to their resident memory (an
  estimate of the kernel's LRU reclaim); an instance with a fraction ``f`` of its pages swapped
  does its CPU work ``1 + host.swap_slowdown x f`` times slower (an estimate). Reported per
  workload: ``swapped_mib_s`` and the mean slowdown over its running time. The slowdown acts: a
  slowed instance's running CPU load is capped at its normal cap / s (:meth:`HostMemory.reslow`,
  whenever the spread changes); it still asks its cores and receives less
  (``cpu.swap_lost_core_s``: the ask the swap cap withheld).
- **page cache**: a workload's ``file_cache_mib`` (libraries and binaries read from its image) is
  held once per host per image for containers -- one kernel, one page cache over the shared
  layers -- while it has a running instance; each VM holds its own copy in its guest (touched
  guest pages). Clean cache no instance uses is reclaimable and not counted.

:func:`kill_for` is the host OOM killer as a function, for an admission that admits without
checking (``admission = "none"``): call it with a host and the MiB to allocate; it kills until
they fit and returns the victims.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from simcontainer.model.host import guest_mem_mib
from simcontainer.model.ksm import KSM_CPU_CORES, ksm_cpu_cores, ksm_curve, ksm_rate_mib_s
from simcontainer.model.qos import EvictionThresholds, eviction_monitor, is_pod, oom_score_adj_of
from simcontainer.model.usage import BALLOON_MIB_S, Usage, UsageRun, usage_of
from simcontainer.scenario.workload import Stream, seed_sequence

if TYPE_CHECKING:
    from simcontainer.model.daemon import Daemon, Instance
    from simcontainer.model.host import HostNode
    from simcontainer.scenario.schema import Host, Scenario



def badness(resident_mib: float, oom_score_adj: int, total_mib: float) -> float:
    """The kernel's OOM badness (Linux mm/oom_kill.c ``oom_badness``): resident (+ swap) pages
    plus ``oom_score_adj`` thousandths of the total pages; -1000 is never chosen (-inf)."""
    if oom_score_adj <= -1000:
        return -math.inf
    return resident_mib + oom_score_adj * total_mib / 1000.0






def active(scenario: Scenario) -> bool:
    """Whether the scenario uses the memory model at all (else nothing here runs): a workload
    with a usage model or a memory limit, KSM, or an admission that admits without checking
    (``daemon.admission = "none"``: the OOM killer is then what keeps the host within its RAM)."""
    if getattr(scenario.daemon, "admission", None) == "none":
        return True
    return scenario.host.ksm or any(w.usage is not None or w.mem_limit_mib is not None
                                    for w in scenario.workloads)


class Member:
    """One running instance's memory on its host."""

    __slots__ = ("inst", "level", "touched", "fixed", "ceiling", "adj", "limit", "proc", "vm",
                 "image", "shared", "guest_os", "cache", "pod")

    def __init__(self, inst: Instance, adj: int, pod: bool,
                 shape: tuple[bool, float, float, str, float, float, float, float] | None = None) -> None:
        # NOTE: what is the same for every instance of a workload (``shape``: see
        # :meth:`shape_of`) is computed once per workload by :meth:`Memory.on_running`
        self.inst = inst
        self.adj = adj                            # oom_score_adj (the kubelet's for a pod)
        self.pod = pod                            # under the kubelet: node-pressure eviction
        (self.vm, self.fixed, self.limit, self.image, self.shared, self.ceiling, self.guest_os,
         self.cache) = shape if shape is not None else self.shape_of(inst)
        self.level = 0.0      # the app's (or the guest's) own use
        self.touched = 0.0    # VMs: guest pages backed on the host
        self.proc: UsageRun | None = None

    @staticmethod
    def shape_of(inst: Instance) -> tuple[bool, float, float, str, float, float, float, float]:
        """(vm, fixed, limit, image, shared, ceiling, guest_os, cache) of an instance's workload."""
        plan = inst.plan
        w, rt = plan.workload, plan.runtime
        vm = rt.kind == "vm"
        fixed = rt.mem_overhead_mib               # runtime / VMM overhead
        limit = w.mem_limit_mib if w.mem_limit_mib is not None else math.inf
        shared = w.ksm_shared_fraction if vm else 0.0
        if vm:
            img = plan.image
            ceiling = guest_mem_mib(w, rt, img)
            guest_os = img.guest_os_mib if img.guest_os_mib is not None else rt.guest_os_mib
            guest_os += w.file_cache_mib            # its own page cache of the app's files
        else:
            ceiling = math.inf
            guest_os = 0.0
        cache = 0.0 if vm else w.file_cache_mib     # shared per host (HostMemory.cache)
        return vm, fixed, limit, plan.image.name, shared, ceiling, guest_os, cache

    def resident(self) -> float:
        return (self.touched if self.vm else self.level) + self.fixed




class HostMemory:
    """Resident memory of one host and its OOM killer."""

    def __init__(self, env: simpy.Environment, host: HostNode, mm: Memory) -> None:
        spec: Host = host.spec
        self.env = env
        self.host = host
        self.mm = mm
        self.capacity = spec.ram_mib - spec.reserve_mib
        self.swap = spec.swap_mib
        self.members: dict[int, Member] = {}     # every running full-path instance
        self.cache: dict[str, list[float]] = {}  # image -> [containers using it, file pages MiB]
        self.resident = 0.0        # Σ member.resident() (before KSM)
        self.merged = 0.0          # saved by KSM
        self.peak = 0.0
        self.peak_swapped = 0.0
        self.ksm_proc: simpy.Process | None = None
        self.evict_proc: simpy.Process | None = None   # the kubelet's eviction manager (qos)
        self.ksm_wake: simpy.Event | None = None   # ksmd idle: woken when a guest's pages change
        self.slowdown_k = spec.swap_slowdown
        self.t_last = 0.0           # swap accounting integrated up to here (see tick)
        self.swapped_s = 0.0        # MiB.s swapped on this host

    def poke(self) -> None:
        """Wake an idle ksmd (a VM started, stopped or touched more pages)."""
        ev = self.ksm_wake
        if ev is not None and not ev.triggered:
            ev.succeed()

    def used(self) -> float:
        return self.resident - self.merged

    def slowdown(self) -> float:
        """The stretch of every member's CPU work now: 1 + k x the swapped fraction (swapped
        MiB spread over the members in proportion to their resident memory)."""
        s = self.used() - self.capacity
        if s <= 0 or self.resident <= 0:
            return 1.0
        return 1.0 + self.slowdown_k * min(1.0, s / self.resident)

    def tick(self) -> None:
        """Integrate swap use and slowdown per workload up to now (call before any change to
        the host's memory or its members; costs a loop only while something is swapped)."""
        now = self.env._now
        dt = now - self.t_last
        self.t_last = now
        if dt <= 0:
            return
        s = self.resident - self.merged - self.capacity       # NOTE: ``used()`` inlined
        if s <= 0 or self.resident <= 0:
            return
        self.swapped_s += s * dt
        slow = self.slowdown()
        per_mib = s / self.resident
        mm = self.mm
        for m in self.members.values():
            w = m.inst.plan.index
            mm.swapped_mib_s[w] += per_mib * m.resident() * dt
            mm.slow_s[w] += (slow - 1.0) * dt
            if slow > mm.peak_slowdown[w]:
                mm.peak_slowdown[w] = slow

    def reslow(self) -> None:
        """Swap slows: cap every running member's CPU load at its normal cap / the slowdown now
        (rounded to 0.001, so the CPU's cap classes stay few). Nothing without swap slowdown."""
        mm = self.mm
        if not mm.swap_cpu:
            return
        s = round(self.slowdown(), 3)
        slowed = mm.slowed
        for m in list(self.members.values()):
            inst = m.inst
            if inst.cpu_load:
                st = slowed.get(inst.id)
                if (st[0] if st is not None else 1.0) != s:
                    mm.reslow_to(inst, s)

    def share_cache(self, m: Member, on: bool) -> float:
        """A container's file pages: held once per image on the host. The MiB it adds (on) or
        frees (off)."""
        if not m.cache:
            return 0.0
        entry = self.cache.get(m.image)
        if on:
            if entry is None:
                self.cache[m.image] = [1.0, m.cache]
                return m.cache
            entry[0] += 1
            if m.cache > entry[1]:
                grow, entry[1] = m.cache - entry[1], m.cache
                return grow
            return 0.0
        if entry is None:
            return 0.0
        entry[0] -= 1
        if entry[0] <= 0:
            del self.cache[m.image]
            return entry[1]
        return 0.0

    def _note(self) -> None:
        u = self.used()
        if u > self.peak:
            self.peak = u
        s = u - self.capacity
        if s > self.peak_swapped:
            self.peak_swapped = s

    def change(self, m: Member, new_level: float) -> None:
        """Set a member's level: the cgroup's check, then the host's OOM killer if it must."""
        # NOTE: the hot path of a usage model (each level of each instance): ``tick`` only
        # when something is swapped (else only its clock moves); ``resident()``, ``used()``,
        # ``_note`` and ``reslow``'s test inlined
        if self.resident - self.merged > self.capacity:     # swapped: integrate up to now
            self.tick()
        self.t_last = self.env._now                         # (else nothing to integrate)
        vm, fixed = m.vm, m.fixed
        before = (m.touched if vm else m.level) + fixed
        if vm:
            want = min(m.ceiling, m.guest_os + new_level)
            touched = max(m.touched, want) if not self.mm.balloon(m) else want
        else:
            touched = 0.0
        # the cgroup charges a container its app's use; a VM's cgroup (the VMM process) its
        # touched guest pages + the VMM
        charged = touched + fixed if vm else new_level
        if charged > m.limit:
            self.mm.kill(self, m, "cgroup", f"cgroup memory.max: usage {charged:,.0f} MiB over "
                                            f"the limit {m.limit:,.0f} MiB")
            return
        level = new_level
        after = (touched if vm else level) + fixed
        grow = after - before
        if grow > 0 and self.resident - self.merged + grow > self.capacity + self.swap:
            self.oom(grow, m)
            if m.inst.id not in self.members or self.used() + grow > self.capacity + self.swap:
                return
        if vm and touched != m.touched and self.ksm_wake is not None:
            self.poke()
        m.level, m.touched = level, touched
        self.resident += after - before
        u = self.resident - self.merged
        if u > self.peak:
            self.peak = u
        s = u - self.capacity
        if s > self.peak_swapped:
            self.peak_swapped = s
        if self.mm.swap_cpu:
            self.reslow()

    def select_bad(self, total: float) -> tuple[Member | None, float]:
        """The kernel's choice (mm/oom_kill.c ``select_bad_process`` / ``oom_evaluate_task``):
        tasks in scan order -- ``members`` keeps the order instances last started, as the task
        list keeps creation order -- skipping the unkillable (-1000) and any with fewer points
        than the chosen one (``points < chosen_points``): on equal badness the one found later
        replaces the chosen one."""
        chosen, chosen_points = None, -math.inf
        for m in self.members.values():
            points = badness(m.resident(), m.adj, total)
            if points == -math.inf or points < chosen_points:
                continue
            chosen, chosen_points = m, points
        return chosen, chosen_points

    def oom(self, need: float, asking: Member | None) -> list[Member]:
        """The kernel's OOM killer: kill by badness until ``need`` more MiB fit. With no killable
        task left the kernel panics ("Out of memory and no killable processes...", then
        ``panic("System is deadlocked on memory")`` in ``out_of_memory``): the host goes down
        with everything on it (:meth:`Memory.panic`)."""
        victims: list[Member] = []
        total = self.capacity + self.swap
        while self.used() + need > total and self.members:
            best, points = self.select_bad(total)
            if best is None:
                self.mm.panic(self, f"Out of memory and no killable processes: {self.used() + need:,.0f} MiB "
                                    f"asked of {total:,.0f} MiB; Kernel panic - not syncing: System is "
                                    "deadlocked on memory")
                break
            victims.append(best)
            self.mm.kill(self, best, "host",
                         f"host out of memory: {self.used() + need:,.0f} MiB asked of "
                         f"{total:,.0f} MiB; badness {points:,.0f}")
        return victims


class Memory:
    """Every host's memory and the per-instance usage processes (one per scenario run)."""

    def __init__(self, env: simpy.Environment, daemon: Daemon, scenario: Scenario, seed: int) -> None:
        self.env = env
        self.d = daemon
        self.rec = daemon.rec
        self.hosts = [HostMemory(env, h, self) for h in daemon.hosts]
        # per workload, by its index (a plan's ``index``): its draws, its usage model (None: flat)
        self.streams = [Stream(seed_sequence(seed, w.name, "memory")) for w in scenario.workloads]
        self.models = [usage_of(w) for w in scenario.workloads]
        self.ksm_rate = ksm_rate_mib_s(scenario.host.ksm_pages_to_scan, scenario.host.ksm_sleep_ms)
        self.ksm = scenario.host.ksm
        self.run_s = [0.0] * len(scenario.workloads)     # instance-seconds running, per workload
        n = len(scenario.workloads)
        self.swapped_mib_s = [0.0] * n      # swap accounting per workload (HostMemory.tick)
        self.slow_s = [0.0] * n             # integral of (slowdown - 1) over running instance time
        self.peak_slowdown = [1.0] * n
        self.since: dict[int, float] = {}
        # swap slows the app's CPU (host swap_slowdown > 0 and swap_mib > 0): per slowed
        # instance (slowdown, since, its normal class's clock, its swap class's clock, instance)
        self.swap_cpu = any(hm.slowdown_k > 0 and hm.swap > 0 for hm in self.hosts)
        self.slowed: dict[int, tuple[float, float, float, float, Instance]] = {}
        self.cpu_fix = [0.0] * n            # received core.s the metrics' normal-class clock misses
        self.swap_lost = [0.0] * n          # core.s the swap cap withheld: (cap - cap/s) x time
        self.ksm_cpu = ksm_cpu_cores(scenario.host.ksm_pages_to_scan, scenario.host.ksm_sleep_ms)
        # A kernel panic for want of a killable task (HostMemory.oom): ``on_panic(host index,
        # reason, instances)`` is the fault machinery's hook (set by the engine): it takes the
        # host down with its instances, its blast radius. Unset, the instances on the host are
        # killed here (kind "panic"), so resident memory never passes RAM + swap.
        self.on_panic: Callable[[int, str, list[Instance]], None] | None = None
        self.panics: list[dict[str, Any]] = []
        # The kubelet's node-pressure eviction (pods only): thresholds, and ``evict(instance,
        # reason) -> bool``, how an eviction ends an instance (set by the engine; unset: the
        # daemon's preemption stop)
        self.eviction = EvictionThresholds()
        self.evict: Callable[[Instance, str], bool] | None = None
        self.evictions: list[dict[str, Any]] = []
        self.evicting: set[int] = set()
        self._qos: dict[int, tuple[int, bool, Any]] = {}    # per workload: (oom_score_adj, pod, Member shape)
        self.rec.memory = self
        if self.ksm:
            for hm in self.hosts:
                hm.ksm_proc = env.process(self._ksm(hm))

    @staticmethod
    def balloon(m: Member) -> bool:
        return m.inst.plan.workload.balloon

    # ---- swap slows the CPU --------------------------------------------------------------

    def reslow_to(self, inst: Instance, s: float) -> None:
        """Move a running instance's CPU load to cap (normal cap) / ``s`` (``s`` = 1: its normal
        cap), closing the accounting of the slowed stretch it leaves."""
        plan = inst.plan
        c, share = plan.demand.cpu, plan.demand.cpu_share
        host = inst.host
        if c <= 0 or host is None:
            return
        cpu = host.cpu
        now = self.env.now
        st = self.slowed.pop(inst.id, None)
        if st is not None:
            self._close(st, now)
            cpu.remove_load(c / st[0], 1.0, share)
        else:
            cpu.remove_load(c, 1.0, share)
        if s > 1.0:
            cap = c / s
            cpu.add_load(cap, 1.0, share)
            self.slowed[inst.id] = (s, now, cpu.clock(c, share), cpu.clock(cap, share), inst)
        else:
            cpu.add_load(c, 1.0, share)

    def _close(self, st: tuple[float, float, float, float, Instance], now: float) -> None:
        s, t0, v_normal, v_slow, inst = st
        plan = inst.plan
        c, share = plan.demand.cpu, plan.demand.cpu_share
        cpu = inst.host.cpu
        w = plan.index
        # the metrics count its normal class's clock over its running time: replace this
        # stretch's part of it with what its slowed class really gave
        self.cpu_fix[w] += (cpu.clock(c / s, share) - v_slow) - (cpu.clock(c, share) - v_normal)
        self.swap_lost[w] += (c - c / s) * (now - t0)

    def unslow(self, inst: Instance) -> None:
        if inst.id in self.slowed:
            self.reslow_to(inst, 1.0)

    def reslow_inst(self, inst: Instance) -> None:
        host = inst.host
        if host is not None and inst.id in self.hosts[host.index].members:
            self.hosts[host.index].reslow()

    def flush_cpu(self) -> None:
        """Bring the swap CPU accounting up to now (before the metrics read it)."""
        now = self.env.now
        for iid, st in list(self.slowed.items()):
            self._close(st, now)
            plan, cpu = st[4].plan, st[4].host.cpu
            c, share = plan.demand.cpu, plan.demand.cpu_share
            self.slowed[iid] = (st[0], now, cpu.clock(c, share), cpu.clock(c / st[0], share), st[4])

    # ---- hooks the lifecycle calls ----------------------------------------------------------

    def on_running(self, inst: Instance) -> None:
        # NOTE: the hot path of the memory model (once per start): what is the same for every
        # instance of a workload is looked up once, ``tick`` only when something is swapped,
        # and the tests of ``share_cache`` and ``reslow`` inlined
        host = inst.host
        assert host is not None
        hm = self.hosts[host.index]
        now = self.env._now
        if hm.resident - hm.merged > hm.capacity:       # swapped: integrate up to now
            hm.tick()
        hm.t_last = now
        plan = inst.plan
        got = self._qos.get(plan.index)
        if got is None:         # the same for every instance of a workload (one host shape)
            got = self._qos[plan.index] = (oom_score_adj_of(inst), is_pod(inst), Member.shape_of(inst))
        m = Member(inst, got[0], got[1], got[2])
        iid = inst.id
        hm.members[iid] = m
        self.since[iid] = now
        model = self.models[plan.index]
        if model is None:
            # flat: the app uses its mem_mib all along (not its request); a VM's host holds the
            # guest pages that use touches (guest OS + app), as with a usage model at that level
            # -- whichever field switched the memory model on
            m.level = plan.workload.mem_mib
            m.touched = min(m.ceiling, m.guest_os + m.level) if m.vm else 0.0
        # flat: its use; else its runtime / VMM overhead to start (``resident()``)
        grow = (m.touched if m.vm else m.level) + m.fixed
        hm.resident += grow + (hm.share_cache(m, True) if m.cache else 0.0)
        u = hm.resident - hm.merged                 # ``used()``
        if u > hm.capacity + hm.swap:     # the kernel frees room first (maybe this one)
            hm.oom(0.0, m)
            if iid not in hm.members:
                return
            u = hm.resident - hm.merged
        if u > hm.peak:                             # ``_note()``
            hm.peak = u
        if u - hm.capacity > hm.peak_swapped:
            hm.peak_swapped = u - hm.capacity
        if self.swap_cpu:
            hm.reslow()
        if m.pod and hm.evict_proc is None:
            hm.evict_proc = self.env.process(eviction_monitor(self, hm))
        if m.vm:
            hm.poke()
        if model is not None:
            m.proc = UsageRun(self, hm, m, model)

    def on_exit(self, inst: Instance) -> None:
        iid = inst.id
        if self.evicting:
            self.evicting.discard(iid)
        t0 = self.since.pop(iid, None)
        if t0 is not None:
            self.run_s[inst.plan.index] += self.env._now - t0
        host = inst.host
        if host is None:
            return
        hm = self.hosts[host.index]
        if iid not in hm.members:
            return
        if hm.resident - hm.merged > hm.capacity:       # swapped: integrate up to now
            hm.tick()
        hm.t_last = self.env._now
        m = hm.members.pop(iid)
        hm.resident -= (m.touched if m.vm else m.level) + m.fixed + (hm.share_cache(m, False) if m.cache else 0.0)
        if m.proc is not None:       # it ends; and no cycle (member <-> run) left for the collector
            m.proc.stop()
            m.proc = None
        if self.ksm:
            self._ksm_clip(hm)
        if self.swap_cpu:
            hm.reslow()

    # ---- the processes ------------------------------------------------------------------

    def kill(self, hm: HostMemory, m: Member, kind: str, reason: str) -> None:
        inst = m.inst
        hm.tick()
        self.unslow(inst)
        hm.members.pop(inst.id, None)
        hm.resident -= m.resident() + hm.share_cache(m, False)
        self._ksm_clip(hm)
        hm.reslow()
        self.rec.oom_kills.append({"time_s": self.env.now, "instance": inst.id,
                                   "workload": inst.plan.index, "host": hm.host.index, "kind": kind,
                                   "resident_mib": m.resident(), "reason": reason})
        sv = self.d
        if sv is not None:
            if self.env.active_process is inst.process:     # killed as it starts: once it waits
                self.env.timeout(0).callbacks.append(lambda _ev: sv.interrupt(inst, "oom"))
            else:
                sv.interrupt(inst, "oom")
        if m.proc is not None:       # it ends; and no cycle (member <-> run) left for the collector
            m.proc.stop()
            m.proc = None

    def panic(self, hm: HostMemory, reason: str) -> None:
        """The host's kernel panicked (no killable task): its instances go with it."""
        gone = list(hm.members.values())
        self.panics.append({"time_s": self.env.now, "host": hm.host.index, "reason": reason,
                            "instances": [m.inst.id for m in gone]})
        if self.on_panic is not None:
            for m in gone:
                self._drop(hm, m)
            self.on_panic(hm.host.index, reason, [m.inst for m in gone])
            return
        for m in gone:
            self.kill(hm, m, "panic", reason)

    def evict_member(self, hm: HostMemory, m: Member, kind: str, available: float) -> None:
        """The kubelet evicts a pod under memory pressure (qos.eviction_monitor)."""
        inst = m.inst
        th = self.eviction
        limit = th.hard_mib if kind == "hard" else th.soft_mib
        reason = (f"The node was low on resource: memory. Threshold quantity: {limit:,.0f}Mi, "
                  f"available: {available:,.0f}Mi ({kind} eviction)")
        self.evictions.append({"time_s": self.env.now, "instance": inst.id, "workload": inst.plan.index,
                               "host": hm.host.index, "kind": kind, "resident_mib": m.resident(),
                               "reason": reason})
        sv = self.d
        if self.evict is not None:
            took = self.evict(inst, reason)
        else:
            took = sv.preempt(inst) if sv is not None else False
        if took:
            self.evicting.add(inst.id)
        else:           # nothing to stop it with: its pages go at once, as after a kill
            self.kill(hm, m, "evicted", reason)

    def _drop(self, hm: HostMemory, m: Member) -> None:
        """Take a member out of the host's accounting (no interrupt: its end comes from elsewhere)."""
        hm.tick()
        self.unslow(m.inst)
        hm.members.pop(m.inst.id, None)
        hm.resident -= m.resident() + hm.share_cache(m, False)
        if m.proc is not None:       # it ends; and no cycle (member <-> run) left for the collector
            m.proc.stop()
            m.proc = None
        self._ksm_clip(hm)

    def summary(self, horizon: float, names: list[str]) -> dict[str, Any]:
        """The result's ``memory`` block: per host resident peak, swap and KSM; per workload
        OOM kills and kills per 1,000 instance-hours (null over no running time)."""
        for hm in self.hosts:
            hm.tick()
        run = list(self.run_s)
        for iid, t0 in self.since.items():
            run[self.d.live[iid].plan.index if iid in self.d.live else 0] += horizon - t0
        kills = self.rec.oom_kills
        per_wl = {}
        for w, name in enumerate(names):
            mine = [k for k in kills if k["workload"] == w]
            hours = run[w] / 3600.0
            per_wl[name] = {"oom_kills": len(mine),
                            "cgroup_kills": sum(1 for k in mine if k["kind"] == "cgroup"),
                            "host_kills": sum(1 for k in mine if k["kind"] == "host"),
                            "panic_kills": sum(1 for k in mine if k["kind"] == "panic"),
                            "evictions": sum(1 for e in self.evictions if e["workload"] == w),
                            "instance_hours": hours,
                            "oom_kills_per_1000_h": 1000.0 * len(mine) / hours if hours > 0 else None,
                            "swapped_mib_s": self.swapped_mib_s[w],
                            "mean_swap_slowdown": 1.0 + self.slow_s[w] / run[w] if run[w] > 0 else None,
                            "peak_swap_slowdown": self.peak_slowdown[w]}
        return {"oom_kills": len(kills), "panics": list(self.panics), "evictions": len(self.evictions),
                "workloads": per_wl,
                "hosts": [{"capacity_mib": hm.capacity, "swap_mib": hm.swap, "peak_used_mib": hm.peak,
                           "peak_swapped_mib": max(0.0, hm.peak_swapped), "used_mib_at_end": hm.used(),
                           "swapped_mib_s": hm.swapped_s, "swap_slowdown_at_end": hm.slowdown(),
                           "ksm_merged_mib_at_end": hm.merged,
                           "page_cache_mib_at_end": sum(v[1] for v in hm.cache.values())}
                          for hm in self.hosts]}

    # ---- KSM ------------------------------------------------------------------------------

    def _ksm_max(self, hm: HostMemory) -> tuple[float, float]:
        """(what KSM can merge at most, the VM memory it scans)."""
        groups: dict[str, list[Member]] = {}
        scanned = 0.0
        for m in hm.members.values():
            if m.vm:
                scanned += m.touched
                if m.shared > 0:
                    groups.setdefault(m.image, []).append(m)
        most = 0.0
        for ms in groups.values():
            if len(ms) > 1:
                pages = [m.touched * m.shared for m in ms]
                most += sum(pages) - max(pages)     # one copy stays
        return most, scanned

    def _ksm_clip(self, hm: HostMemory) -> None:
        if self.ksm:
            most, _ = self._ksm_max(hm)
            hm.merged = min(hm.merged, most)

    def _ksm(self, hm: HostMemory) -> Generator[simpy.Event, Any, None]:
        """ksmd: each second it scans ``ksm_rate`` MiB of guest memory. A page merges only once
        its checksum stayed unchanged for a full scan (mm/ksm.c ``cmp_and_merge_page``: a page
        whose checksum changed since the last pass is not put in the unstable tree), so after
        ksmd wakes, its first full pass merges nothing; after that, the part of a pass it has
        done merges that part of what can be merged. Its CPU while it has work:
        :func:`ksm_cpu_cores` of its ``pages_to_scan`` and sleep."""
        env, cpu = self.env, hm.host.cpu
        busy = False
        first_pass = 0.0        # MiB still to scan before a checksum has been seen unchanged
        while True:
            if not busy:        # nothing to merge: sleep until a guest's pages change
                hm.ksm_wake = env.event()
                yield hm.ksm_wake
                hm.ksm_wake = None
                first_pass = -1.0
            yield env.timeout(1.0)
            most, scanned = self._ksm_max(hm)
            left = most - hm.merged
            scanning = left > 1e-9 and scanned > 0
            if scanning != busy:
                (cpu.add_load if scanning else cpu.remove_load)(self.ksm_cpu)
                busy = scanning
            hm.tick()
            if scanning:
                step = self.ksm_rate
                if first_pass < 0:          # woken: one full pass before anything merges
                    first_pass = scanned
                if first_pass > 0:
                    seen = min(step, first_pass)
                    first_pass -= seen
                    step -= seen
                hm.merged = min(most, hm.merged + step * most / scanned)
            elif left < 0:
                hm.merged = most
            hm.reslow()


def throttle_table(cpu: float, limits: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0), period_ms: float = 100.0) -> Any:
    """For a lesson: an app wanting ``cpu`` cores under each CFS limit (cores; quota = limit x
    period): cores received, throttled, and the quota per period in ms. A DataFrame."""
    import pandas as pd  # noqa: PLC0415 - heavy

    rows = [{"limit_cores": lim, "quota_ms_per_period": lim * period_ms, "period_ms": period_ms,
             "received_cores": min(cpu, lim), "throttled_cores": max(0.0, cpu - lim),
             "throttled_periods": 1.0 if cpu > lim else 0.0} for lim in limits]
    return pd.DataFrame(rows)


def kill_for(memory: Memory, host_index: int, need_mib: float) -> list[int]:
    """For an admission that admits without checking: run host ``host_index``'s OOM killer so
    that ``need_mib`` more fit; the instance ids it killed (each recorded in ``oom_kills``)."""
    return [m.inst.id for m in memory.hosts[host_index].oom(need_mib, None)]


__all__ = ["BALLOON_MIB_S", "KSM_CPU_CORES", "HostMemory", "Memory", "Usage", "active", "badness",
           "kill_for", "ksm_cpu_cores", "ksm_curve", "ksm_rate_mib_s", "throttle_table", "usage_of"]
