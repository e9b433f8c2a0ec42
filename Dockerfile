# syntax=docker/dockerfile:1
# ddlgate container image: Debian 12, built from source with Debian's packages.
#   docker build -t ddlgate .
#   docker run --rm -p 6432:6432 -v "$PWD/ddlgate.toml:/etc/ddlgate/ddlgate.toml:ro" ddlgate
# The build stage installs the "# [build]" section of scripts/packages.txt (the
# one package list setup.sh also reads); the runtime stage installs only the
# packages that ship the shared libraries the built binary loads (ldd + dpkg -S,
# scripts/runtime-packages.sh), so it follows the binary as dependencies change.

FROM debian:12-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
COPY scripts/packages.txt scripts/pg-source.sh /tmp/
# pg-source.sh: PostgreSQL 15's source package (deb-src), whose encoding
# conversion maps the protocol module compiles in (protocol/CMakeLists.txt).
RUN sed -n '/^# \[build\]/,/^# \[/p' /tmp/packages.txt | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$' \
      >/tmp/build-packages.txt \
 && apt-get update \
 && xargs -a /tmp/build-packages.txt apt-get install -y --no-install-recommends \
 && /tmp/pg-source.sh /var/cache/ddlgate/postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDDLGATE_TESTS=OFF -DDDLGATE_BENCH=OFF \
      -DDDLGATE_PG_SOURCE_DIR=/var/cache/ddlgate/postgresql-15/source \
 && cmake --build /build --target ddlgate \
 && install -D -m 0755 -s /build/cli/ddlgate /out/ddlgate \
 && scripts/runtime-packages.sh /out/ddlgate >/out/runtime-packages.txt \
 && cat /out/runtime-packages.txt

FROM debian:12-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
# ca-certificates: system trust anchors for upstream TLS when no ca_file is configured.
RUN apt-get update \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --system --gid 10001 ddlgate \
 && useradd --system --uid 10001 --gid ddlgate --home-dir /var/lib/ddlgate --no-create-home \
      --shell /usr/sbin/nologin ddlgate \
 && install -d -o ddlgate -g ddlgate -m 0750 /var/lib/ddlgate
COPY --from=build /out/ddlgate /usr/local/bin/ddlgate
COPY docker/ddlgate.toml /etc/ddlgate/ddlgate.toml
# Fail the build, not the first start, if a library is missing or the config is invalid.
RUN if ldd /usr/local/bin/ddlgate | grep 'not found'; then exit 1; fi \
 && /usr/local/bin/ddlgate --version \
 && /usr/local/bin/ddlgate check-config --config /etc/ddlgate/ddlgate.toml
USER ddlgate:ddlgate
WORKDIR /var/lib/ddlgate
EXPOSE 6432 9187
# SIGTERM: stop accepting, let sessions finish up to timeouts.shutdown_ms, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ddlgate"]
CMD ["serve", "--config", "/etc/ddlgate/ddlgate.toml"]
