# The image of every app service in docker-compose.yml (web, worker, migrate, simulator).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir playground generations && touch playground/__init__.py generations/__init__.py \
    && pip install . && pip uninstall -y kontext-playground
COPY . .
RUN pip install --no-deps -e .

# Static files with hashed names, collected at build time outside the data volumes. Settings
# refuse to load in production mode without these, so placeholders serve for this step only.
ENV STATIC_ROOT=/app/static
RUN DEBUG=false SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
    PLAYGROUND_VAR_DIR=/tmp/build-var python manage.py collectstatic --noinput -v0

RUN useradd --system --uid 1000 --home-dir /data playground \
    && mkdir -p /data/media /data/var && chown -R playground /data
USER playground
ENV PLAYGROUND_VAR_DIR=/data/var \
    MEDIA_ROOT=/data/media \
    DEBUG=false \
    HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
CMD ["python", "-m", "gunicorn", "--config", "python:playground.gunicorn_conf", "playground.wsgi"]
