#!/usr/bin/python3
"""py_publisher.py - the yardstick for sensor-publisher's footprint in `make bench`.

What a careful Python programmer would write for the same job with Debian's
python3-paho-mqtt (1.6): the same settings (environment), topics, payload,
QoS, retained status with a Last Will, and the same interval, with simulated
readings (no hardware), paho's network thread (loop_start) and a monotonic
schedule. Not a product: no outbox, no config file, no drivers.

The schedule is sensor-publisher's (PY_SCHEDULE=spread, the default): sensor
i is read at i x interval / n within each interval, so both do the same work
at the same moments. PY_SCHEDULE=burst reads every sensor at the start of
the interval, one wake-up for all of them, which is what a simple loop does.

An ssl:// (or mqtts://) MQTT_URL connects over TLS, trusting MQTT_CA_FILE,
as sensor-publisher does: the bench compares each transport with its own.

  MQTT_URL=tcp://127.0.0.1:1883 NODE_NAME=n SENSORS="a=sim b=sim" \
  INTERVAL_MS=100 TAGS=location=desk /usr/bin/python3 bench/py_publisher.py
"""
import json
import math
import os
import random
import signal
import threading
import time

import paho.mqtt.client as mqtt


def settings():
    url = os.environ.get("MQTT_URL", "tcp://localhost:1883")
    scheme = url.split("://", 1)[0] if "://" in url else "tcp"
    tls = scheme in ("ssl", "mqtts")
    host_port = url.split("://", 1)[-1]
    host, _, port = host_port.partition(":")
    interval_ms = int(os.environ.get("INTERVAL_MS", "0") or 0)
    if interval_ms <= 0:
        interval_ms = int(os.environ.get("INTERVAL_S", "10")) * 1000
    sensors = [s.split("=", 1)[0] for s in os.environ.get("SENSORS", "").split()]
    tags = {}
    for kv in os.environ.get("TAGS", "").split(","):
        if "=" in kv:
            k, v = kv.split("=", 1)
            tags[k.strip()] = v.strip()
    return {
        "host": host or "localhost",
        "port": int(port or (8883 if tls else 1883)),
        "tls": tls,
        "ca_file": os.environ.get("MQTT_CA_FILE") or None,
        "node": os.environ.get("NODE_NAME") or os.uname().nodename,
        "prefix": os.environ.get("TOPIC_PREFIX", "sensors"),
        "qos": int(os.environ.get("MQTT_QOS", "1")),
        "interval": interval_ms / 1000.0,
        "sensors": sensors,
        "tags": dict(sorted(tags.items())),
    }


def simulate(name, now_ms):
    """Plausible readings, rounded to 0.1 like a DHT22 (cf. the sim driver)."""
    hour = (now_ms % 86400000) / 3600000.0
    phase = (hash(name) % 1000) / 1000.0 - 0.5
    dev = 3.0 * math.cos(2 * math.pi * (hour - 15 - phase) / 24) + random.uniform(-0.2, 0.2)
    temp = round(21.0 + dev, 1)
    hum = round(min(100.0, max(0.0, 50.0 - 2 * dev + random.uniform(-1.5, 1.5))), 1)
    return temp, hum


def main():
    cfg = settings()
    boot = "%016x" % random.getrandbits(64)
    status = "%s/%s/status" % (cfg["prefix"], cfg["node"])
    client = mqtt.Client(client_id="py-publisher-" + cfg["node"], clean_session=True)
    client.will_set(status, "offline", qos=1, retain=True)
    if cfg["tls"]:
        client.tls_set(ca_certs=cfg["ca_file"])

    def on_connect(c, userdata, flags, rc):
        if rc == 0:
            c.publish(status, "online", qos=1, retain=True)

    client.on_connect = on_connect
    client.connect_async(cfg["host"], cfg["port"], keepalive=30)
    client.loop_start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())

    seq = {name: 0 for name in cfg["sensors"]}
    topics = {name: "%s/%s/%s" % (cfg["prefix"], cfg["node"], name) for name in cfg["sensors"]}
    spread = os.environ.get("PY_SCHEDULE", "spread") != "burst"
    n = max(1, len(cfg["sensors"]))
    due = time.monotonic()
    while not stop.is_set():
        for i, name in enumerate(cfg["sensors"]):
            if spread and i > 0:
                stop.wait(max(0.0, due + i * cfg["interval"] / n - time.monotonic()))
                if stop.is_set():
                    break
            now_ms = int(time.time() * 1000)
            temp, hum = simulate(name, now_ms)
            seq[name] += 1
            reading = {"ts": now_ms, "seq": seq[name], "boot": boot,
                       "temperature_celsius": temp, "humidity_percent": hum}
            if cfg["tags"]:
                reading["tags"] = cfg["tags"]
            client.publish(topics[name], json.dumps(reading, separators=(",", ":")),
                           qos=cfg["qos"])
        due += cfg["interval"]
        stop.wait(max(0.0, due - time.monotonic()))

    client.publish(status, "offline", qos=1, retain=True).wait_for_publish(timeout=5)
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
