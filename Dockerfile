# One image for the agent's three programs: amc-exporter, amc-remediator (serve and worker)
# and amc-sandbox (the stand-in platform of the demo). Non-root; no compiler in the result.
#   docker build -t amc-agent .
#   docker run --rm amc-agent amc-exporter --help
# A second target, `mtail`, is Debian's mtail with the project's programs (prometheus/mtail).

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY amc_core amc_core
COPY exporter exporter
COPY remediator remediator
COPY sandbox sandbox
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm AS agent
RUN groupadd --system --gid 10001 amc \
    && useradd --system --uid 10001 --gid amc --home-dir /var/lib/amc --create-home amc
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels amc-agent && rm -rf /wheels
# Configuration and the token come from mounts (docker-compose.yml, deploy/compose/).
# (and the demo platform's logs: a named volume mounted there takes this owner)
RUN mkdir -p /etc/amc-agent /var/log/amc-platform \
    && chown amc:amc /etc/amc-agent /var/log/amc-platform
USER amc:amc
WORKDIR /var/lib/amc
ENV PYTHONUNBUFFERED=1
EXPOSE 9864 9865 8700
CMD ["amc-exporter", "--help"]

FROM debian:bookworm-slim AS mtail
RUN apt-get update \
    && apt-get install --no-install-recommends -y mtail \
    && rm -rf /var/lib/apt/lists/*
COPY prometheus/mtail /etc/mtail
USER nobody:nogroup
EXPOSE 3903
ENTRYPOINT ["mtail", "-progs", "/etc/mtail", "-logtostderr"]
