# JavaScript plugins (sdk/js): the SDK's toolchain and the JavaScript
# examples (js-tool, js-api, js-provider: the provider template) and test plugins (js-faults, js-host-probe, js-container-probe), each built into a folder that drops straight
# into a plugin directory: $(JS_PLUGINS)/<name>/{plugin.toml,<name>.wasm}.
#
#   make js-plugins    npm ci in sdk/js (once), then build what changed
#   make js-test       the SDK's unit tests (node --test; part of make test)
#
# Needs Node.js >= 18 and npm (Debian: apt-get install nodejs npm). The
# toolchain is @bytecodealliance/componentize-js, pinned in
# sdk/js/package-lock.json and installed into sdk/js/node_modules.

JS_SDK := sdk/js
JS_PLUGINS := $(CARGO_TARGET_DIR)/js-plugins
JS_TOOLCHAIN := $(JS_SDK)/node_modules/.hanzo-installed
JS_SDK_SOURCES := $(wildcard $(JS_SDK)/src/*.js) $(JS_SDK)/build.mjs $(wildcard wit/since_v0.3.4/*.wit $(wildcard wit/since_v0.3.4/deps/*/*.wit) sdk/js/build.mk)
JS_BUILD := node $(JS_SDK)/build.mjs

.PHONY: js-plugins js-toolchain js-test

js-toolchain: $(JS_TOOLCHAIN)

js-test: $(JS_TOOLCHAIN)
	cd $(JS_SDK) && node --test test/

$(JS_TOOLCHAIN): $(JS_SDK)/package.json $(JS_SDK)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get install -y nodejs npm; \
		else echo "JavaScript plugins need Node.js >= 18 and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; fi; }
	cd $(JS_SDK) && npm ci --no-audit --no-fund
	touch $@

js-plugins: $(JS_PLUGINS)/js-tool/js_tool.wasm $(JS_PLUGINS)/js-api/js_api.wasm $(JS_PLUGINS)/js-provider/js_provider.wasm \
	$(JS_PLUGINS)/js-faults/js_faults.wasm $(JS_PLUGINS)/js-faults-v2/js_faults.wasm \
	$(JS_PLUGINS)/js-host-probe/js_host_probe.wasm $(JS_PLUGINS)/js-container-probe/js_container_probe.wasm

# One rule per plugin: its sources, the SDK and the WIT.
$(JS_PLUGINS)/js-tool/js_tool.wasm: $(JS_TOOLCHAIN) $(JS_SDK_SOURCES) $(wildcard examples/js-tool/src/*.js) examples/js-tool/plugin.toml
	$(JS_BUILD) examples/js-tool --out $(JS_PLUGINS)/js-tool

$(JS_PLUGINS)/js-api/js_api.wasm: $(JS_TOOLCHAIN) $(JS_SDK_SOURCES) $(wildcard examples/js-api/src/*.js) examples/js-api/plugin.toml
	$(JS_BUILD) examples/js-api --out $(JS_PLUGINS)/js-api

# The provider example is the provider template, as `plugin new js-provider
# --kind provider --lang js` writes it (the SDK copied into the project).
JS_PROVIDER_PROJECT := $(JS_PLUGINS)/new/js-provider
$(JS_PLUGINS)/js-provider/js_provider.wasm: $(JS_TOOLCHAIN) $(JS_SDK_SOURCES) $(wildcard $(JS_SDK)/templates/provider/src/*.js $(JS_SDK)/templates/common/*) $(JS_SDK)/templates/provider/plugin.toml
	rm -rf $(JS_PROVIDER_PROJECT)
	mkdir -p $(JS_PROVIDER_PROJECT)/sdk
	cp -r $(JS_SDK)/templates/common/. $(JS_SDK)/templates/provider/. $(JS_PROVIDER_PROJECT)/
	find $(JS_PROVIDER_PROJECT) -type f -exec sed -i 's/{{name_snake}}/js_provider/g; s/{{name}}/js-provider/g; s/{{kind}}/provider/g' {} +
	cp $(JS_SDK)/src/*.js $(JS_PROVIDER_PROJECT)/sdk/
	$(JS_BUILD) $(JS_PROVIDER_PROJECT) --out $(JS_PLUGINS)/js-provider

$(JS_PLUGINS)/js-faults/js_faults.wasm: $(JS_TOOLCHAIN) $(JS_SDK_SOURCES) $(wildcard tests/plugins/js-faults/src/*.js) tests/plugins/js-faults/plugin.toml
	$(JS_BUILD) tests/plugins/js-faults --out $(JS_PLUGINS)/js-faults

$(JS_PLUGINS)/js-host-probe/js_host_probe.wasm: $(JS_TOOLCHAIN) $(JS_SDK_SOURCES) $(wildcard tests/plugins/js-host-probe/src/*.js) tests/plugins/js-host-probe/plugin.toml
	$(JS_BUILD) tests/plugins/js-host-probe --out $(JS_PLUGINS)/js-host-probe

$(JS_PLUGINS)/js-container-probe/js_container_probe.wasm: $(JS_TOOLCHAIN) $(JS_SDK_SOURCES) $(wildcard tests/plugins/js-container-probe/src/*.js) tests/plugins/js-container-probe/plugin.toml
	$(JS_BUILD) tests/plugins/js-container-probe --out $(JS_PLUGINS)/js-container-probe

$(JS_PLUGINS)/js-faults-v2/js_faults.wasm: $(JS_TOOLCHAIN) $(JS_SDK_SOURCES) $(wildcard tests/plugins/js-faults/src/*.js) tests/plugins/js-faults/plugin.toml
	$(JS_BUILD) tests/plugins/js-faults --entry src/v2.js --out $(JS_PLUGINS)/js-faults-v2
