#!/usr/bin/env bash
# What the test suite needs besides the venv: a RabbitMQ broker on 5672 with its
# management API on 15672 (nameko's rabbit_config fixture creates a vhost per test
# through it). As root, installs / starts / enables what is missing; otherwise says
# what to run. Idempotent: does nothing when all is there.
set -euo pipefail

AMQP_HOST=127.0.0.1
AMQP_PORT=5672
MGMT_URL="http://guest:guest@127.0.0.1:15672/api/overview"

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
mgmt_up() { curl -fsS -o /dev/null --max-time 3 "$MGMT_URL" 2>/dev/null; }
as_root() { [ "$(id -u)" -eq 0 ]; }
wait_for() {  # wait_for <seconds> <description> <command...>
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 "$seconds"); do "$@" && return 0; sleep 1; done
  echo "test-prereqs: $what did not come up in ${seconds}s" >&2; return 1
}

if ! command -v curl >/dev/null 2>&1 && as_root; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl
fi

if ! port_open "$AMQP_HOST" "$AMQP_PORT"; then
  if ! as_root; then
    echo "test-prereqs: RabbitMQ is not running on $AMQP_HOST:$AMQP_PORT." >&2
    echo "  start it: sudo rabbitmq-server -detached   (or: docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:3-management)" >&2
    exit 1
  fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "test-prereqs: installing rabbitmq-server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
  fi
  echo "test-prereqs: starting RabbitMQ"
  rabbitmq-server -detached
  wait_for 90 "RabbitMQ on $AMQP_PORT" port_open "$AMQP_HOST" "$AMQP_PORT"
fi

if ! mgmt_up; then
  if ! as_root; then
    echo "test-prereqs: RabbitMQ's management API (15672) is off; the service tests need it:" >&2
    echo "  sudo rabbitmq-plugins enable rabbitmq_management" >&2
    exit 1
  fi
  echo "test-prereqs: enabling rabbitmq_management"
  # Waits for the node to boot first (it may have just been started above).
  rabbitmqctl await_startup >/dev/null 2>&1 || true
  rabbitmq-plugins enable rabbitmq_management
  wait_for 60 "the RabbitMQ management API" mgmt_up
fi
echo "test-prereqs: RabbitMQ and its management API are up"

# The web app's tests: Node.js + npm (build, Vitest) and Debian's Chromium, which the
# browser tests drive by its path (nothing downloads a browser).
if ! command -v npm >/dev/null 2>&1 && as_root; then
  echo "test-prereqs: installing nodejs and npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if [ ! -x /usr/bin/chromium ] && as_root; then
  echo "test-prereqs: installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "test-prereqs: /usr/bin/chromium is missing; the browser tests need it: sudo apt-get install chromium" >&2
  exit 1
fi
echo "test-prereqs: chromium is at /usr/bin/chromium"
