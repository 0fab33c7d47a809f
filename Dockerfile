# weft's container image: `weft run` in the DaemonSet of deploy/weft.yaml.
#
#   docker build -t ghcr.io/weft-project/weft:0.1.0 .   (a placeholder name; see deploy/README.md)
#
# Two stages. The build stage has the full Debian image (compilers, python) that
# npm may need; the final stage gets only the compiled JavaScript, the production
# node_modules and the two programs weft runs: `ip` and `iptables`.

FROM node:20-bookworm AS build
WORKDIR /src
# The dependencies first, so that a source change does not reinstall them.
# --ignore-scripts: the root package's `prepare` (tsc) needs the sources, which
# are not copied yet, and no dependency needs its install script (koffi ships
# prebuilt binaries for linux x64 and arm64; see allowScripts in package.json).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY bin/ bin/
COPY src/ src/
COPY native-free/ native-free/
COPY bench/ bench/
RUN npm run build \
 && npm prune --omit=dev

FROM node:20-bookworm-slim
# iproute2: weft reads the underlay address with `ip -j -4 addr show`.
# iptables: --ip-masq and the FORWARD rules, as flanneld installs them, and the
# xtables lock the DaemonSet mounts.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iptables \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /opt/weft
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules/ ./node_modules/
COPY --from=build /src/dist/ ./dist/
COPY --from=build /src/bin/ ./bin/
# Runs as root: NET_ADMIN and NET_RAW, which the DaemonSet adds, are only
# effective for root (Kubernetes sets no ambient capabilities).
ENTRYPOINT ["node", "/opt/weft/bin/weft.js"]
CMD ["run"]
