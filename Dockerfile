# A slim image that runs `supportbot serve` as a non-root user, data in a volume.
#   docker build -t supportbot .
#   docker run -p 8080:8080 -v supportbot-data:/data supportbot
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY channels ./channels
COPY templates ./templates
COPY config ./config
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SUPPORTBOT_DATA_DIR=/data \
    SUPPORTBOT_HTTP_HOST=0.0.0.0
RUN groupadd --system --gid 10001 supportbot \
 && useradd --system --uid 10001 --gid supportbot --home-dir /data --shell /usr/sbin/nologin supportbot \
 && mkdir -m 0700 /data && chown supportbot:supportbot /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER supportbot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SUPPORTBOT_HTTP_PORT', '8080'), timeout=4)"
ENTRYPOINT ["supportbot"]
CMD ["serve"]
