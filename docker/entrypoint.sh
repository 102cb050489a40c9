#!/bin/sh
# The image's entrypoint: prepare the data volume, then run the command (`kratos run` unless
# another is given, e.g. `docker compose run --rm kratos kratos console`).
#
# The databases default to /data, the volume. A settings file written for a checkout
# (CATALOG_DB=data/catalog.db) still lands there: /app/data is a link to /data. Migrations and
# the demo catalog are prepared quietly; a path that cannot be written stops here with the
# one sentence `kratos` prints, and the exit code 2.
set -e

if ! out=$(kratos migrate 2>&1); then
    printf '%s\n' "$out" >&2
    exit 2
fi
# `kratos seed` leaves an existing catalog (the store's own included) untouched.
if ! out=$(kratos seed 2>&1); then
    printf '%s\n' "$out" >&2
    exit 2
fi
exec "$@"
