# tonearm: `make serve` runs the local stack, `make test` runs every check. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The dev environment is installed from the lock, never from pyproject.toml's ranges: `make lock` writes it.
LOCK := requirements/dev.txt
PIP_LOCK := requirements/pip.txt
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes
STAMP := $(VENV)/.installed-$(shell cat $(PIP_LOCK) $(LOCK) | sha256sum | cut -c1-12)
PORT ?= 3000
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: serve test lint typecheck validate unit bench build clean system-deps lock lock-upgrade lock-check

# FluidSynth + the FluidR3 GM, FluidR3 GS and TimGM6mb SoundFonts (Debian packages): generation and the
# tagging tests render with FluidR3 GM, the separation data recipe (models/separation) with all three, so
# test, serve and bench install them when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@command -v fluidsynth >/dev/null && test -f /usr/share/sounds/sf2/FluidR3_GM.sf2 && \
		test -f /usr/share/sounds/sf2/FluidR3_GS.sf2 && test -f /usr/share/sounds/sf2/TimGM6mb.sf2 || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq fluidsynth fluid-soundfont-gm \
			fluid-soundfont-gs timgm6mb-soundfont)

# Debian's chromium and its chromedriver: tests/browser drive the page and /docs in it, headless and
# offline (Selenium from the dev lock talks to the driver; nothing is downloaded at test time).
.PHONY: browser-deps
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver)

$(STAMP): $(PIP_LOCK) $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r $(PIP_LOCK)
	$(PIP_INSTALL) -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

# Every lock (dev, bench, the layer, each image) must be written from the current pyproject.toml and
# requirement inputs: stdlib only, so it runs before anything is installed and fails fast when stale.
lock-check:
	$(PYTHON) requirements/lockfiles.py check

# Re-resolve every lock with uv (pinned in the dev lock), keeping current pins where they still fit;
# lock-upgrade moves every pin to its newest release.
lock: $(STAMP)
	$(BIN)/python requirements/lockfiles.py compile

lock-upgrade: $(STAMP)
	$(BIN)/python requirements/lockfiles.py compile --upgrade

# the worker image's glibc allocator settings (functions/worker/Dockerfile: large numpy temporaries from
# the heap, freed heap kept), so the local stack's jobs run as fast as the image's
serve: $(STAMP) system-deps
	MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456 \
		$(BIN)/tonearm serve --port $(PORT) $(if $(HTTPS),--https)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

validate: $(STAMP)
	$(BIN)/sam validate --lint --template template.yaml

test: lock-check lint typecheck validate build system-deps browser-deps image-check
	$(BIN)/pytest -q

# The long fuzz runs (tests marked `fuzz`: the hostile audio files that cost gigabytes to decode, on every
# audio route); `make test` runs the bounded ones (tests/fuzz) and skips these.
.PHONY: fuzz
fuzz: $(STAMP) system-deps
	$(BIN)/pytest -q -m fuzz tests/fuzz

# Each Lambda container image checked without Docker (tools/image_check.py): its lock installed for the
# base image's platform (cached in .venv-images/), its COPY lines laid out, every function started as Lambda
# starts it in an interpreter that sees only the image, fed its sample events against moto. The report
# (sizes, cold starts) goes to .venv-images/images.md; `make bench` writes it to bench/results/images.md.
# system-deps: the generator image renders with FluidSynth.
.PHONY: image-check
image-check: $(STAMP) system-deps
	$(BIN)/python -m tools.image_check --report .venv-images/images.md

# bench-setup: FluidSynth + the SoundFonts (apt) and the `bench` extra, each only when missing/stale. The
# separation bench renders its held-out clips with csound's GM bank, a SoundFont no training uses.
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cat requirements/bench.txt | sha256sum | cut -c1-12)
.PHONY: bench-setup
$(BENCH_STAMP): $(STAMP) requirements/bench.txt
	$(PIP_INSTALL) -r requirements/bench.txt
	@rm -f $(VENV)/.bench-installed-* && touch $@

bench-setup: $(BENCH_STAMP) system-deps
	@test -f /usr/share/sounds/sf2/sf_GMbank.sf2 || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq csound-soundfont)

bench: bench-setup
	$(BIN)/python bench/job_roundtrip.py --runs 5 --out bench/results/job_roundtrip.json
	$(BIN)/python -m bench.analysis.run --clips 48 --set both --out bench/results/analysis.json
	$(BIN)/python -m bench.transcription.run --out bench/results/transcription.json
	$(BIN)/python -m bench.tagging.run --out bench/results/tagging.json
	$(BIN)/python -m bench.generation.run --out bench/results/generation.json
	$(BIN)/python -m bench.prediction.run --tracks 1000 --out bench/results/prediction.json
	$(BIN)/python -m bench.separation.run --out bench/results/separation.json
	$(BIN)/python -m bench.separation.real --out bench/results/separation_real.json
	$(BIN)/python -m tools.image_check --report bench/results/images.md
	$(BIN)/python -m bench.cold_start --runs 7 --out bench/results/cold_start.json

# sam build of the layer and every zip function, one by one (the image function needs a Docker engine)
ZIP_FUNCTIONS = $(shell $(BIN)/python -c "from tonearm.local_stack.template import LocalTemplate as T; \
	print(' '.join(k for k, r in T(__import__('pathlib').Path('template.yaml')).resources.items() \
	if r['Type'] == 'AWS::Serverless::Function' and r['Properties'].get('PackageType') != 'Image'))")
build: $(STAMP)
	$(BIN)/sam build CoreLayer
	for f in $(ZIP_FUNCTIONS); do $(BIN)/sam build $$f || exit 1; done

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .tonearm
