# modelship: every target runs on Node.js 24. When the system Node is older, `make setup` installs Node 24
# from the npm registry (package node@24) into .tools/node and every target puts it first on PATH.
SHELL := /bin/bash
NODE_MAJOR := 24
LOCAL_NODE_DIR := $(CURDIR)/.tools/node/node_modules/.bin
SYSTEM_NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)

ifeq ($(shell test "$(SYSTEM_NODE_MAJOR)" -ge "$(NODE_MAJOR)" && echo ok),ok)
NODE_BIN :=
else
NODE_BIN := $(LOCAL_NODE_DIR)/node
export PATH := $(LOCAL_NODE_DIR):$(PATH)
endif

.PHONY: setup demo test typecheck bench bench-server bench-router bench-operator bench-cache bench-monitoring models crds generate kube-binaries cluster-up cluster-down clean

setup: node_modules/.installed

ifneq ($(NODE_BIN),)
$(NODE_BIN):
	@echo "system Node is $(SYSTEM_NODE_MAJOR).x; installing Node $(NODE_MAJOR) into .tools/node"
	npm install --no-save --no-package-lock --prefix .tools/node node@$(NODE_MAJOR)
	@$(LOCAL_NODE_DIR)/node --version
endif

node_modules/.installed: package.json package-lock.json $(NODE_BIN)
	npm ci
	@touch $@

# Files generated from their single sources: the CRD (from the TypeScript schema) and the chart's copies.
generate: setup
	node operator/api/generate-crds.ts
	node charts/generate.ts

crds: generate

models: setup
	node examples/models/build.ts examples/models

# The model server on its own, then modelship on a real single-node cluster when this machine can run one
# (root, Linux, cgroups: see cluster/), otherwise on a simulated one (kwok), saying why. Each path builds the
# upstream programs it runs (not kube-binaries, whose test-only programs a cold demo would wait for).
demo: setup models
	node examples/demo.ts
	node examples/cluster-demo.ts

typecheck: setup
	npx tsc -p tsconfig.json

# Upstream Kubernetes programs for the control-plane tests, built from the Go module proxy into
# ~/.cache/modelship (or $$MODELSHIP_BUILD_CACHE): several minutes the first time, instant after.
kube-binaries: setup
	node test/control-plane/build-binaries.ts

# A real single-node Kubernetes on this machine (root, Linux): containerd, the kubelet, kube-proxy, CoreDNS,
# Prometheus and prometheus-adapter, with modelship's images built by buildah and imported. Installs the Debian
# packages it needs when missing. The admin kubeconfig is ~/.cache/modelship/cluster/kubeconfig.
cluster-up: setup
	node cluster/up.ts

# Stops all of it and removes what it changed on the host (iptables chains, the bridge, mounts).
cluster-down: setup
	node cluster/down.ts

test: setup typecheck kube-binaries
	node --test --test-reporter=spec "test/**/*.test.ts"

bench: bench-server bench-router bench-operator bench-cache bench-monitoring

bench-server: setup
	node bench/server-bench.ts

# The router against direct calls and nginx (Debian's package, fetched into ~/.cache/modelship by the bench).
bench-router: setup
	node bench/router-bench.ts

bench-operator: setup kube-binaries
	node bench/operator-bench.ts

# The response cache on a Zipf-distributed repeated-input workload: none, in-process and Redis (Debian's
# redis-server) in the same run.
bench-cache: setup
	node bench/cache-bench.ts

# Drift monitoring and prediction logging on against off, on the MLP, in the same run.
bench-monitoring: setup
	node bench/monitoring-bench.ts

clean:
	rm -rf node_modules .tools examples/models/*.onnx
