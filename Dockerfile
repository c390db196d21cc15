# One image for every part of the platform; docker-compose.yml and k8s/ choose the
# command (nameko run ... services.<name>.service, or gunicorn for the gateway).
#   docker build -t ml-platform:latest .

# --- build: compile / download the dependencies into a venv --------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (a layer that changes only with pyproject.toml). The project itself
# is uninstalled again: the runtime runs the sources from /app.
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN pip install . && pip uninstall -y ml-platform

# --- web: the web app (frontend/dist), built from the committed lock file -------------
FROM node:20-slim AS web
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend ./
RUN npm run build \
 && find dist/assets -type f \( -name '*.js' -o -name '*.css' \) -exec gzip -9 -k {} +

# --- runtime: the venv and the sources, as a non-root user ----------------------------
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/app \
    VAR_DIR=/app/var
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root pyproject.toml ./
COPY --chown=root:root shared ./shared
COPY --chown=root:root services ./services
COPY --chown=root:root scripts ./scripts
COPY --from=web --chown=root:root /src/frontend/dist ./frontend/dist
RUN mkdir -p /app/var && chown app:app /app/var
USER 10001:10001
EXPOSE 3000 8080 9101 9102 9103 9104 9105
# Default: the gateway. Services override the command (see docker-compose.yml).
CMD ["gunicorn", "-c", "services/gateway/gunicorn.conf.py", "--no-control-socket", \
     "services.gateway.wsgi:app"]
