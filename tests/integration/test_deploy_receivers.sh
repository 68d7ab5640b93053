#!/usr/bin/env bash
# test_deploy_receivers.sh - the receiver configs in config/: telegraf.conf
# parses as TOML, listens for remote-write and writes to InfluxDB 2, and its
# processors rename the series to exactly what the bridge itself writes to
# InfluxDB (INFLUX_MEASUREMENT and METRIC_PREFIX read from
# `sensor-bridge --check-config`, not copied); compose/storage uses that same
# file. prometheus.yml passes promtool. Broken copies must be rejected.
. "$(dirname "$0")/lib.sh"
. "$SW_ROOT/tests/deploy/setup.sh"
deploy_npm
cd "$SW_ROOT"
[ -x "$BRIDGE" ] || fail "$BRIDGE is missing: build it first"

"$BRIDGE" --check-config >"$T/check.txt" 2>&1 || { cat "$T/check.txt"; fail "sensor-bridge --check-config failed"; }
setting() { sed -n "s/^$1=\([^ ]*\).*/\1/p" "$T/check.txt" | head -n1; }
measurement=$(setting INFLUX_MEASUREMENT)
prefix=$(setting METRIC_PREFIX)
{ [ -n "$measurement" ] && [ -n "$prefix" ]; } || { cat "$T/check.txt"; fail "no INFLUX_MEASUREMENT/METRIC_PREFIX in --check-config"; }
note "bridge defaults: INFLUX_MEASUREMENT=$measurement METRIC_PREFIX=$prefix"

validate telegraf config/telegraf.conf --measurement "$measurement" --metric-prefix "$prefix"
cmp -s config/telegraf.conf compose/storage/telegraf.conf ||
  fail "compose/storage/telegraf.conf is not config/telegraf.conf"

command -v promtool >/dev/null || fail "promtool is not installed (package prometheus)"
promtool check config config/prometheus.yml >"$T/promtool.log" 2>&1 || { cat "$T/promtool.log"; fail "promtool rejected config/prometheus.yml"; }
note "promtool: config/prometheus.yml valid"

# --- negative self-checks --------------------------------------------------
sed 's/^  data_format = "prometheusremotewrite"/  data_format = "prometheusremotewrite/' config/telegraf.conf >"$T/bad1.conf"
must_reject "TOML" telegraf "$T/bad1.conf"
sed 's/dest = "sensor"/dest = "sensors"/' config/telegraf.conf >"$T/bad2.conf"
must_reject "no processors.rename" telegraf "$T/bad2.conf" --measurement "$measurement" --metric-prefix "$prefix"
sed 's/prometheusremotewrite/influx/' config/telegraf.conf >"$T/bad3.conf"
must_reject "data_format" telegraf "$T/bad3.conf"
sed 's/out_of_order_time_window: 24h/out_of_order_time_window: soon/' config/prometheus.yml >"$T/bad.yml"
promtool check config "$T/bad.yml" >/dev/null 2>&1 && fail "promtool accepted a broken prometheus.yml"
note "broken prometheus.yml rejected"
