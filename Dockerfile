# RoomSync operator image: slim, non-root (uid 65532), bytecode compiled at build so a read-only root filesystem
# costs nothing at start-up. Build: docker build -t ghcr.io/roomsync/roomsync:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY crds ./crds
RUN python -m venv /opt/roomsync \
 && /opt/roomsync/bin/pip install "pip>=24" \
 && /opt/roomsync/bin/pip install . \
 && /opt/roomsync/bin/pip uninstall --yes pip \
 && /opt/roomsync/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/roomsync/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="roomsync" \
      org.opencontainers.image.description="Kubernetes operator that keeps Planon room reservations and room calendars in two-way sync" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/roomsync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 65532 roomsync \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin roomsync
COPY --from=build /opt/roomsync /opt/roomsync
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["roomsync"]
CMD ["run", "--all-namespaces"]
