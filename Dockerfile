# llmtap sensor image. Build: docker build -t llmtap .   (or: podman build --format docker …)
# Run on the mirror interface (host network namespace, one capability):
#   docker run -d --name llmtap --restart unless-stopped --network host \
#     --cap-drop ALL --cap-add NET_RAW \
#     -v llmtap-data:/var/lib/llmtap -v /etc/llmtap:/etc/llmtap:ro \
#     llmtap run --iface eth1 --config /etc/llmtap/llmtap.yaml
# CAP_NET_RAW is the only privilege capture needs (promiscuous mode included). Do not add
# `--security-opt no-new-privileges`: it makes the kernel ignore the file capability below.
#
# BASE_IMAGE: a Debian 12 (bookworm) image with Node.js 22 or later and npm in /usr/local
# (the official node image). The default is pinned by digest (node:24-bookworm-slim, 24.18.0);
# refresh it with `docker buildx imagetools inspect node:24-bookworm-slim`. The test suite
# (test/container/image.test.ts) builds this file with podman on a base made locally from
# Debian's packages and Node.js 24 from the npm registry, as no image registry is reachable there.
ARG BASE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

# ---- build: TypeScript, native capture binding, production node_modules ----
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap-dev python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# `npm ci`: exactly the tree in package-lock.json. Dev dependencies are installed because
# TypeScript, which compiles dist/, is one; they are pruned below. --ignore-scripts: `prepare`
# (tsc + native build) needs the sources, copied after this cached layer, so the two native
# dependencies are built explicitly (against this node's own headers: no download).
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm_config_nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" npm rebuild better-sqlite3 cap
COPY tsconfig.json ./
COPY src ./src
COPY native ./native
COPY bin ./bin
COPY config ./config
# what `prepare` does, with a failed native build failing the image
RUN npx tsc -p tsconfig.json \
 && LLMTAP_NATIVE_REQUIRED=1 npm_config_nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" npm run build:native \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: non-root ----
FROM ${BASE_IMAGE}
# Docker does not raise added capabilities for a non-root USER (they stay out of its effective
# set), so capture runs through a copy of node that carries the file capability cap_net_raw+ep;
# only the llmtap group may execute it (setcap comes last: chown clears file capabilities).
# The health check and anything else use plain `node`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 libcap2-bin \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/llmtap --create-home llmtap \
 && mkdir -p /opt/llmtap \
 && cp "$(readlink -f "$(command -v node)")" /opt/llmtap/node \
 && chown root:llmtap /opt/llmtap/node && chmod 0750 /opt/llmtap/node \
 && setcap cap_net_raw+ep /opt/llmtap/node \
 && apt-get purge -y libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/llmtap
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/config ./config
COPY --from=build /src/native/build/Release/llmtap_capture.node ./native/build/Release/llmtap_capture.node
ENV NODE_ENV=production
USER llmtap
# store.path must be absolute under here (e.g. /var/lib/llmtap/llmtap.db): a relative path
# resolves next to the config file, and /etc/llmtap is mounted read-only. Without api.tokens the
# generated API token is written to /var/lib/llmtap/api-token (mode 0600).
WORKDIR /var/lib/llmtap
# The API listens on 127.0.0.1:8787 by default; with --network host that is the host's loopback.
# /readyz: 200 while capture runs and the database takes writes. The check assumes that port
# and plain HTTP (set LLMTAP_HEALTH_URL for another api.port, or https with api.tls_cert).
EXPOSE 8787
ENV LLMTAP_HEALTH_URL=http://127.0.0.1:8787/readyz
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.LLMTAP_HEALTH_URL).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# --max-semi-space-size=16: Node.js 24 would grow V8's young generation to 64 MiB semi-spaces,
# ~130 MB more peak memory under a flood of new flows (test/e2e/bounded-scan.test.ts).
# --no-allocation-site-pretenuring: during a flood V8 may start allocating flow records straight
# into the old generation (they die young), ~100 MB more peak memory at 2M new flows (README, churn)
ENTRYPOINT ["/opt/llmtap/node", "--max-semi-space-size=16", "--no-allocation-site-pretenuring", "/opt/llmtap/bin/llmtap.js"]
CMD ["run", "--config", "/etc/llmtap/llmtap.yaml"]
