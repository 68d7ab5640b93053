#!/usr/bin/python3
# ha_check.py - checks the Home Assistant discovery messages a broker holds
# against the rules of HA's MQTT discovery documentation, and against real
# readings. Run with Debian's python3 (python3-paho-mqtt):
#   /usr/bin/python3 ha_check.py --port P --node N [--expect N] [--absent TOPIC]...
#
# Sources: https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery
# (topic format, retained configs, unique_id with device, device identifiers,
# availability, the birth message) and
# https://www.home-assistant.io/integrations/sensor.mqtt/ (the sensor keys) and
# https://www.home-assistant.io/integrations/sensor/#device-class (units per
# device class). The rules, each one a failure of its own:
#   T1 topic <prefix>/<component>/[<node_id>/]<object_id>/config, ids of
#      [a-zA-Z0-9_-], component "sensor"
#   T2 the message is retained
#   P1 the payload is one JSON object, every key one the MQTT sensor knows
#   P2 state_topic: required for a sensor, a string without wildcards
#   P3 unique_id: a non-empty string, required because device is given;
#      unique across all messages checked
#   P4 device: an object with identifiers, a non-empty list of non-empty
#      strings (or a string); name, model, manufacturer, sw_version strings
#   P5 types: name, value_template, unit_of_measurement, availability_topic,
#      payload_* strings; expire_after an integer > 0 (not a boolean);
#      state_class one of measurement, total, total_increasing
#   P6 device_class a sensor device class, and unit_of_measurement one that
#      class accepts; the unit matches the field's unit suffix
#   P7 value_template is {{ value_json.KEY }}: rendered on a real reading
#      from state_topic (received from the broker now) it gives a number
#   P8 availability_topic holds (retained) payload_available, "online"
#   P9 origin, if given, has a name
# --absent TOPIC: the broker holds no retained message there (a cleared config).
import argparse
import json
import re
import sys
import time

import paho.mqtt.client as mqtt

SENSOR_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic",
    "device", "device_class", "enabled_by_default", "encoding", "entity_category",
    "entity_picture", "expire_after", "force_update", "icon", "json_attributes_template",
    "json_attributes_topic", "last_reset_value_template", "name", "object_id", "options",
    "origin", "payload_available", "payload_not_available", "platform",
    "suggested_display_precision", "qos", "state_class", "state_topic", "unique_id",
    "unit_of_measurement", "value_template", "default_entity_id",
}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer",
               "model", "model_id", "name", "serial_number", "suggested_area", "sw_version",
               "via_device"}
UNITS = {
    "temperature": {"°C", "°F", "K"},
    "humidity": {"%"},
    "pressure": {"cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"},
    "atmospheric_pressure": {"cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"},
}
SUFFIX_UNIT = {"_celsius": "°C", "_percent": "%", "_hectopascals": "hPa"}
ID = r"[a-zA-Z0-9_-]+"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ha-prefix", default="homeassistant")
    ap.add_argument("--node", required=True, help="only configs whose device is this node")
    ap.add_argument("--expect", type=int, help="exactly this many configs of the node")
    ap.add_argument("--absent", action="append", default=[])
    ap.add_argument("--min-expire", type=int, default=60)
    ap.add_argument("--wait", type=float, default=8.0, help="seconds to wait for readings")
    a = ap.parse_args()

    msgs = {}          # topic -> (payload bytes, retained)
    readings = {}      # state topic -> first reading (dict)
    want_states = set()

    def on_message(c, u, m):
        if m.topic.startswith(a.ha_prefix + "/"):
            if m.retain:
                msgs.setdefault(m.topic, (m.payload, m.retain))
            return
        if m.topic in want_states and m.topic not in readings and not m.retain:
            try:
                readings[m.topic] = json.loads(m.payload)
            except ValueError:
                readings[m.topic] = None
        if m.retain:
            retained[m.topic] = m.payload.decode("utf-8", "replace")

    retained = {}
    c = mqtt.Client(client_id="ha-check-%d" % time.time_ns(), clean_session=True)
    c.on_message = on_message
    c.connect(a.host, a.port, 30)
    c.subscribe(a.ha_prefix + "/#", 0)
    c.loop_start()
    time.sleep(1.0)     # retained messages arrive right after the SUBACK

    fails = []

    def fail(topic, rule, why):
        fails.append("%s: %s: %s" % (topic, rule, why))

    node_cfgs = {}
    topic_re = re.compile("^" + re.escape(a.ha_prefix) + r"/(\w+)/(?:(" + ID + r")/)?(" + ID +
                          r")/config$")
    for topic, (payload, retain) in sorted(msgs.items()):
        if not topic.endswith("/config"):
            continue
        try:
            cfg = json.loads(payload.decode("utf-8"))
        except ValueError as e:
            fail(topic, "P1", "not JSON: %s" % e)
            continue
        dev = cfg.get("device") if isinstance(cfg, dict) else None
        ids = dev.get("identifiers") if isinstance(dev, dict) else None
        ids = [ids] if isinstance(ids, str) else ids
        if not (isinstance(ids, list) and "sensorwire:" + a.node in ids):
            continue    # another node's or another program's
        node_cfgs[topic] = cfg
        m = topic_re.match(topic)
        if not m:
            fail(topic, "T1", "topic does not match <prefix>/<component>/[<node_id>/]<object_id>/config")
        elif m.group(1) != "sensor":
            fail(topic, "T1", "component %r is not sensor" % m.group(1))
        if not retain:
            fail(topic, "T2", "not retained")
    for topic, cfg in node_cfgs.items():
        if not isinstance(cfg, dict):
            fail(topic, "P1", "not an object")
            continue
        extra = set(cfg) - SENSOR_KEYS
        if extra:
            fail(topic, "P1", "keys an MQTT sensor does not know: %s" % sorted(extra))
        st = cfg.get("state_topic")
        if not isinstance(st, str) or not st or "+" in st or "#" in st:
            fail(topic, "P2", "state_topic %r" % (st,))
        else:
            want_states.add(st)
        dev = cfg.get("device")
        if not isinstance(cfg.get("unique_id"), str) or not cfg["unique_id"]:
            fail(topic, "P3", "unique_id missing or not a string, but device is given")
        if not isinstance(dev, dict):
            fail(topic, "P4", "device is not an object")
        else:
            ids = dev.get("identifiers")
            if isinstance(ids, str):
                ids = [ids]
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
                fail(topic, "P4", "device.identifiers %r" % (ids,))
            if set(dev) - DEVICE_KEYS:
                fail(topic, "P4", "unknown device keys %s" % sorted(set(dev) - DEVICE_KEYS))
            for k in ("name", "model", "manufacturer", "sw_version"):
                if k in dev and not isinstance(dev[k], str):
                    fail(topic, "P4", "device.%s is not a string" % k)
            if dev.get("name") != a.node:
                fail(topic, "P4", "device.name %r is not the node" % dev.get("name"))
        for k in ("name", "value_template", "unit_of_measurement", "availability_topic",
                  "payload_available", "payload_not_available", "device_class"):
            if k in cfg and not isinstance(cfg[k], str):
                fail(topic, "P5", "%s is not a string" % k)
        ea = cfg.get("expire_after")
        if ea is not None and (isinstance(ea, bool) or not isinstance(ea, int) or ea <= 0):
            fail(topic, "P5", "expire_after %r" % (ea,))
        if ea is None or (isinstance(ea, int) and ea < a.min_expire):
            fail(topic, "P5", "expire_after %r, expected at least %d" % (ea, a.min_expire))
        if cfg.get("state_class") not in ("measurement", "total", "total_increasing"):
            fail(topic, "P5", "state_class %r" % (cfg.get("state_class"),))
        dc, unit = cfg.get("device_class"), cfg.get("unit_of_measurement")
        vt = cfg.get("value_template", "")
        km = re.fullmatch(r"\{\{\s*value_json\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", vt or "")
        key = km.group(1) if km else None
        if not km:
            fail(topic, "P7", "value_template %r is not {{ value_json.KEY }}" % (vt,))
        if dc is not None and dc not in UNITS:
            fail(topic, "P6", "device_class %r is not one we know valid" % dc)
        elif dc is not None and unit not in UNITS[dc]:
            fail(topic, "P6", "unit %r is not valid for device_class %s" % (unit, dc))
        if key:
            for suf, u in SUFFIX_UNIT.items():
                if key.endswith(suf) and unit != u:
                    fail(topic, "P6", "field %s is in %s, the config says %r" % (key, u, unit))
        o = cfg.get("origin")
        if o is not None and not (isinstance(o, dict) and isinstance(o.get("name"), str)):
            fail(topic, "P9", "origin %r" % (o,))
    uids = [c.get("unique_id") for c in node_cfgs.values() if isinstance(c, dict)]
    for u in set(uids):
        if uids.count(u) > 1:
            fail("*", "P3", "unique_id %r used %d times" % (u, uids.count(u)))

    # real readings and the availability topic
    for st in want_states:
        c.subscribe(st, 0)
    avail = {cfg.get("availability_topic") for cfg in node_cfgs.values()
             if isinstance(cfg, dict) and isinstance(cfg.get("availability_topic"), str)}
    for t in avail:
        c.subscribe(t, 0)
    for t in a.absent:
        c.subscribe(t, 0)
    deadline = time.time() + a.wait
    while time.time() < deadline and not want_states <= set(readings):
        time.sleep(0.1)
    time.sleep(0.5)
    for topic, cfg in node_cfgs.items():
        if not isinstance(cfg, dict):
            continue
        st = cfg.get("state_topic")
        km = re.fullmatch(r"\{\{\s*value_json\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}",
                          cfg.get("value_template") or "")
        r = readings.get(st)
        if km and st in want_states:
            if r is None:
                fail(topic, "P7", "no reading arrived on %s within %.0f s" % (st, a.wait))
            elif not isinstance(r, dict) or km.group(1) not in r:
                fail(topic, "P7", "value_json.%s is undefined in the reading %r" % (km.group(1), r))
            else:
                rendered = str(r[km.group(1)])
                try:
                    float(rendered)
                except ValueError:
                    fail(topic, "P7", "renders %r, not a number" % rendered)
                if isinstance(r[km.group(1)], bool):
                    fail(topic, "P7", "renders a boolean")
        at = cfg.get("availability_topic")
        pa = cfg.get("payload_available", "online")
        pn = cfg.get("payload_not_available", "offline")
        if not at:
            fail(topic, "P8", "no availability_topic")
        elif retained.get(at) != pa or pa != "online" or pn != "offline":
            fail(topic, "P8", "availability %s holds %r, payload_available %r / not %r" %
                 (at, retained.get(at), pa, pn))
    for t in a.absent:
        if t in msgs or t in retained:
            fail(t, "absent", "still holds a retained message")
    if a.expect is not None and len(node_cfgs) != a.expect:
        fail("*", "count", "%d configs of node %s, expected %d: %s" %
             (len(node_cfgs), a.node, a.expect, sorted(node_cfgs)))
    c.loop_stop()
    c.disconnect()
    for t in sorted(node_cfgs):
        print("config %s %s" % (t, node_cfgs[t].get("unique_id")))
    for f in fails:
        print("FAIL " + f)
    print("# %d config(s) checked, %d reading(s), %d failure(s)" %
          (len(node_cfgs), len(readings), len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
