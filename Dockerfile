# The capawesome-ci image: GitHub container actions, GitLab CI jobs and Bitbucket pipes.
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY capawesome_ci ./capawesome_ci
# The package and its dependencies, installed into a prefix the final stage copies as one layer
# (copying wheels and deleting them later would keep their bytes in the image).
RUN pip wheel --wheel-dir /wheels '.[capgo-build]' \
 && pip install --no-index --find-links /wheels --prefix /install 'capawesome-ci[capgo-build]'

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DEBIAN_FRONTEND=noninteractive
COPY --from=build /install /usr/local
RUN capawesome-ci --version
# Exec form, absolute path: the runner passes `args:` without a shell. As PID 1 the CLI installs
# its own SIGINT/SIGTERM handlers (cancel the cloud job, exit 130/143).
ENTRYPOINT ["/usr/local/bin/capawesome-ci"]
# With no arguments (a Bitbucket pipe) the step named by $COMMAND runs.
CMD ["pipe"]
