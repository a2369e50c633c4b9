# syntax=docker/dockerfile:1
# The operator's image:  docker build -t wedsync-operator:dev .
# Runs as uid 10001 with a read-only root filesystem: nothing is written outside /tmp
# (bytecode is compiled at build time, PYTHONDONTWRITEBYTECODE stops any later write).
ARG PYTHON_IMAGE=python:3.11-slim
# The build stage's image: the same Python by default. `make image` (e2e/node/image.sh)
# passes one with a wheelhouse and PIP_NO_INDEX set, so that no build step needs a network.
ARG BUILD_IMAGE=${PYTHON_IMAGE}

FROM ${BUILD_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/wedsync
COPY pyproject.toml README.md ./
COPY operator/ operator/
# tzdata is pinned to the release the WeddingDay CRD's list of zones was generated from
# (pyproject.toml's dev extra; tests/unit/test_chart.py checks that the two agree).
RUN /opt/wedsync/bin/pip install . "tzdata==2026.6"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="wedsync-operator" \
      org.opencontainers.image.description="Scales a wedding-services platform ahead of scheduled wedding days" \
      org.opencontainers.image.licenses="Apache-2.0"
# Debian's tzdata for the system (/usr/share/zoneinfo, localtime); the operator itself
# reads only the pinned Python tzdata (PYTHONTZPATH is empty below), so the zones it
# resolves are exactly those the CRD accepts. A base that has it already (make image's) is
# built without a network.
# hadolint ignore=DL3008
RUN if ! dpkg -s tzdata > /dev/null 2>&1; then \
      apt-get update \
      && apt-get install -y --no-install-recommends tzdata \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --system --gid 10001 wedsync \
 && useradd --system --uid 10001 --gid wedsync --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin wedsync
COPY --from=build /opt/wedsync /opt/wedsync
ENV PATH=/opt/wedsync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONTZPATH="" \
    HOME=/tmp \
    TMPDIR=/tmp
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# 8080: the operator's /metrics; 8081: kopf's liveness endpoint /healthz.
EXPOSE 8080 8081
ENTRYPOINT ["wedsync-operator", "run"]
