# llmtap sensor image. Build: docker build -t llmtap .
# Run on the mirror interface (host network namespace, raw-socket capability only):
#   docker run -d --name llmtap --network host --cap-add NET_RAW --cap-add NET_ADMIN \
#     -v llmtap-data:/var/lib/llmtap -v /etc/llmtap:/etc/llmtap:ro \
#     llmtap run --iface eth1 --config /etc/llmtap/llmtap.yaml
# NET_ADMIN is needed only for promiscuous mode on the mirror port.

# ---- build: native capture binding + TypeScript ----
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap-dev python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# dependencies without lifecycle scripts first (cache layer); their native parts next
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3 cap
COPY tsconfig.json ./
COPY src ./src
COPY native ./native
COPY bin ./bin
COPY config ./config
RUN LLMTAP_NATIVE_REQUIRED=1 node native/build.mjs \
 && npx tsc -p tsconfig.json \
 && npm prune --omit=dev

# ---- runtime: slim, non-root ----
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/llmtap --create-home llmtap
WORKDIR /opt/llmtap
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/config ./config
COPY --from=build /src/native/build/Release/llmtap_capture.node ./native/build/Release/llmtap_capture.node
ENV NODE_ENV=production
USER llmtap
WORKDIR /var/lib/llmtap
# the API listens on 127.0.0.1:8787 by default; with --network host that is the host's loopback
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8787/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/opt/llmtap/bin/llmtap.js"]
CMD ["run", "--config", "/etc/llmtap/llmtap.yaml"]
