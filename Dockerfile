# One image for every radstack process; docker-compose.yml picks the command per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    RADSTACK_DATA_DIR=/var/lib/radstack
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY workers ./workers
COPY api_gateway ./api_gateway
COPY migrations ./migrations
COPY radstack ./radstack
COPY samples ./samples
RUN pip install --no-cache-dir -e . && useradd --system --uid 1000 radstack \
    && mkdir -p /var/lib/radstack && chown radstack /var/lib/radstack
USER radstack
EXPOSE 8000
CMD ["radstack", "gateway", "--host", "0.0.0.0", "--port", "8000"]
