# g2sd_mm: the two commands a newcomer needs.
#   make test   create/reuse .venv, run the whole test suite (CPU)
#   make demo   create/reuse .venv, run the G2SD demo on the embedded shapes data
#   make demo-quick   the same pipeline at smoke-test size (minutes; numbers not meaningful)
# The environment is (re)built only when requirements/, setup.py or the
# bootstrap script change, or when a previous install did not finish.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.g2sd-ready
PYTEST_ARGS ?=
# independent demo stages run side by side, one per core (tools/pipeline.py --jobs)
DEMO_JOBS ?= 2

.PHONY: venv test test-fast demo demo-quick data clean-venv

venv: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/tests.txt requirements/build.txt \
		requirements/mim.txt setup.py tools/setup_env.sh
	G2SD_VENV=$(VENV) bash tools/setup_env.sh

test: $(STAMP)
	PYTHONWARNINGS=ignore $(PY) -m pytest $(PYTEST_ARGS)

# everything except the end-to-end training runs
test-fast: $(STAMP)
	PYTHONWARNINGS=ignore $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) tools/pipeline.py pipelines/shapes_demo.py --jobs $(DEMO_JOBS)

demo-quick: $(STAMP)
	$(PY) tools/pipeline.py pipelines/shapes_demo_quick.py --jobs $(DEMO_JOBS)

data: $(STAMP)
	$(PY) tools/misc/make_shapes_data.py --out data/shapes

clean-venv:
	rm -rf $(VENV)
