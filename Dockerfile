# syntax=docker/dockerfile:1
# One image per service, from one Dockerfile:
#   docker build --build-arg SERVICE=inventory     -t arrivals-inventory .
#   docker build --build-arg SERVICE=subscriptions -t arrivals-subscriptions .
#   docker build --build-arg SERVICE=dispatcher    -t arrivals-dispatcher .
# The base image: a full version tag (bump it deliberately, with the lockfile's Node range). Release
# builds pin it by digest: .github/workflows resolve the tag's digest once per run and pass
# NODE_IMAGE=<tag>@sha256:<digest>, so both stages of all three images stand on the same bytes and
# the digest is recorded in the image's labels and SBOM. Write the digest here (node:<tag>@sha256:…)
# to pin it in the repository too; the workflows then use it as it is.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# --- build: install exactly what the lockfile says, compile, then cut the one service out --------
FROM ${NODE_IMAGE} AS build
ARG SERVICE
ARG PNPM_VERSION=12.4.2
RUN test -n "$SERVICE" || (echo 'build with --build-arg SERVICE=inventory|subscriptions|dispatcher' >&2 && exit 1)
RUN npm install --global --no-audit --no-fund "pnpm@${PNPM_VERSION}"
WORKDIR /repo
# Dependencies first, from the lockfile only, so this layer is reused until the lockfile changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --frozen-lockfile
RUN pnpm exec tsc -b "services/${SERVICE}"
# The operator console's static files go into the subscriptions service's dist/ (served at /console/).
RUN if [ "$SERVICE" = subscriptions ]; then pnpm --filter @arrivals/subscriptions build:console; fi
# The service with its production dependencies only (workspace packages copied in, no dev tools),
# then nothing but what runs: package.json, node_modules and the compiled dist (a package without a
# `files` field would otherwise bring its src/, tests and configs, and pnpm's lockfile copy).
RUN pnpm deploy --prod --filter "@arrivals/${SERVICE}" /out \
 && find /out -mindepth 1 -maxdepth 1 ! -name node_modules ! -name package.json -exec rm -rf {} + \
 && cp -R "services/${SERVICE}/dist" /out/dist

# --- runtime: the deployed service, owned by root and read-only to the process ---------------
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG SERVICE
# Node alone: no npm, npx, corepack or yarn at run time (nothing installs packages in a running
# container, and every tool left here is one more thing for the vulnerability scan to report).
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
 && node --version
ARG VERSION=0.0.0-dev
ARG SOURCE=https://github.com/arrivals/arrivals
LABEL org.opencontainers.image.title="arrivals-${SERVICE}" \
      org.opencontainers.image.description="Arrivals ${SERVICE} service" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out /app
# The image's `node` user, by number, so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3001 3002 3003
# Exec form: node is PID 1 and receives SIGTERM itself, so the graceful shutdown runs. The node flags
# are the services' own `start` script's (a 16 MB young generation keeps RSS down at full speed).
CMD ["node", "--max-semi-space-size=16", "--import", "@arrivals/service-kit/telemetry", "dist/server.js"]
