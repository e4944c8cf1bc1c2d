#!/usr/bin/env bash
# The local services that the logbook's tests, benchmark and demo use: PostgreSQL
# (127.0.0.1:5432), MariaDB (127.0.0.1:3306), RabbitMQ (127.0.0.1:5672) with its STOMP
# plugin (61613).  Each is started if it is not answering (with this machine's own
# commands), then waited for.  Sourced by run-tests and run-demo (ensure_services), or
# run as a script.  A service that cannot be brought up is reported; the tests that need
# it then fail and say which.  PILOTS2_NO_SERVICES=1 skips all this.

_svc_port_open() {  # host port
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&-
}

_svc_wait() {  # name seconds command...
    local name=$1 seconds=$2 i
    shift 2
    for ((i = 0; i < seconds * 4; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    echo "services: $name did not answer within ${seconds}s" >&2
    return 1
}

_svc_postgresql() {
    if ! _svc_port_open 127.0.0.1 5432; then
        echo "services: starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    fi
    _svc_wait PostgreSQL 60 psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1"
}

_svc_mariadb() {
    if ! _svc_port_open 127.0.0.1 3306; then
        echo "services: starting MariaDB"
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    fi
    _svc_wait MariaDB 60 mysql -h 127.0.0.1 -u root -e "select 1"
}

_svc_rabbitmq() {
    if ! _svc_port_open 127.0.0.1 5672; then
        echo "services: starting RabbitMQ"
        rabbitmq-server -detached || true
        _svc_wait RabbitMQ 90 _svc_port_open 127.0.0.1 5672 || return 1
    fi
    if ! _svc_port_open 127.0.0.1 61613; then
        echo "services: enabling RabbitMQ's STOMP plugin"
        rabbitmq-plugins enable rabbitmq_stomp >/dev/null || return 1
    fi
    _svc_wait "RabbitMQ STOMP (61613)" 60 _svc_port_open 127.0.0.1 61613
}

ensure_services() {
    [ "${PILOTS2_NO_SERVICES:-0}" = 1 ] && return 0
    local failed=0
    _svc_postgresql || failed=1
    _svc_mariadb || failed=1
    _svc_rabbitmq || failed=1
    [ $failed = 0 ] && echo "services: PostgreSQL, MariaDB, RabbitMQ (+STOMP) answer"
    return $failed
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    ensure_services
fi
