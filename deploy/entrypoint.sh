#!/bin/sh
# The nfhub image's entrypoint: one image for every process, the first argument picks which.
# It mirrors scripts/devstack.py: each HTTP service applies its own migrations, then serves with
# uvicorn; the worker is `python -m nfhub_compute.worker`. `exec` hands PID 1 (or tini's child,
# with compose `init: true`) to the real process, so SIGTERM reaches it.
set -eu

usage() {
    cat >&2 <<'EOF'
usage: nfhub-entrypoint ROLE [ARGS]

  admin | compute | files | miner | web
                                    migrate that service's schema, then serve it
  worker                            the compute worker (dispatcher and reconciler)
  migrate SERVICE                   only apply SERVICE's migrations, then exit
  create-bucket                     create FILES_S3_BUCKET if it is missing, then exit
  jwt-key                           write ADMIN_JWT_PRIVATE_KEY_FILE if it is missing, then exit
  probe URL                         exit 0 when URL answers 200 (container healthchecks)
EOF
    exit 64
}

# serve SERVICE PORT: the service's own migrations, then its app. Behind the gateway, so
# uvicorn trusts X-Forwarded-* from FORWARDED_ALLOW_IPS (compose sets it; uvicorn reads it).
serve() {
    python -m "nfhub_$1.migrate"
    exec uvicorn "nfhub_$1.main:create_app" --factory --host 0.0.0.0 --port "$2" --proxy-headers
}

tasks() {
    exec python /opt/nfhub/tasks.py "$@"
}

[ "$#" -ge 1 ] || usage
role="$1"
shift
case "$role" in
    admin) serve admin 8001 ;;
    compute) serve compute 8002 ;;
    files) serve files 8003 ;;
    miner) serve miner 8004 ;;
    web) serve web 8005 ;;
    worker) exec python -m nfhub_compute.worker ;;
    migrate)
        [ "$#" -eq 1 ] || usage
        case "$1" in
            admin | compute | files | miner | web) exec python -m "nfhub_$1.migrate" ;;
            *) usage ;;
        esac
        ;;
    create-bucket) tasks create-bucket ;;
    jwt-key) tasks jwt-key ;;
    probe)
        [ "$#" -eq 1 ] || usage
        tasks probe "$1"
        ;;
    *) usage ;;
esac
