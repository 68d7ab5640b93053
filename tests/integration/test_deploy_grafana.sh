#!/usr/bin/env bash
# test_deploy_grafana.sh - the provisioned Grafana dashboard parses, and
# every measurement, field and tag its Flux queries name is one the bridge
# really writes. The names are not copied from docs/contract.md: a real
# sensor-publisher (sim driver) publishes to a real Mosquitto, and the real
# sensor-bridge prints the line protocol it would send (OUTPUTS=stdout);
# measurement, tag keys and field names are parsed from those lines.
# A dashboard with a misspelt field or tag must be rejected.
. "$(dirname "$0")/lib.sh"
. "$SW_ROOT/tests/deploy/setup.sh"
deploy_npm
cd "$SW_ROOT"
{ [ -x "$BRIDGE" ] && [ -x "$PUBLISHER" ]; } || fail "build the daemons first ($BRIDGE, $PUBLISHER)"

port=$(free_port)
start_mosquitto "$port"
MQTT_URL=tcp://127.0.0.1:$port MQTT_CLIENT_ID=deploy-test-bridge OUTPUTS=stdout \
  BATCH_MAX_DELAY_MS=100 "$BRIDGE" >"$T/lp.txt" 2>"$T/bridge.log" &
bridge=$!
track $bridge
sleep 0.5
MQTT_URL=tcp://127.0.0.1:$port NODE_NAME=rp3 SENSORS="desk=sim" TAGS=location=desk \
  INTERVAL_MS=200 OUTBOX_DIR="$T/outbox" "$PUBLISHER" >"$T/publisher.out" 2>"$T/publisher.log" &
publisher=$!
track $publisher
wait_for 15 grep -q . "$T/lp.txt" || fail "the bridge printed no line protocol"
stop_pid $publisher || true
stop_pid $bridge || true
note "bridge output: $(head -n1 "$T/lp.txt")"

dash=compose/storage/grafana/dashboards/sensorwire.json
ds=compose/storage/grafana/provisioning/datasources/influxdb.yaml
validate dashboard "$dash" --lp "$T/lp.txt" --datasource "$ds"

# --- negative self-checks --------------------------------------------------
sed 's/humidity_percent/humidity_pct/' "$dash" >"$T/bad1.json"
must_reject 'field "humidity_pct" is not one the bridge writes' dashboard "$T/bad1.json" --lp "$T/lp.txt"
sed 's/\\"node\\", \\"sensor\\"/\\"host\\", \\"sensor\\"/' "$dash" >"$T/bad2.json"
cmp -s "$dash" "$T/bad2.json" && fail "self-check: the sed did not change the dashboard"
must_reject 'column "host" is neither a tag' dashboard "$T/bad2.json" --lp "$T/lp.txt"
sed 's/r._measurement == \\"sensor\\"/r._measurement == \\"sensors\\"/' "$dash" >"$T/bad3.json"
must_reject 'measurement "sensors" is not what the bridge writes' dashboard "$T/bad3.json" --lp "$T/lp.txt"
head -c 200 "$dash" >"$T/bad4.json"
must_reject 'JSON' dashboard "$T/bad4.json" --lp "$T/lp.txt"
sed 's/sensorwire-influxdb/other-uid/' "$ds" >"$T/bad-ds.yaml"
must_reject 'provisioned is "other-uid"' dashboard "$dash" --lp "$T/lp.txt" --datasource "$T/bad-ds.yaml"
