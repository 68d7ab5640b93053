#!/usr/bin/env bash
# Fault 3: Mosquitto restarted during a stream: nothing lost. Readings queued
# for the bridge's persistent session when the broker goes down (the bridge
# is paused, so they pile up) must survive the restart and arrive after it,
# and the stream after the restart too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fault_lib.sh"

MQ=$(free_port); VM=$(free_port)
start_mosquitto "$MQ"
start_victoria "$VM"
start_bridge broker OUTPUTS=remote_write REMOTE_WRITE_URL="http://127.0.0.1:$VM/api/v1/write"
wait_for 10 grep -q subscribed "$T/bridge-broker.log"

stream 1 500 500
wait_vm sensor_n 500 20

kill -STOP "$BRIDGE_PID"
stream 501 1500 1000              # queued in the broker for the paused bridge
stop_pid "$MOSQ_PID"              # saves its persistence file on the way out
start_mosquitto "$MQ"
kill -CONT "$BRIDGE_PID"
wait_for 30 grep -q "session resumed" "$T/bridge-broker.log" || fail "session not resumed"
stream 1501 2000 500
wait_vm sensor_n 2000 60
note "2000 of 2000 readings across a broker restart"
