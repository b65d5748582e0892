# podhooks webhook image. Build: docker build -t ghcr.io/podhooks/podhooks:0.1.0 .
# (Images cannot be built on the project's CI machines; every step here is something the
# test suite runs directly on the host: npm ci, tsc, node bin/podhooks.js.)

FROM node:24.11-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (tsc) needs the sources, copied below.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24.11-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
# What `podhooks explain` judges pods against when no cluster configuration is readable.
COPY deploy/base/webhooks.yaml ./deploy/base/webhooks.yaml
# Non-root (the deploy/ Deployment also sets runAsUser 65532) and no writes to the root
# filesystem: certificates come from a mounted Secret, so certDir is read-only.
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["node", "/app/bin/podhooks.js"]
CMD ["serve"]
