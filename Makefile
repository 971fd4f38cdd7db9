# `make run` installs and runs the platform; `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install kafka-jars clean

run: install kafka-jars
	$(BIN)/hps up

test: install kafka-jars
	bash deploy/install-prerequisites.sh --with-postgres --with-browser
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash deploy/install-prerequisites.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

kafka-jars: install
	$(BIN)/python -c "from deploy.kafka_local import install_jars; print('Kafka jars in', install_jars())"

clean:
	rm -rf $(VENV) .hps .pytest_cache
