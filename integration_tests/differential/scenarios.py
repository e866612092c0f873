"""Hand-made regression scenarios for issue #25's behaviours.

`differential.py --scenarios --save testdata/differential` writes each with
upstream's graph (corpus layout); conformance_test runs them.
"""
import gen


def _cloud(seed=0):
    c = gen.Cloud(gen.random.Random(seed))
    return c


def zabbix_resource_id():
    c = _cloud()
    c.snapshot("nova.host", "init_snapshot")
    c.tick(5, 5)
    c.trig[("host-0", "13001")] = dict(value="1", priority="4", rtype="nova.host")
    c.emit(c.zbx_event(("host-0", "13001"), "update"))
    return [e for e in c.out if "_pass" not in e]


def placeholder_keeps_its_props():
    # vm-0 on never-seen host-8 (placeholder at 10:00:10), then alarms on
    # host-8 later: upstream adds only missing keys to the placeholder, so
    # its sample timestamp stays the instance's.
    c = _cloud()
    c.t = 10
    c.vms["inst-0"] = dict(name="vm-0", host="host-8", state="ACTIVE", alive=True,
                           tenant="t-a")
    c.emit(c.vm_notification("inst-0", "instance.create.end"))
    for i, t in enumerate((30, 50)):
        c.t = t
        c.trig[("host-8", "1300%d" % i)] = dict(value="1", priority="3", rtype="nova.host")
        c.emit(c.zbx_event(("host-8", "1300%d" % i), "update"))
    return c.out


def attach_detach_delete():
    # A volume attached to an instance, detached, re-attached; the instance
    # deleted; the volume deleted and re-created; snapshots in between.
    c = _cloud()
    c.t = 10
    c.vms["inst-0"] = dict(name="vm-0", host="host-0", state="ACTIVE", alive=True,
                           tenant="t-a")
    c.emit(c.vm_notification("inst-0", "instance.create.end"))
    c.vols["vol-0"] = dict(name="vol-0", status="available", att=[], alive=True)
    c.t = 20
    c.emit(c.vol_event("vol-0", "update", "volume.create.end"))
    c.t = 30
    c.vols["vol-0"].update(att=["inst-0"], status="in-use")
    c.emit(c.vol_event("vol-0", "update", "volume.attach.end", att=["inst-0"]))
    c.t = 40
    c.vols["vol-0"].update(att=[], status="detaching")
    c.emit(c.vol_event("vol-0", "update", "volume.detach.start", att=["inst-0"]))
    c.t = 50
    c.snapshot("cinder.volume")
    c.t = 60
    c.vols["vol-0"].update(att=["inst-0"], status="in-use")
    c.emit(c.vol_event("vol-0", "update", "volume.attach.end", att=["inst-0"]))
    c.t = 70
    c.vms["inst-0"]["alive"] = False
    c.emit(c.vm_notification("inst-0", "instance.delete.end"))
    c.t = 80
    c.vols["vol-0"].update(alive=False, status="deleted")
    c.emit(c.vol_event("vol-0", "update", "volume.delete.end"))
    c.t = 90
    c.vols["vol-0"] = dict(name="vol-0", status="available", att=[], alive=True)
    c.emit(c.vol_event("vol-0", "update", "volume.create.end"))
    c.t = 100
    c.vols["vol-0"].update(att=["inst-0"], status="in-use")
    c.emit(c.vol_event("vol-0", "update", "volume.attach.end", att=["inst-0"]))
    c.t = 200
    c.snapshot("cinder.volume")
    c.out.append({"_pass": "consistency", "now": 1400})
    return c.out


def zabbix_clear_reraise():
    c = _cloud()
    c.snapshot("nova.host", "init_snapshot")
    key = ("host-1", "13002")
    for t, v, action in ((10, "1", "update"), (20, "0", "update"), (30, "0", "snapshot"),
                         (40, "1", "update"), (50, "1", "snapshot")):
        c.t = t
        c.trig[key] = dict(value=v, priority="5", rtype="nova.host")
        c.emit(c.zbx_event(key, action))
    c.out = [e for e in c.out if "_pass" not in e]
    c.out.append({"_pass": "consistency", "now": 200})
    return c.out


SCENARIOS = {
    "r25_zabbix_resource_id": (
        "issue 25: a Zabbix alarm vertex has resource_id (the resource name)",
        zabbix_resource_id()),
    "r25_placeholder_keeps_its_props": (
        "issue 25: a placeholder neighbour adds only missing keys to an existing "
        "placeholder (its sample timestamp stays)", placeholder_keeps_its_props()),
    "r25_attach_detach_delete": (
        "issue 25: attach, detach, re-attach, instance delete, volume delete and "
        "re-create: deleted attached edges kept, the re-created volume's datasource name",
        attach_detach_delete()),
    "r25_zabbix_clear_reraise": (
        "issue 25: Zabbix clear, OK re-sent by a snapshot (an id minted for a "
        "dropped event), re-raise: key#3", zabbix_clear_reraise()),
}
