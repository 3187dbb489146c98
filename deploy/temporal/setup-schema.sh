#!/bin/sh
# Creates Temporal's two databases on its Postgres when missing and brings their schemas to the
# server's version, with the server's own temporal-sql-tool and the schemas built into it. Safe to run
# again. Reads the settings of server.env plus POSTGRES_SEEDS, DB_PORT, POSTGRES_USER and POSTGRES_PWD;
# TEMPORAL_SQL_TOOL names the tool when it is not on PATH. Run by docker-compose.yml's temporal-schema
# service and by scripts/test-production.ts.
set -eu
tool="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"
for target in "${DBNAME:-temporal}:postgresql/v12/temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:postgresql/v12/visibility"; do
  database="${target%%:*}"
  schema="${target#*:}"
  set -- --plugin "${DB:-postgres12}" --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" --db "$database"
  if "$tool" "$@" create-database >/dev/null 2>&1; then echo "created database $database"; fi
  # The tool logs every statement; its output is shown when it fails.
  for step in "setup-schema -v 0.0" "update-schema --schema-name $schema"; do
    # shellcheck disable=SC2086
    if ! output=$("$tool" "$@" $step 2>&1); then
      printf '%s\n' "$output" >&2
      echo "temporal-sql-tool $step failed on database $database" >&2
      exit 1
    fi
  done
  echo "database $database: schema $schema is current"
done
