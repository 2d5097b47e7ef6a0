# Podium: one process with in-memory state and the demo event.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PODIUM_HOST=0.0.0.0 \
    PODIUM_PORT=8080 \
    PODIUM_SECRET_FILE=/var/lib/podium/secret

WORKDIR /app
COPY pyproject.toml README.md ./
COPY sfu ./sfu
COPY signaling ./signaling
COPY loadtest ./loadtest
COPY web ./web
RUN pip install . && useradd --system --home /var/lib/podium --create-home podium

USER podium
ENV PODIUM_STATIC_DIR=/app/web
EXPOSE 8080/tcp
# WebRTC media uses UDP ports chosen per connection; run with host networking for media.
CMD ["podium", "serve"]
