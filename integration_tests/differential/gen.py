"""Seeded random event sequences for the differential harness.

Every datasource type we transform (nova zone/host/instance, neutron
network/port, cinder volume, Zabbix, static) plus consistency passes, with
the hard cases on purpose: out-of-order and stale events (an old event
replayed, a sample date behind the clock), deletes and re-creates,
placeholders filled and emptied (instances on unknown hosts, ports on
unknown networks, consistency removing them), attach and detach, Zabbix
clears and re-raises (and periodic snapshots re-sending OK), periodic
get_all snapshots with the outdated pass, consistency passes after time
jumps. Events are the dicts upstream's processor receives (shaped like
testdata/conformance's); the templates are the corpus's own events.

Nova notifications are versioned (`instance.*`) or legacy
(`compute.instance.*`, the payload nova sends with
use_nova_versioned_notifications false; template: the legacy case of
testdata/notifications/driver_cases.jsonl): per seed, from a random
stream of its own (so the rest of a seed's sequence does not depend on
it), all versioned (60 % of seeds), all legacy (20 %) or mixed (20 %,
as across a change of the setting). upstream.py sets the setting for
each event as the push driver that forwarded it had it.

A sequence is a list of items: an event dict, or a directive
{"_pass": "consistency", "now": T} / {"_pass": "outdated", "datasource":
D, "start": T, "now": T} that the harness expands on upstream's graph.
"""
import copy
import datetime
import glob
import json
import os
import random

BASE = datetime.datetime(2024, 5, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "testdata", "conformance", "scenarios")
NOTIFICATIONS = os.path.join(HERE, "..", "..", "testdata", "notifications")

# versioned event type -> the legacy one nova sends for the same change
LEGACY_TYPES = {
    "instance.create.end": "compute.instance.create.end",
    "instance.update": "compute.instance.power_on.end",
    "instance.pause.end": "compute.instance.pause.end",
    "instance.power_off.end": "compute.instance.power_off.end",
    "instance.live_migration_post.end": "compute.instance.live_migration.post.dest.end",
    "instance.delete.end": "compute.instance.delete.end",
}


def fmt(t):
    return (BASE + datetime.timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(t):
    return BASE + datetime.timedelta(seconds=t)


_templates = {}


def templates():
    if _templates:
        return _templates
    for f in sorted(glob.glob(os.path.join(CORPUS, "*.events.jsonl"))):
        for line in open(f):
            e = json.loads(line)
            k = (e["vitrage_entity_type"], e["vitrage_datasource_action"] != "update")
            if e["vitrage_entity_type"] == "nova.instance" and \
                    e["vitrage_datasource_action"] == "update":
                k = ("nova.instance", False)
            _templates.setdefault(k, e)
    for line in open(os.path.join(NOTIFICATIONS, "driver_cases.jsonl")):
        c = json.loads(line)
        if c["name"] == "legacy_nova_taken_when_legacy":
            e = dict(c["message"]["payload"])
            e.update(vitrage_entity_type="nova.instance",
                     vitrage_datasource_name="nova.instance",
                     vitrage_datasource_action="update")
            _templates["nova.instance", "legacy"] = e
    return _templates


class Cloud(object):
    def __init__(self, rnd, legacy_rnd=None, legacy_share=0.0):
        self.r = rnd
        self.legacy_r = legacy_rnd
        self.legacy_share = legacy_share
        self.t = 0
        self.zones = {"zone-0": True, "zone-1": True}
        self.hosts = {"host-%d" % i: "zone-%d" % (i % 2) for i in range(4)}
        self.vms = {}        # id -> dict(name, host, state, alive)
        self.nets = {}       # id -> dict(name, alive)
        self.ports = {}      # id -> dict(net, device, alive)
        self.vols = {}       # id -> dict(att: [vm ids], alive)
        self.trig = {}       # (resource, triggerid) -> dict(value, rtype)
        self.static_on = True
        self.out = []
        self.n_vm = self.n_net = self.n_port = self.n_vol = 0

    # --------------------------------------------------------- helpers
    def emit(self, ev, t=None):
        ev["vitrage_sample_date"] = fmt(self.t if t is None else t)
        self.out.append(ev)

    def tick(self, lo=0, hi=20):
        self.t += self.r.randint(lo, hi)

    def pick(self, d, alive=True):
        keys = [k for k, v in d.items() if not alive or v.get("alive", True)]
        return self.r.choice(sorted(keys)) if keys else None

    def some_host(self):
        # Now and then a host nobody reported: a placeholder.
        if self.r.random() < 0.15:
            return "host-%d" % self.r.randint(7, 9)
        return self.r.choice(sorted(self.hosts))

    # ------------------------------------------------------------ nova
    def host_event(self, h, action):
        e = copy.deepcopy(templates()[("nova.host", True)])
        e.update(host=h, zone=self.hosts.get(h, "zone-9"),
                 vitrage_datasource_action=action)
        e["_info"] = dict(e["_info"], host_name=h, zone=e["zone"])
        return e

    def zone_event(self, z, action):
        e = copy.deepcopy(templates()[("nova.zone", True)])
        hosts = {}
        for h, hz in sorted(self.hosts.items()):
            if hz == z:
                st = self.r.choice(["True", "False"])
                hosts[h] = {"nova-compute": {"active": "True", "available": st,
                                             "updated_at": "2016-01-05T06:39:52\\.000000"}}
        e.update(zoneName=z, id=z, hosts=hosts, vitrage_datasource_action=action,
                 zoneState={"available": self.r.choice(["True", ""])})
        return e

    def vm_snapshot(self, vid, action):
        vm = self.vms[vid]
        e = copy.deepcopy(templates()[("nova.instance", True)])
        e.update({"id": vid, "name": vm["name"], "status": vm["state"],
                  "OS-EXT-SRV-ATTR:host": vm["host"],
                  "tenant_id": vm["tenant"], "vitrage_datasource_action": action})
        return e

    def vm_notification(self, vid, event_type):
        vm = self.vms[vid]
        if self.legacy_share and self.legacy_r.random() < self.legacy_share:
            e = copy.deepcopy(templates()[("nova.instance", "legacy")])
            e.update(instance_id=vid, hostname=vm["name"], display_name=vm["name"],
                     host=vm["host"], node=vm["host"], state=vm["state"].lower(),
                     tenant_id=vm["tenant"], vitrage_event_type=LEGACY_TYPES[event_type])
            return e
        e = copy.deepcopy(templates()[("nova.instance", False)])
        d = e["nova_object.data"]
        d.update(uuid=vid, host_name=vm["name"], display_name=vm["name"],
                 host=vm["host"], state=vm["state"].lower(), tenant_id=vm["tenant"])
        e.update(vitrage_datasource_action="update", vitrage_event_type=event_type)
        return e

    def op_vm(self):
        r = self.r
        vid = self.pick(self.vms)
        c = r.random()
        if vid is None or c < 0.25:
            vid = "inst-%d" % self.n_vm
            self.n_vm += 1
            if r.random() < 0.2 and self.vms:   # re-create a deleted one
                dead = [k for k, v in self.vms.items() if not v["alive"]]
                if dead:
                    vid = r.choice(sorted(dead))
            self.vms[vid] = dict(name="vm-" + vid.split("-")[1], host=self.some_host(),
                                 state="ACTIVE", alive=True,
                                 tenant=r.choice(["t-a", "t-b"]))
            self.emit(self.vm_notification(vid, "instance.create.end"))
        elif c < 0.45:
            self.vms[vid]["state"] = r.choice(["ACTIVE", "PAUSED", "ERROR", "SHUTOFF"])
            self.emit(self.vm_notification(vid, r.choice(
                ["instance.update", "instance.pause.end", "instance.power_off.end"])))
        elif c < 0.6:
            self.vms[vid]["host"] = self.some_host()
            self.emit(self.vm_notification(vid, "instance.live_migration_post.end"))
        elif c < 0.75:
            self.vms[vid]["alive"] = False
            self.emit(self.vm_notification(vid, "instance.delete.end"))
        else:
            self.snapshot("nova.instance")

    # --------------------------------------------------------- neutron
    def net_event(self, nid, action, event_type=None):
        n = self.nets[nid]
        e = copy.deepcopy(templates()[("neutron.network", True)])
        e.update(id=nid, name=n["name"], status=n["status"], updated_at=fmt(self.t))
        if action == "update":
            e = {"network": e, "vitrage_event_type": event_type}
            for k in ("vitrage_datasource_action", "vitrage_datasource_name",
                      "vitrage_entity_type"):
                e[k] = e["network"].pop(k)
            e["network"].pop("vitrage_sample_date", None)
        e["vitrage_datasource_action"] = action
        return e

    def port_event(self, pid, action, event_type=None):
        p = self.ports[pid]
        e = copy.deepcopy(templates()[("neutron.port", True)])
        e.update(id=pid, name=p["name"], network_id=p["net"], device_id=p["device"],
                 status=p["status"], updated_at=fmt(self.t),
                 device_owner="compute:nova" if p["device"] else "network:dhcp")
        e["fixed_ips"] = [{"ip_address": "10.0.0.%d" % self.r.randint(2, 250),
                           "subnet_id": "sub"}]
        if action == "update":
            e = {"port": e, "vitrage_event_type": event_type}
            for k in ("vitrage_datasource_action", "vitrage_datasource_name",
                      "vitrage_entity_type"):
                e[k] = e["port"].pop(k)
            e["port"].pop("vitrage_sample_date", None)
        e["vitrage_datasource_action"] = action
        return e

    def op_net(self):
        r = self.r
        c = r.random()
        nid = self.pick(self.nets)
        if nid is None or c < 0.3:
            nid = "net-%d" % self.n_net
            self.n_net += 1
            self.nets[nid] = dict(name=nid, status="ACTIVE", alive=True)
            self.emit(self.net_event(nid, "update", "network.create.end"))
        elif c < 0.5:
            self.nets[nid]["status"] = r.choice(["ACTIVE", "DOWN"])
            self.nets[nid]["name"] = nid + r.choice(["", "-renamed"])
            self.emit(self.net_event(nid, "update", "network.update.end"))
        elif c < 0.6:
            self.nets[nid]["alive"] = False
            self.emit({"network_id": nid, "vitrage_datasource_action": "update",
                       "vitrage_datasource_name": "neutron.network",
                       "vitrage_entity_type": "neutron.network",
                       "vitrage_event_type": "network.delete.end"})
        else:
            self.snapshot("neutron.network")

    def op_port(self):
        r = self.r
        c = r.random()
        pid = self.pick(self.ports)
        if pid is None or c < 0.35:
            pid = "port-%d" % self.n_port
            self.n_port += 1
            net = self.pick(self.nets) if r.random() < 0.7 else "net-%d" % r.randint(7, 9)
            dev = self.pick(self.vms) if r.random() < 0.8 else ""
            self.ports[pid] = dict(name=r.choice(["", pid]), net=net or "net-9",
                                   device=dev or "", status="ACTIVE", alive=True)
            self.emit(self.port_event(pid, "update", "port.create.end"))
        elif c < 0.6:
            p = self.ports[pid]
            p["status"] = r.choice(["ACTIVE", "DOWN"])
            if r.random() < 0.3:
                p["device"] = self.pick(self.vms) or ""
            self.emit(self.port_event(pid, "update", "port.update.end"))
        elif c < 0.7:
            self.ports[pid]["alive"] = False   # port.delete.end: dropped by the driver
        else:
            self.snapshot("neutron.port")

    # ---------------------------------------------------------- cinder
    def vol_event(self, vid, action, event_type=None, att=None):
        v = self.vols[vid]
        if action == "update":
            e = {"volume_id": vid, "display_name": v["name"], "size": "1",
                 "status": v["status"], "tenant_id": "t-a",
                 "updated_at": fmt(self.t), "volume_type": "lvmdriver-1",
                 "volume_attachment": [{"instance_uuid": a}
                                       for a in (v["att"] if att is None else att)],
                 "vitrage_event_type": event_type}
        else:
            e = copy.deepcopy(templates()[("cinder.volume", True)])
            e.update(id=vid, display_name=v["name"], status=v["status"],
                     attachments=[{"server_id": a} for a in v["att"]])
        e.update(vitrage_datasource_action=action, vitrage_datasource_name="cinder.volume",
                 vitrage_entity_type="cinder.volume")
        return e

    def op_vol(self):
        r = self.r
        c = r.random()
        vid = self.pick(self.vols)
        if vid is None or c < 0.2:
            vid = "vol-%d" % self.n_vol
            self.n_vol += 1
            if r.random() < 0.3:
                dead = [k for k, v in self.vols.items() if not v["alive"]]
                if dead:
                    vid = r.choice(sorted(dead))
            self.vols[vid] = dict(name=vid, status="available", att=[], alive=True)
            self.emit(self.vol_event(vid, "update", "volume.create.end"))
        elif c < 0.45:
            inst = self.pick(self.vms) or "inst-99"
            v = self.vols[vid]
            v["att"] = sorted(set(v["att"]) | {inst})
            v["status"] = "in-use"
            self.emit(self.vol_event(vid, "update", "volume.attach.end", att=[inst]))
        elif c < 0.65 and self.vols[vid]["att"]:
            v = self.vols[vid]
            inst = r.choice(v["att"])
            v["att"] = [a for a in v["att"] if a != inst]
            v["status"] = "detaching"
            self.emit(self.vol_event(vid, "update", "volume.detach.start", att=[inst]))
        elif c < 0.8:
            self.vols[vid]["alive"] = False
            self.vols[vid]["status"] = "deleted"
            self.emit(self.vol_event(vid, "update", "volume.delete.end"))
        else:
            self.snapshot("cinder.volume")

    # ---------------------------------------------------------- zabbix
    def zbx_event(self, key, action):
        res, tid = key
        z = self.trig[key]
        e = {"triggerid": tid, "resource_name": res, "resource_type": z["rtype"],
             "zabbix_resource_name": "zbx-" + res,
             "description": "CPU high on zbx-" + res, "value": z["value"],
             "priority": z["priority"], "rawtext": "CPU high on {HOST.NAME}",
             "lastchange": str(1714557600 + self.t) if self.r.random() < 0.5
             else at(self.t).strftime("%Y.%m.%d %H:%M:%S"),
             "vitrage_datasource_action": action, "vitrage_datasource_name": "zabbix",
             "vitrage_entity_type": "zabbix"}
        if action == "update":
            e["vitrage_event_type"] = "zabbix.alarm.ok" if z["value"] == "0" \
                else "zabbix.alarm.problem"
        return e

    def op_zbx(self):
        r = self.r
        c = r.random()
        if c < 0.5 or not self.trig:
            if r.random() < 0.6 or not self.vms:
                res, rtype = self.r.choice(sorted(self.hosts)), "nova.host"
            else:
                res, rtype = self.pick(self.vms, alive=False), "nova.instance"
            key = (res, str(13000 + r.randint(0, 3)))
            self.trig[key] = dict(value="1", priority=str(r.randint(0, 5)), rtype=rtype)
            self.emit(self.zbx_event(key, "update"))
        elif c < 0.8:
            key = r.choice(sorted(self.trig))
            self.trig[key]["value"] = "0"
            self.emit(self.zbx_event(key, "update"))
        else:
            self.snapshot("zabbix")

    # ---------------------------------------------------------- static
    def op_static(self):
        r = self.r
        t = templates()[("static", True)]
        if r.random() < 0.7:
            e = copy.deepcopy(t)
            e["vitrage_datasource_action"] = "snapshot"
            self.emit(e)
        else:
            e = {"id": "switch-2", "metadata": {"name": "tor-2", "state": r.choice(
                ["error", "available"])}, "name": "tor-2", "relationships": [],
                "state": "error", "static_id": "s2", "type": "switch",
                "vitrage_datasource_action": "update", "vitrage_datasource_name": "static",
                "vitrage_entity_type": "static"}
            if r.random() < 0.3:
                e["vitrage_event_type"] = "delete_entity"
            self.emit(e)

    # ------------------------------------------------------- snapshots
    def snapshot(self, ds, action="snapshot"):
        start = self.t
        if ds == "nova.instance":
            for vid in sorted(self.vms):
                if self.vms[vid]["alive"]:
                    self.emit(self.vm_snapshot(vid, action))
        elif ds == "nova.host":
            for h in sorted(self.hosts):
                self.emit(self.host_event(h, action))
        elif ds == "nova.zone":
            for z in sorted(self.zones):
                self.emit(self.zone_event(z, action))
        elif ds == "neutron.network":
            for n in sorted(self.nets):
                if self.nets[n]["alive"]:
                    self.emit(self.net_event(n, action))
        elif ds == "neutron.port":
            for p in sorted(self.ports):
                if self.ports[p]["alive"]:
                    self.emit(self.port_event(p, action))
        elif ds == "cinder.volume":
            for v in sorted(self.vols):
                if self.vols[v]["alive"]:
                    self.emit(self.vol_event(v, action))
        elif ds == "zabbix":
            for k in sorted(self.trig):
                self.emit(self.zbx_event(k, action))
        # DriverExec.get_all: the datasource's vertices older than the start.
        if ds not in ("nova.zone", "zabbix"):
            self.out.append({"_pass": "outdated", "datasource": ds,
                             "start": start, "now": self.t})

    def op_stale(self):
        # An old event again, or a fresh one dated behind the clock.
        olds = [e for e in self.out if "_pass" not in e]
        if not olds:
            return
        e = copy.deepcopy(self.r.choice(olds[-30:]))
        if self.r.random() < 0.5:
            self.out.append(e)   # keeps its old sample date
        else:
            e["vitrage_sample_date"] = fmt(max(0, self.t - self.r.randint(1, 60)))
            self.out.append(e)


def generate(seed, length=None):
    r = random.Random(seed)
    legacy_r = random.Random("legacy-%d" % seed)
    mode = legacy_r.random()
    c = Cloud(r, legacy_r, 0.0 if mode < 0.6 else 1.0 if mode < 0.8 else 0.5)
    length = length or r.randint(20, 90)
    # Start-up get_all in a random type order: placeholders, then filled.
    kinds = ["nova.host", "nova.instance", "nova.zone", "neutron.network",
             "neutron.port", "cinder.volume"]
    for _ in range(r.randint(2, 5)):
        c.vms["inst-%d" % c.n_vm] = dict(name="vm-%d" % c.n_vm, host=c.some_host(),
                                         state="ACTIVE", alive=True, tenant="t-a")
        c.n_vm += 1
    for _ in range(r.randint(0, 2)):
        c.nets["net-%d" % c.n_net] = dict(name="net-%d" % c.n_net, status="ACTIVE",
                                          alive=True)
        c.n_net += 1
    r.shuffle(kinds)
    for k in kinds[:r.randint(0, len(kinds))]:
        c.snapshot(k, "init_snapshot")
        c.out = [e for e in c.out if "_pass" not in e]
        c.tick(1, 2)
    ops = [(c.op_vm, 5), (c.op_net, 2), (c.op_port, 3), (c.op_vol, 3), (c.op_zbx, 3),
           (c.op_static, 1), (c.op_stale, 2),
           (lambda: c.snapshot(r.choice(["nova.host", "nova.zone"])), 1),
           (lambda: c.out.append({"_pass": "consistency", "now": c.t}), 1),
           (lambda: c.tick(60, 1300), 1)]
    total = sum(w for _, w in ops)
    while len(c.out) < length:
        x = r.uniform(0, total)
        for f, w in ops:
            x -= w
            if x <= 0:
                f()
                break
        c.tick()
    return c.out
