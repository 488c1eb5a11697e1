# Two commands do everything (see README): `make run` and `make test`.
# Each builds the virtual environment first when it is missing or pyproject.toml / constraints.txt
# changed: `make run` with what running needs (the package alone), `make test` with every extra (the
# tests, the analyses, the page, Dask). Versions come from constraints.txt, so that a report of
# `make history` names the environment it came from (its commit holds the file).
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
PIP_INSTALL = $(BIN)/pip install --quiet --constraint constraints.txt

.PHONY: run test browser lint format clean history docs constraints

$(BIN)/pip:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.12 (pyenv: 'pyenv install 3.12')" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/pip
	@echo "installing qusayr into $(VENV) (about 200 MB, a minute or two)"
	$(PIP_INSTALL) -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/pip
	@echo "installing qusayr with every extra into $(VENV) (about 1.3 GB, two to four minutes)"
	$(PIP_INSTALL) -e '.[dev,cluster,analysis,viz]'
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/qusayr run

# The page's browser test needs a real browser (Playwright cannot download its own here): Debian's
# chromium, installed when missing and this is root, else a stop with the command to run.
browser:
	@command -v chromium >/dev/null || command -v "$$QUSAYR_CHROMIUM" >/dev/null || { \
	  if [ "$$(id -u)" -eq 0 ]; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }; \
	  else \
	    echo "the browser test needs chromium: run 'sudo apt-get install -y chromium' (or set QUSAYR_CHROMIUM)" >&2; \
	    exit 2; \
	  fi; }

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	CI=true $(BIN)/pytest

# constraints.txt from a venv built with every extra (after changing pyproject.toml's dependencies)
constraints: $(STAMP)
	{ sed -n '1,3p' constraints.txt; $(BIN)/pip freeze --exclude-editable; } > constraints.new && mv constraints.new constraints.txt

# Everything behind the README's "How well does it match history?" (at most 90 minutes on 2 cores):
# history matching of every uncertain input to the whole record (with simulation-based
# calibration) and to days 0-7 only (the forecast of the rest), the civilians' exposure fitted to
# their dead, the baseline's validation, alone and with its inputs drawn from the posterior,
# the counterfactual variants against it, the sensitivity screen and the competing sub-models
# scored on every pattern (experiments/patterns/sub-models.yaml); reports and figures are
# copied to docs/history/.
HISTORY := results/history
VARIANTS := attackers-5000 attackers-8000 no-hezbollah supply-open no-corridor
history: $(STAMP)
	$(BIN)/qusayr match history-matching --out $(HISTORY)/match --quiet
	$(BIN)/qusayr match history-matching --train-until 7 --first-wave $(HISTORY)/match/wave-1 \
	  --out $(HISTORY)/match-until-d07 --quiet
	$(BIN)/qusayr calibrate civilians --out $(HISTORY)/calibration-civilians --quiet
	$(BIN)/qusayr validate al-qusayr-2013 --runs 50 --out $(HISTORY)/validate --quiet
	$(BIN)/qusayr validate al-qusayr-2013 --runs 200 --posterior $(HISTORY)/match/posterior.parquet \
	  --out $(HISTORY)/validate-posterior --quiet
	for v in $(VARIANTS); do \
	  $(BIN)/qusayr compare al-qusayr-2013 $$v --runs 50 --out $(HISTORY)/compare/$$v \
	    --ensembles $(HISTORY)/ensembles --quiet || exit 1; done
	$(BIN)/qusayr sensitivity calibration --method morris --replicates 2 --out $(HISTORY)/sensitivity
	$(BIN)/qusayr patterns sub-models --out $(HISTORY)/patterns --quiet
	mkdir -p docs/history
	cp $(HISTORY)/validate/validation.md $(HISTORY)/validate/*.png docs/history/
	cd $(HISTORY)/match && cp match.md calibration.json posterior.parquet sbc.json loo.csv sobol.csv \
	  posterior-pairs.png posterior-control.png $(CURDIR)/docs/history/
	cp $(HISTORY)/match-until-d07/forecast.json docs/history/
	cp $(HISTORY)/match-until-d07/match.md docs/history/match-until-d07.md
	cp $(HISTORY)/match-until-d07/posterior-control.png docs/history/forecast-control.png
	cp $(HISTORY)/validate-posterior/validation.md docs/history/validation-posterior.md
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
