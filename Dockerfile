# Verity's container image (docs/operations.md, "Deploying"). The build stage installs from the
# lockfile and builds every package (`npm run build`); the runtime stage holds the production
# dependencies and the build, runs as the unprivileged `node` user and keeps its data in /data.
#
#   docker build -t verity .
#   docker run -p 8181:8181 -v verity-data:/data -e VERITY_ADMIN_TOKEN=… verity
#
# The default command serves one PGlite folder on the volume; for replicas on PostgreSQL give
# VERITY_DATABASE_URL and a command without --data (compose.yaml, deploy/k8s).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The manifests first: the dependency layer is reused until one of them changes.
COPY package.json package-lock.json ./
COPY packages/cli/package.json packages/cli/
COPY packages/core/package.json packages/core/
COPY packages/data-tier/package.json packages/data-tier/
COPY packages/enforce/package.json packages/enforce/
COPY packages/identity/package.json packages/identity/
COPY packages/server/package.json packages/server/
COPY packages/store/package.json packages/store/
COPY packages/workload/package.json packages/workload/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json tsconfig.build-base.json ./
COPY scripts/build.mjs scripts/
COPY packages/ packages/
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/cli/package.json packages/cli/
COPY packages/core/package.json packages/core/
COPY packages/data-tier/package.json packages/data-tier/
COPY packages/enforce/package.json packages/enforce/
COPY packages/identity/package.json packages/identity/
COPY packages/server/package.json packages/server/
COPY packages/store/package.json packages/store/
COPY packages/workload/package.json packages/workload/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/packages/cli/dist packages/cli/dist
COPY --from=build /app/packages/core/dist packages/core/dist
COPY --from=build /app/packages/data-tier/dist packages/data-tier/dist
COPY --from=build /app/packages/enforce/dist packages/enforce/dist
COPY --from=build /app/packages/identity/dist packages/identity/dist
COPY --from=build /app/packages/server/dist packages/server/dist
COPY --from=build /app/packages/store/dist packages/store/dist
COPY --from=build /app/packages/workload/dist packages/workload/dist
COPY packages/cli/bin packages/cli/bin
# What `serve --demo` loads.
COPY examples/demo examples/demo
# The volume's mount point, owned by the user Verity runs as (a new named volume takes it over).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8181
# /healthz answers while the process can serve HTTP, also during start-up (docs/operations.md,
# "Probes"); an orchestrator routes on /readyz. Port 8181 as in CMD: change both together.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8181/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "packages/cli/bin/verity.mjs"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8181", "--data", "/data/verity"]
