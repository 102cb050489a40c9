# KRATOS in a container: the same install as `make run`, as a non-root user, data on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CATALOG_DB=/data/catalog.db \
    STATE_DB=/data/state.db

# /data is the only place the user writes. /app/data points there, so relative paths from a
# settings file made for a checkout (data/catalog.db, data/state.db) land on the volume too.
RUN useradd --create-home --uid 10001 kratos \
    && mkdir /data && chown kratos:kratos /data \
    && mkdir /app && ln -s /data /app/data
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY migrations ./migrations
COPY evals ./evals
COPY docker/entrypoint.sh /usr/local/bin/kratos-entrypoint
RUN pip install --quiet -e .

USER kratos
VOLUME ["/data"]
# Before the command: apply migrations and create the demo catalog when /data has none
# (an existing catalog, the store's own included, is left untouched).
ENTRYPOINT ["kratos-entrypoint"]
CMD ["kratos", "run"]
