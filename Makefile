# `sam build` targets (BuildMethod: makefile in template.yaml; docs/deploy.md "2. Build").
#
# SAM runs `make --makefile scripts/sam/<Architecture>/Makefile build-<LogicalId>` once per function,
# with ARTIFACTS_DIR set. That per-architecture Makefile (picked by the template's
#   ProjectRootDirectory: !Sub scripts/sam/${Architecture}
# so it follows the Architecture parameter) sets ARCH and includes this file. Every target runs
# scripts/sam-build.sh, which runs ONE `cargo lambda build --release` of every function
# (./scripts/lambda-build.sh: the workspace's default members, so no SQLite adapter) - a no-op
# after the first function - checks the bootstrap's ELF machine against ARCH and copies it into
# ARTIFACTS_DIR. tests/template_check.py checks there is a target for every function.
#
# By hand: make build-SalesApiFunction ARCH=x86_64 ARTIFACTS_DIR=/tmp/sales-api

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
SAM_BUILD = "$(ROOT)/scripts/sam-build.sh" "$(ARCH)"

.PHONY: help
help:
	@sed -n '1,12p' "$(ROOT)/Makefile"

# build-<LogicalId>: ; @$(SAM_BUILD) <binary>   (the function's Metadata.BuildProperties.Binary)
.PHONY: build-SalesApiFunction build-RestockFunction build-FactoryOrdererFunction build-OutboxRelayFunction
.PHONY: build-ApiCaptureFunction build-ExporterFunction build-MigrateFunction build-FactorySimFunction
.PHONY: build-DeployHookFunction
build-SalesApiFunction: ; @$(SAM_BUILD) sales-api
build-RestockFunction: ; @$(SAM_BUILD) restock
build-FactoryOrdererFunction: ; @$(SAM_BUILD) factory-orderer
build-OutboxRelayFunction: ; @$(SAM_BUILD) outbox-relay
build-ApiCaptureFunction: ; @$(SAM_BUILD) api-capture
build-ExporterFunction: ; @$(SAM_BUILD) exporter
build-MigrateFunction: ; @$(SAM_BUILD) migrate
build-FactorySimFunction: ; @$(SAM_BUILD) factory-sim
build-DeployHookFunction: ; @$(SAM_BUILD) deploy-hook
