# `make run` installs and runs the platform; `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every process of the suite, services started as subprocesses included, writes its data here.
export COVERAGE_FILE := $(CURDIR)/.coverage

.PHONY: run test coverage fuzz mutate bench install kafka-jars manifest-tools test-prerequisites clean

run: install kafka-jars
	$(BIN)/hps up

# The whole suite under coverage; fails if a money or reliability module falls below its floor.
test: install kafka-jars test-prerequisites manifest-tools
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine -q
	$(BIN)/coverage json -q -o .hps/coverage.json
	$(BIN)/python -m tests.coverage_floors .hps/coverage.json

# The suite, then the whole report: every module, and HTML in artifacts/coverage.
coverage: test
	$(BIN)/coverage report --sort=cover
	$(BIN)/coverage html -q -d artifacts/coverage

# The API fuzz test of the suite at length: at least 100,000 generated requests against the gateway,
# the finance ledger and ops; fails on any 5xx, hang or event published for a refused request.
fuzz: install kafka-jars test-prerequisites
	$(BIN)/python -m tests.fuzz.long_run --inputs 100000

# Mutation testing of the pure money modules ([tool.mutmut] in pyproject.toml); docs/testing.md has
# the score. Its own venv: mutmut needs a newer click than faust-streaming allows.
mutate:
	test -x .venv-mutate/bin/mutmut || ($(PYTHON) -m venv .venv-mutate && .venv-mutate/bin/pip install -q -e ".[mutation]")
	.venv-mutate/bin/mutmut run
	.venv-mutate/bin/mutmut results

# Every stage of the platform beside a raw client, on its own broker, PostgreSQL databases and
# `hps up`; prints one table and writes it into docs/benchmarks.md. BENCH_ARGS=--quick: a smoke run.
bench: install kafka-jars
	bash deploy/install-prerequisites.sh --with-postgres --with-wrk
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python -m bench $(BENCH_ARGS)

test-prerequisites:
	bash deploy/install-prerequisites.sh --with-postgres --with-browser --with-pdf --with-wrk

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash deploy/install-prerequisites.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

# The validators and schemas of tests/unit/test_deploy_manifests.py (kubeconform, kustomize, the
# Kubernetes, Strimzi, KEDA and Compose schemas), pinned; once per machine, then returns at once.
manifest-tools: install
	bash deploy/install-manifest-tools.sh

kafka-jars: install
	$(BIN)/python -c "from deploy.kafka_local import install_jars; print('Kafka jars in', install_jars())"

clean:
	rm -rf $(VENV) .venv-mutate mutants .hps .pytest_cache .coverage .coverage.* artifacts/coverage
