#!/usr/bin/env bash
# test_deploy_grafana.sh - the provisioned Grafana dashboard parses, and
# every measurement, field and tag its Flux queries name is one the bridge
# really writes. The names are not copied from docs/contract.md: a real
# sensor-publisher (sim driver) publishes to a real Mosquitto, and the real
# sensor-bridge prints the line protocol it would send (OUTPUTS=stdout);
# measurement, tag keys and field names are parsed from those lines.
# The read-reliability panel's fields come from the same lines: the
# publisher runs with STATS_INTERVAL_S=1, so its $stats is among them. The
# pipeline panel reads the bridge's own /metrics as Telegraf stores them
# (config/telegraf.conf's [[inputs.prometheus]], metric_version 2:
# measurement sensorwire_bridge, one field per metric, labels and url as
# tags): the real bridge's /metrics (HEALTH_PORT) turned into those lines.
# A dashboard with a misspelt field or tag must be rejected.
. "$(dirname "$0")/lib.sh"
. "$SW_ROOT/tests/deploy/setup.sh"
deploy_npm
cd "$SW_ROOT"
{ [ -x "$BRIDGE" ] && [ -x "$PUBLISHER" ]; } || fail "build the daemons first ($BRIDGE, $PUBLISHER)"

port=$(free_port)
hp=$(free_port)
start_mosquitto "$port"
MQTT_URL=tcp://127.0.0.1:$port MQTT_CLIENT_ID=deploy-test-bridge OUTPUTS=stdout \
  BATCH_MAX_DELAY_MS=100 HEALTH_PORT=$hp HEALTH_ADDR=127.0.0.1 "$BRIDGE" >"$T/lp.txt" 2>"$T/bridge.log" &
bridge=$!
track $bridge
sleep 0.5
MQTT_URL=tcp://127.0.0.1:$port NODE_NAME=rp3 SENSORS="desk=sim" TAGS=location=desk \
  INTERVAL_MS=200 STATS_INTERVAL_S=1 OUTBOX_DIR="$T/outbox" "$PUBLISHER" >"$T/publisher.out" 2>"$T/publisher.log" &
publisher=$!
track $publisher
wait_for 15 grep -q 'temperature_celsius=' "$T/lp.txt" || fail "the bridge printed no reading"
wait_for 15 grep -q ',reads_ok_total=.*,reads_total=' "$T/lp.txt" || fail "the bridge printed no \$stats read counters"
curl -sf "http://127.0.0.1:$hp/metrics" >"$T/metrics.txt" || fail "no /metrics from the bridge"
stop_pid $publisher || true
stop_pid $bridge || true
note "bridge output: $(head -n1 "$T/lp.txt")"
note "read counters: $(grep -m1 reads_total "$T/lp.txt")"

# the bridge's /metrics as Telegraf's prometheus input stores them
tg=config/telegraf.conf
grep -q '^\[\[inputs.prometheus\]\]' $tg || fail "$tg: no [[inputs.prometheus]] for the bridge's /metrics"
grep -q '^  metric_version = 2$' $tg || fail "$tg: the scrape is not metric_version = 2 (one field per metric)"
meas=$(sed -n 's/^  name_override = "\(.*\)"$/\1/p' $tg)
[ -n "$meas" ] || fail "$tg: the scrape has no name_override"
awk -v m="$meas" -v url="http://127.0.0.1:8080/metrics" '
  function esc(s) { gsub(/[ ,=]/, "\\\\&", s); return s }
  /^#/ || NF < 2 { next }
  {
    name = $1; tags = ",url=" esc(url); v = $2
    if ((i = index(name, "{"))) {
      lab = substr(name, i + 1, length(name) - i - 1); name = substr(name, 1, i - 1)
      while (match(lab, /^[A-Za-z_][A-Za-z0-9_]*="[^"]*"/)) {
        kv = substr(lab, 1, RLENGTH); lab = substr(lab, RLENGTH + 2)
        k = substr(kv, 1, index(kv, "=") - 1); val = substr(kv, length(k) + 3); val = substr(val, 1, length(val) - 1)
        if (val != "") tags = tags "," k "=" esc(val)
      }
    }
    print m tags " " name "=" v
  }' "$T/metrics.txt" >"$T/scraped.lp"
for f in output_backlog output_retries_total seq_gaps_total output_samples_total; do
  grep -q " sensorwire_bridge_$f=" "$T/scraped.lp" || fail "the bridge's /metrics has no sensorwire_bridge_$f"
done
grep -q ',result=dropped.* sensorwire_bridge_output_samples_total=' "$T/scraped.lp" ||
  fail "no sensorwire_bridge_output_samples_total{result=\"dropped\"}"
note "scraped: $(grep -m1 backlog "$T/scraped.lp")"
cat "$T/lp.txt" "$T/scraped.lp" >"$T/all.lp"

dash=compose/storage/grafana/dashboards/sensorwire.json
ds=compose/storage/grafana/provisioning/datasources/influxdb.yaml
validate dashboard "$dash" --lp "$T/all.lp" --datasource "$ds"
# the two panels are there, on those names
for want in 'reads_ok_total' 'sensorwire_bridge_output_backlog' 'sensorwire_bridge_output_retries_total' \
  'sensorwire_bridge_seq_gaps_total' 'sensorwire_bridge_output_samples_total'; do
  jq -e --arg w "$want" '[.panels[].targets[]?.query | select(contains("r._field == \"" + $w + "\""))] | length > 0' \
    "$dash" >/dev/null || fail "no panel queries the field $want"
done
jq -e '[.panels[].title | select(test("reliab"; "i"))] | length == 1' "$dash" >/dev/null || fail "no read-reliability panel"
jq -e '[.panels[].title | select(test("pipeline"; "i"))] | length == 1' "$dash" >/dev/null || fail "no pipeline panel"

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
sed 's/reads_ok_total/reads_good_total/' "$dash" >"$T/bad5.json"
must_reject 'field "reads_good_total" is not one the bridge writes' dashboard "$T/bad5.json" --lp "$T/all.lp"
sed 's/sensorwire_bridge_seq_gaps_total/sensorwire_bridge_seq_gap_total/' "$dash" >"$T/bad6.json"
must_reject 'field "sensorwire_bridge_seq_gap_total" is not one the bridge writes' dashboard "$T/bad6.json" --lp "$T/all.lp"
sed 's/r.result == \\"dropped\\"/r.reason == \\"dropped\\"/' "$dash" >"$T/bad7.json"
cmp -s "$dash" "$T/bad7.json" && fail "self-check: the sed did not change the dashboard"
must_reject 'column "reason" is neither a tag' dashboard "$T/bad7.json" --lp "$T/all.lp"
# without the scraped /metrics, the pipeline panel's names are unknown
must_reject 'measurement "sensorwire_bridge" is not what the bridge writes' dashboard "$dash" --lp "$T/lp.txt"
sed 's/sensorwire-influxdb/other-uid/' "$ds" >"$T/bad-ds.yaml"
must_reject 'provisioned is "other-uid"' dashboard "$dash" --lp "$T/lp.txt" --datasource "$T/bad-ds.yaml"
