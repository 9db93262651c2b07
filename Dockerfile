# Production image: `docker build -t incident-tracker-api .` (README "Deploy"). Multi-stage: the
# build stage compiles TypeScript with every dependency; the final stage has production
# dependencies only, runs as the unprivileged `node` user, and starts exactly as `pnpm start` does.
# Migrations: `docker run --rm --env-file .env incident-tracker-api node dist/src/migrate.js`.

FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN npm install -g pnpm@12.4.2
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm install --frozen-lockfile --prod=false
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
RUN pnpm build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
RUN npm install -g pnpm@12.4.2
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm install --frozen-lockfile --prod

FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0
WORKDIR /app
# The migrator finds migrations/ beside package.json; openapi.yaml backs /docs when API_DOCS=true.
COPY --chown=node:node package.json openapi.yaml ./
COPY --chown=node:node migrations ./migrations
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=12", "--initial-old-space-size=64", "--max-old-space-size=384", "--import", "./dist/src/telemetry.js", "dist/src/main.js"]
