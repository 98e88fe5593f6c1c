# asrt-service: ASRT-compatible Mandarin speech recognition, REST :20001 + gRPC :20002.
#   docker build -t asrt-service .
#   docker run -p 20001:20001 -p 20002:20002 asrt-service

# --- build stage: install the package and its wheels into a virtualenv --------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY asrt_service ./asrt_service
COPY models ./models
RUN /opt/venv/bin/pip install --no-compile . \
    && /opt/venv/bin/python -c "import asrt_service.proto.asrt_pb2"

# --- runtime stage: the virtualenv (package + shipped models), a non-root user --------------
FROM python:3.11-slim
LABEL org.opencontainers.image.title="asrt-service" \
      org.opencontainers.image.description="ASRT-compatible Mandarin speech recognition (REST 20001, gRPC 20002)"
RUN groupadd --system --gid 10001 asrt && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin asrt
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    ASRT_HOST=0.0.0.0
USER 10001:10001
EXPOSE 20001 20002
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:20001/readyz', timeout=4).status != 200)"]
CMD ["asrt-service", "serve"]
