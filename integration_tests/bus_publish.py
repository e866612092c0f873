#!/usr/bin/python3
"""Publishes OpenStack notifications on a RabbitMQ with the real
oslo_messaging.Notifier (python3-oslo.messaging), as nova does, for
bus_intake_test and bench/bus.

  bus_publish.py --url URL nova --count N [--first K] [--topic T]
      N versioned nova instance.create.end notifications for instances
      bus-vm-K .. bus-vm-(K+N-1) on host bus-host-(i % 4), priority INFO.
      Prints "published N in S s" once every message is confirmed.
  bus_publish.py --url URL raw --body TEXT [--topic T] [--priority P]
      One message whose AMQP body is TEXT as is (bad input: what a
      broken publisher could send), through kombu, as oslo's driver.

--durable: amqp_durable_queues = true (the queues must match the graph's).
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
    conf(["--config-file", path], project="bus_publish")
    os.unlink(path)
    return conf


def nova(args):
    import oslo_messaging
    conf = make_conf(args)
    transport = oslo_messaging.get_notification_transport(conf, url=args.url)
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
    transport.cleanup()


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
    r = sub.add_parser("raw")
    r.add_argument("--body", required=True)
    r.add_argument("--topic", default="vitrage_notifications")
    r.add_argument("--priority", default="info")
    args = p.parse_args()
    {"nova": nova, "raw": raw}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
