# TierCare: `make demo` runs the product, `make test` runs every test (SQLite, then PostgreSQL).
# Everything a fresh machine lacks is installed by these targets (see docs/dependencies.md).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/tiercare
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test test-sqlite test-postgres test-spark lint runtime-deps bench deps static messages system-deps postgres clean

demo: deps runtime-deps
	$(VENV)/bin/tiercare demo

test: deps system-deps postgres
	$(PY) -m pytest -n 2 -q tests
	TIERCARE_DATABASE_URL=$(PG_URL) $(PY) -m pytest -n 2 -q tests

test-sqlite: deps system-deps
	$(PY) -m pytest -n 2 -q tests

test-postgres: deps system-deps postgres
	TIERCARE_DATABASE_URL=$(PG_URL) $(PY) -m pytest -n 2 -q tests

# The indicator engine on Spark in local mode (issue 5): the same definitions as DuckDB and
# PostgreSQL, compared cell by cell. Spark needs a JVM (Debian's default-jre-headless) and
# pyspark, installed here only: the product does not depend on them.
PYSPARK_VERSION := 4.3.0
test-spark: deps system-deps
	@command -v java >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null)
	$(PY) -m pip install --quiet --disable-pip-version-check pyspark==$(PYSPARK_VERSION)
	TIERCARE_TEST_SPARK=1 $(PY) -m pytest -q -p no:cacheprovider tests/indicators/test_engine_spark.py

lint: deps
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src

bench: deps postgres
	$(PY) bench/run.py

deps: $(VENV)/.installed static messages

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static: node_modules/.installed
	node frontend/build_static.mjs

messages: $(VENV)/.installed
	@command -v msgfmt >/dev/null || $(MAKE) system-deps
	cd src/tiercare && ../../$(PY) -m django compilemessages --settings=tiercare.settings -v 0

# Debian packages the product and its tests need: chromium for the browser journeys, CJK fonts
# so Chinese renders (pages and PDF reports), gettext for compilemessages, and Pango with
# HarfBuzz's subsetter for WeasyPrint (the quarterly report's PDF). Installed only when missing.
PDF_LIBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
system-deps: runtime-deps
	@if ! command -v chromium >/dev/null || ! command -v msgfmt >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium gettext >/dev/null; \
	fi

# Debian packages the product itself uses: CJK fonts and Pango for the PDF reports, the
# sqlite3 shell that copies SQLite tables into the indicator snapshot (ADR 0018).
RUNTIME_DEBS := fonts-noto-cjk sqlite3 $(PDF_LIBS)
runtime-deps:
	@if ! dpkg -s $(RUNTIME_DEBS) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(RUNTIME_DEBS) >/dev/null; \
	fi

# Start the local PostgreSQL cluster if it is not answering.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
	@pg_isready -h 127.0.0.1 -p 5432

clean:
	rm -rf $(VENV) node_modules src/tiercare/web/static/vendor var
