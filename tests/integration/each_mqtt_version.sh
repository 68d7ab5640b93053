# shellcheck shell=bash
# each_mqtt_version.sh - sourced first (before lib.sh) by a test that must
# pass on both protocol versions: without MQTT_VERSION set, it runs the test
# once with MQTT_VERSION=5 and once with 3.1.1 and exits with the result;
# with it set (the inner runs, or a person trying one), it exports it and
# the test goes on.
if [ -z "${MQTT_VERSION:-}" ]; then
  for v in 5 3.1.1; do
    echo "# MQTT_VERSION=$v"
    MQTT_VERSION=$v bash "$0" || exit 1
  done
  exit 0
fi
export MQTT_VERSION
