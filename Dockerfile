# KRATOS in a container: the same install as `make run`, as a non-root user, data on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CATALOG_DB=/data/catalog.db \
    STATE_DB=/data/state.db

RUN useradd --create-home --uid 10001 kratos && mkdir /data && chown kratos /data
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY migrations ./migrations
COPY evals ./evals
RUN pip install -e .

USER kratos
VOLUME ["/data"]
# Before the command: apply migrations and create the demo catalog when /data has none
# (an existing catalog, the store's own included, is left untouched).
ENTRYPOINT ["sh", "-c", "kratos migrate && kratos seed && exec \"$@\"", "--"]
CMD ["kratos", "run"]
