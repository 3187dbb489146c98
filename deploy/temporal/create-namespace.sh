#!/bin/sh
# Waits for the Temporal frontend at TEMPORAL_ADDRESS, then creates DEFAULT_NAMESPACE (server.env) when
# missing. cartflow registers its search attributes itself when it starts. TEMPORAL_CLI names the
# temporal CLI when it is not on PATH. Run by docker-compose.yml's temporal-namespace service and by
# scripts/test-production.ts.
set -eu
cli="${TEMPORAL_CLI:-temporal}"
namespace="${DEFAULT_NAMESPACE:-default}"
tries=0
until "$cli" operator cluster health --address "$TEMPORAL_ADDRESS" 2>/dev/null | grep -q SERVING; do
  tries=$((tries + 1))
  if [ "$tries" -ge 120 ]; then
    echo "The Temporal frontend at $TEMPORAL_ADDRESS did not answer SERVING within 120 s." >&2
    exit 1
  fi
  sleep 1
done
if "$cli" operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$namespace" >/dev/null 2>&1; then
  echo "namespace $namespace exists"
else
  "$cli" operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$namespace" --retention "${DEFAULT_NAMESPACE_RETENTION:-72h}"
fi
# A new namespace reaches the frontend's namespace cache some seconds later; until then the search
# attribute calls cartflow makes at start-up answer "not found".
tries=0
until "$cli" operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$namespace" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "Namespace $namespace was created but the frontend did not serve it within 60 s." >&2
    exit 1
  fi
  sleep 1
done
echo "namespace $namespace is served"
