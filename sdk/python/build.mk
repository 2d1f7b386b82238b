# Python plugins: sdk/python (the `hanzo_node` package) built into components
# by componentize-py from PyPI, pinned. Included by the top-level Makefile.
#
#   make python-plugins    every Python example, test plugin and template below,
#                          after the SDK's unit tests (python-sdk-check)
#   make python-tool       examples/python-tool     -> $(PY_PLUGINS_DIR)/python-tool/
#   make python-provider   examples/python-provider -> $(PY_PLUGINS_DIR)/python-provider/
#
# Each output folder holds plugin.toml and the .wasm: copy it into a node's
# plugin directory. The toolchain is a venv of its own under the cache dir,
# made once (python3 with venv and pip, as on Debian: python3-venv).

COMPONENTIZE_PY_VERSION := 0.25.1
PY_TOOLCHAIN ?= $(HOME)/.cache/hanzo-node/componentize-py-$(COMPONENTIZE_PY_VERSION)
COMPONENTIZE_PY := $(PY_TOOLCHAIN)/bin/componentize-py
PY_PLUGINS_DIR := $(CARGO_TARGET_DIR)/python-plugins
PY_SDK_SRC := sdk/python/src
# The WIT version the Python SDK is built against (the node loads it and the older).
PY_WIT_VERSION := 0.3.4
PY_WIT := wit/since_v$(PY_WIT_VERSION)
PY_SDK_FILES := $(wildcard $(PY_SDK_SRC)/hanzo_node/*.py)
# With this file: a new PY_WIT_VERSION rebuilds everything built against the old.
WIT_FILES := $(wildcard $(PY_WIT)/*.wit $(PY_WIT)/deps/*/*.wit) sdk/python/build.mk

.PHONY: python-toolchain python-plugins python-sdk-check

python-toolchain: $(PY_TOOLCHAIN)/.installed

$(PY_TOOLCHAIN)/.installed:
	python3 -m venv $(PY_TOOLCHAIN)
	$(PY_TOOLCHAIN)/bin/pip install --quiet --disable-pip-version-check componentize-py==$(COMPONENTIZE_PY_VERSION)
	touch $@

# $(call py-plugin,TARGET,SOURCE_DIR,WORLD,WASM_NAME,EXTRA_PYTHON_PATHS)
# builds SOURCE_DIR/app.py for hanzo:node/WORLD into $(PY_PLUGINS_DIR)/TARGET/
# (WASM_NAME.wasm + SOURCE_DIR/plugin.toml); EXTRA_PYTHON_PATHS come first
# on the module path.
define py-plugin
$(PY_PLUGINS_DIR)/$(1)/$(4).wasm: $(wildcard $(2)/*.py) $(wildcard $(5)/*.py) $(2)/plugin.toml $(PY_SDK_FILES) $(WIT_FILES) $(PY_TOOLCHAIN)/.installed
	@mkdir -p $$(@D)
	$(COMPONENTIZE_PY) -d $(PY_WIT) -w hanzo:node/$(3)@$(PY_WIT_VERSION) componentize $(addprefix -p ,$(5)) -p $(2) -p $(PY_SDK_SRC) app -o $$@.tmp
	mv $$@.tmp $$@
	cp $(2)/plugin.toml $$(@D)/plugin.toml
$(1): $(PY_PLUGINS_DIR)/$(1)/$(4).wasm
.PHONY: $(1)
python-plugins: $(1)
endef

$(eval $(call py-plugin,python-tool,examples/python-tool,tool,python_tool,))
$(eval $(call py-plugin,python-provider,examples/python-provider,provider,python_provider,))
$(eval $(call py-plugin,python-api,examples/python-api,api,python_api,))
$(eval $(call py-plugin,py-faults,tests/python-plugins/py-faults,tool,py_faults,))
$(eval $(call py-plugin,py-faults-v2,tests/python-plugins/py-faults,tool,py_faults,tests/python-plugins/py-faults/v2))
$(eval $(call py-plugin,py-host-probe,tests/python-plugins/py-host-probe,api,py_host_probe,))
$(eval $(call py-plugin,py-container-probe,tests/python-plugins/py-container-probe,tool,py_container_probe,))

# The templates of `hanzo-node plugin new --lang python`, instantiated as the
# CLI does (common/ and the kind's folder, NAME, its snake_case form and the
# kind substituted, wit/ and the SDK copied
# in as wit/ and lib/hanzo_node/), then built with the project's own Makefile:
# $(PY_PLUGINS_DIR)/py-template-<kind>/ is what `make` in a new project makes.
PY_TEMPLATE_FILES := $(shell find sdk/python/templates -type f)
define py-template
$(PY_PLUGINS_DIR)/py-template-$(1)/py_template_$(1).wasm: $(PY_TEMPLATE_FILES) $(PY_SDK_FILES) $(WIT_FILES) $(PY_TOOLCHAIN)/.installed
	rm -rf $(PY_PLUGINS_DIR)/new/py-template-$(1)
	mkdir -p $(PY_PLUGINS_DIR)/new/py-template-$(1)/lib
	cp -r sdk/python/templates/common/. sdk/python/templates/$(1)/. $(PY_PLUGINS_DIR)/new/py-template-$(1)/
	find $(PY_PLUGINS_DIR)/new/py-template-$(1) -type f -exec sed -i 's/{{name_snake}}/py_template_$(1)/g; s/{{name}}/py-template-$(1)/g; s/{{kind}}/$(1)/g' {} +
	cp -r $(PY_WIT) $(PY_PLUGINS_DIR)/new/py-template-$(1)/wit
	cp -r $(PY_SDK_SRC)/hanzo_node $(PY_PLUGINS_DIR)/new/py-template-$(1)/lib/
	rm -rf $(PY_PLUGINS_DIR)/new/py-template-$(1)/lib/hanzo_node/__pycache__
	$(MAKE) -C $(PY_PLUGINS_DIR)/new/py-template-$(1) TOOLCHAIN=$(PY_TOOLCHAIN)
	mkdir -p $$(@D)
	cp $(PY_PLUGINS_DIR)/new/py-template-$(1)/dist/py-template-$(1)/* $$(@D)/
py-template-$(1): $(PY_PLUGINS_DIR)/py-template-$(1)/py_template_$(1).wasm
.PHONY: py-template-$(1)
python-plugins: py-template-$(1)
endef

$(eval $(call py-template,tool))
$(eval $(call py-template,provider))
$(eval $(call py-template,api))

# The SDK's pure-Python parts (SSE decoder, schemas from type hints, routing,
# content parts, the OpenAI wire format, the provider export) tested with the
# host's python3, outside any component: the WIT records are the ones
# componentize-py generates (`bindings`), for the provider and api worlds.
PY_BINDINGS := $(PY_PLUGINS_DIR)/bindings
$(PY_BINDINGS)/.generated: $(WIT_FILES) $(PY_TOOLCHAIN)/.installed
	rm -rf $(PY_BINDINGS)
	$(COMPONENTIZE_PY) -q -d $(PY_WIT) -w hanzo:node/provider@$(PY_WIT_VERSION) -w hanzo:node/api@$(PY_WIT_VERSION) bindings $(PY_BINDINGS)
	touch $@

python-sdk-check: $(PY_BINDINGS)/.generated
	PYTHONPATH=$(PY_BINDINGS) python3 -m unittest discover -s sdk/python/tests -t sdk/python
	python3 -m doctest sdk/python/src/hanzo_node/sse.py

python-plugins: python-sdk-check
