# Two commands do everything (see README): `make run` and `make test`.
# Each builds the virtual environment first when it is missing or pyproject.toml changed.
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format clean history docs

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.12 (pyenv: 'pyenv install 3.12')" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cluster,analysis,viz]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/qusayr run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# Everything behind the README's "How well does it match history?" (about 30 minutes on 2 cores):
# calibration on the whole record and on days 0-10 only, the civilians' exposure fitted to their
# dead, the calibrated baseline's validation,
# the counterfactual variants against it, the sensitivity screen and the competing sub-models
# scored on every pattern (experiments/patterns/sub-models.yaml); reports and figures are
# copied to docs/history/.
HISTORY := results/history
VARIANTS := attackers-5000 attackers-8000 no-hezbollah supply-open no-corridor
history: $(STAMP)
	$(BIN)/qusayr calibrate calibration --out $(HISTORY)/calibration --quiet
	$(BIN)/qusayr calibrate calibration --train-until 10 --out $(HISTORY)/calibration-until-d10 --quiet
	$(BIN)/qusayr calibrate civilians --out $(HISTORY)/calibration-civilians --quiet
	$(BIN)/qusayr validate al-qusayr-2013 --runs 50 --out $(HISTORY)/validate --quiet
	for v in $(VARIANTS); do \
	  $(BIN)/qusayr compare al-qusayr-2013 $$v --runs 50 --out $(HISTORY)/compare/$$v \
	    --ensembles $(HISTORY)/ensembles --quiet || exit 1; done
	$(BIN)/qusayr sensitivity calibration --method morris --replicates 2 --out $(HISTORY)/sensitivity
	$(BIN)/qusayr patterns sub-models --out $(HISTORY)/patterns --quiet
	mkdir -p docs/history
	cp $(HISTORY)/validate/validation.md $(HISTORY)/validate/*.png docs/history/
	cp $(HISTORY)/calibration/calibration.md $(HISTORY)/calibration/calibration.png docs/history/
	cp $(HISTORY)/calibration-until-d10/calibration.md docs/history/calibration-until-d10.md
	cp $(HISTORY)/calibration-civilians/calibration.md docs/history/calibration-civilians.md
	cp $(HISTORY)/sensitivity/sensitivity.md $(HISTORY)/sensitivity/sensitivity.png docs/history/
	cp $(HISTORY)/patterns/patterns.md docs/history/patterns.md
	for v in $(VARIANTS); do \
	  cp $(HISTORY)/compare/$$v/compare.md docs/history/compare-$$v.md; \
	  cp $(HISTORY)/compare/$$v/compare.png docs/history/compare-$$v.png; done

# The generated parameter tables of docs/odd.md (sim/odd.py): after changing a rule's parameters,
# their descriptions or the baseline's values.
docs: $(STAMP)
	$(BIN)/python -m sim.odd docs/odd.md

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
