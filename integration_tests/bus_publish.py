#!/usr/bin/python3
"""Publishes OpenStack notifications on a RabbitMQ with the real
oslo_messaging.Notifier (python3-oslo.messaging), as nova does, for
bus_intake_test and bench/bus.

  bus_publish.py --url URL nova --count N [--first K] [--topic T]
      N versioned nova instance.create.end notifications for instances
      bus-vm-K .. bus-vm-(K+N-1) on host bus-host-(i % 4), priority INFO.
      Prints "published N in S s" once every message is confirmed, and
      "failed F" as mix does (exit 1 if F > 0).
  bus_publish.py --url URL mix --count N [--first K] [--rate R] [--stop-file F]
      What nova, cinder, neutron and Zabbix send, in turn (i % 5): nova
      instance.create.end bus-vm-i on bus-host-(i % 4); cinder
      volume.create.end bus-vol-i; neutron network.create.end bus-net-i;
      neutron port.create.end bus-port-i (a compute port); Zabbix
      zabbix.alarm.problem bus-alarm-i on nova.host bus-host-(i % 4). One
      event each. At most R a second (0: as fast as it can); stops early,
      cleanly, once F exists. Prints "published N in S s" (N: every
      notify() that returned; the notifier retries a lost broker, see
      "retry" below, with publisher confirms) and "failed F"
      (notifications oslo logged as not sent: exit 1).
  bus_publish.py --url URL messages --file JSONL
      Each line's "message" (event_type, publisher_id, priority, payload:
      testdata/notifications/ layout) through the Notifier, in order.
  bus_publish.py --url URL raw --body TEXT [--topic T] [--priority P]
      One message whose AMQP body is TEXT as is (bad input: what a
      broken publisher could send), through kombu, as oslo's driver.

--durable: amqp_durable_queues = true (the queues must match the graph's).

retry: oslo.messaging 14's default ([oslo_messaging_notifications] retry =
-1, "forever") reaches kombu's ensure_connection as max_retries=-1, which
kombu reads as "no retry": a notify() that needs a new connection while the
broker is down logs "Could not send notification" and drops it. The
publisher sets retry to 1000000 (at rabbit_interval_max, weeks), which
kombu does retry. docs/bus.md ("What is promised") tells operators the same.
"""
import argparse
import os
import sys
import tempfile
import time
import uuid


def make_conf(args):
    from oslo_config import cfg
    conf = cfg.ConfigOpts()
    fd, path = tempfile.mkstemp(suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("[DEFAULT]\ntransport_url = %s\ncontrol_exchange = %s\n" % (args.url, args.exchange))
        f.write("[oslo_messaging_rabbit]\namqp_durable_queues = %s\n" %
                ("true" if args.durable else "false"))
        f.write("[oslo_messaging_notifications]\nretry = 1000000\n")
    conf(["--config-file", path], project="bus_publish")
    os.unlink(path)
    return conf


def nova(args):
    import oslo_messaging
    failures = _FailureCounter()
    transport = _transport(args)
    notifier = oslo_messaging.Notifier(transport, driver="messagingv2",
                                       publisher_id="nova-compute:bus-host",
                                       topics=[args.topic])
    start = time.time()
    for i in range(args.first, args.first + args.count):
        payload = {
            "nova_object.name": "InstanceCreatePayload",
            "nova_object.namespace": "nova",
            "nova_object.version": "1.10",
            "nova_object.data": {
                "uuid": "bus-vm-%d" % i,
                "host_name": "bus-vm-%d" % i,
                "display_name": "bus-vm-%d" % i,
                "state": "active",
                "host": "bus-host-%d" % (i % 4),
                "tenant_id": "bus-project",
                "instance_name": "instance-%08x" % i,
            },
        }
        notifier.info({}, "instance.create.end", payload)
    print("published %d in %.3f s" % (args.count, time.time() - start), flush=True)
    print("failed %d" % failures.failed, flush=True)
    transport.cleanup()
    return 1 if failures.failed else 0


class _FailureCounter(object):
    """Counts what oslo's notifier logs as not sent (it logs, never raises):
    oslo_messaging.notify.messaging's "Could not send notification", and
    any other error of the oslo_messaging.notify loggers."""

    def __init__(self):
        import logging
        self.failed = 0
        counter = self

        class Handler(logging.Handler):
            def emit(self, record):
                if record.levelno >= logging.ERROR:
                    counter.failed += 1
                    sys.stderr.write("oslo: %s\n" % record.getMessage())

        logging.getLogger("oslo_messaging.notify").addHandler(Handler())


def _transport(args):
    import oslo_messaging
    conf = make_conf(args)
    return oslo_messaging.get_notification_transport(conf, url=args.url)


def mix_notification(i):
    """(publisher_id, event_type, payload) of the i-th mix notification."""
    host = "bus-host-%d" % (i % 4)
    kind = i % 5
    if kind == 0:
        return ("nova-compute:%s" % host, "instance.create.end", {
            "nova_object.name": "InstanceCreatePayload",
            "nova_object.namespace": "nova",
            "nova_object.version": "1.10",
            "nova_object.data": {
                "uuid": "bus-vm-%d" % i, "host_name": "bus-vm-%d" % i,
                "display_name": "bus-vm-%d" % i, "state": "active", "host": host,
                "tenant_id": "bus-project", "instance_name": "instance-%08x" % i}})
    if kind == 1:
        return ("volume.%s@lvm" % host, "volume.create.end", {
            "display_name": "bus-vol-%d" % i, "size": 1, "status": "available",
            "tenant_id": "bus-project", "updated_at": "2024-05-01T10:00:50Z",
            "volume_attachment": [], "volume_id": "bus-vol-%d" % i,
            "volume_type": "SCSIID"})
    if kind == 2:
        return ("network.controller", "network.create.end", {"network": {
            "admin_state_up": True, "id": "bus-net-%d" % i, "name": "bus-net-%d" % i,
            "project_id": "bus-project", "tenant_id": "bus-project", "shared": False,
            "status": "ACTIVE", "subnets": [], "router:external": False, "mtu": 1450,
            "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:00:00Z"}})
    if kind == 3:
        return ("network.controller", "port.create.end", {"port": {
            "admin_state_up": True, "binding:host_id": host, "id": "bus-port-%d" % i,
            "device_id": "bus-vm-%d" % (i - 3), "device_owner": "compute:nova",
            "network_id": "bus-net-%d" % (i - 1), "name": "",
            "fixed_ips": [{"ip_address": "10.9.%d.%d" % (i // 250 % 250, i % 250),
                           "subnet_id": "bus-subnet"}],
            "mac_address": "fa:16:3e:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255),
            "project_id": "bus-project", "tenant_id": "bus-project", "status": "ACTIVE",
            "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:00:00Z"}})
    return ("zabbix_bus", "zabbix.alarm.problem", {
        "description": "bus-alarm-%d" % i, "rawtext": "bus-alarm-%d" % i,
        "expression": "{%s:system.cpu.load.avg(5m)}>5" % host, "host": host,
        "hostid": "1%04d" % (i % 4), "hostip": "192.0.2.%d" % (i % 4 + 1),
        "lastchange": "2024.05.01 10:02:10", "priority": "4",
        "triggerid": "bus-trigger-%d" % i, "value": "1",
        "resource_name": host, "resource_type": "nova.host"})


def mix(args):
    import oslo_messaging
    failures = _FailureCounter()
    transport = _transport(args)
    notifier = oslo_messaging.Notifier(transport, driver="messagingv2",
                                       publisher_id="bus", topics=[args.topic])
    by_publisher = {}
    start = time.time()
    sent = 0
    for i in range(args.first, args.first + args.count):
        if args.stop_file and os.path.exists(args.stop_file):
            break
        if args.rate > 0:
            due = start + sent / args.rate
            if due > time.time():
                time.sleep(due - time.time())
        publisher, event_type, payload = mix_notification(i)
        n = by_publisher.get(publisher)
        if n is None:
            n = by_publisher[publisher] = notifier.prepare(publisher_id=publisher)
        n.info({}, event_type, payload)
        sent += 1
    print("published %d in %.3f s" % (sent, time.time() - start), flush=True)
    print("failed %d" % failures.failed, flush=True)
    transport.cleanup()
    return 1 if failures.failed else 0


def messages(args):
    import json
    import oslo_messaging
    failures = _FailureCounter()
    transport = _transport(args)
    notifier = oslo_messaging.Notifier(transport, driver="messagingv2",
                                       publisher_id="bus", topics=[args.topic])
    sent = 0
    with open(args.file) as f:
        for line in f:
            if not line.strip():
                continue
            m = json.loads(line)["message"]
            n = notifier.prepare(publisher_id=m["publisher_id"])
            getattr(n, m["priority"].lower())({}, m["event_type"], m["payload"])
            sent += 1
    print("published %d" % sent, flush=True)
    print("failed %d" % failures.failed, flush=True)
    transport.cleanup()
    return 1 if failures.failed else 0


def raw(args):
    import kombu
    conn = kombu.Connection(args.url.replace("rabbit://", "amqp://", 1),
                            transport_options={"confirm_publish": True})
    exchange = kombu.Exchange(args.exchange, type="topic", durable=args.durable)
    key = "%s.%s" % (args.topic, args.priority)
    queue = kombu.Queue(key, exchange=exchange, routing_key=key, durable=args.durable)
    with conn:
        producer = conn.Producer()
        queue.maybe_bind(conn)
        queue.declare()
        producer.publish(args.body, exchange=exchange, routing_key=key,
                         content_type="application/json", content_encoding="utf-8",
                         serializer=None, delivery_mode=2,
                         message_id=str(uuid.uuid4()))
    print("published 1 raw", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--exchange", default="vitrage")
    p.add_argument("--durable", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)
    n = sub.add_parser("nova")
    n.add_argument("--count", type=int, default=1)
    n.add_argument("--first", type=int, default=0)
    n.add_argument("--topic", default="vitrage_notifications")
    x = sub.add_parser("mix")
    x.add_argument("--count", type=int, default=1)
    x.add_argument("--first", type=int, default=0)
    x.add_argument("--rate", type=float, default=0)
    x.add_argument("--stop-file", default="")
    x.add_argument("--topic", default="vitrage_notifications")
    m = sub.add_parser("messages")
    m.add_argument("--file", required=True)
    m.add_argument("--topic", default="vitrage_notifications")
    r = sub.add_parser("raw")
    r.add_argument("--body", required=True)
    r.add_argument("--topic", default="vitrage_notifications")
    r.add_argument("--priority", default="info")
    args = p.parse_args()
    return {"nova": nova, "mix": mix, "messages": messages, "raw": raw}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
