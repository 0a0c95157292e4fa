# Two commands for a newcomer: `make demo` and `make test`. Everything they need is set up here.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NL      := $(BIN)/newsletter
OUT     := out/demo
EXAMPLE := examples/briefings/112-foreign-ministers.md

# The newest Python this machine has (PATH or pyenv; override: make test-newest NEWEST_PY=...),
# in a venv of its own named after its version (.venv313 for 3.13). Looked up only when used.
NEWEST_PY   ?= $(shell .ci/newest-python)
NEWEST_TAG   = $(if $(NEWEST_PY),$(shell $(NEWEST_PY) -c 'import sys; print("%d%d" % sys.version_info[:2])'))
NEWEST_VENV  = .venv$(NEWEST_TAG)
# What `make test` runs there after the whole suite on .venv's Python: the tests that depend
# most on the interpreter (helper processes and their start method, pickling across them,
# the CLI's start-up, the wheel, C extensions in rendering, signing and passwords): 257 of
# the suite's ~1,500 tests, so CI pays minutes, not a second full run. `make test-newest`
# runs everything.
NEWEST_SUBSET := tests/campaigns/test_pool.py tests/donations/test_receipts_helper_process.py \
  tests/test_cli_startup.py tests/test_startup.py tests/test_wheel.py tests/test_database.py \
  tests/digest tests/mail tests/console/test_signin.py
NEWEST_TESTS ?=

.PHONY: demo test lint typecheck pytest test-newest newest-subset bench browser imapd spamassassin mta clean lock

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

.venv3%/.installed: pyproject.toml constraints.txt
	test -x $(@D)/bin/python || $(NEWEST_PY) -m venv $(@D)
	$(@D)/bin/python -m pip install --quiet --upgrade pip
	$(@D)/bin/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# Re-pin constraints.txt to the newest releases pyproject.toml allows (then run make test).
# The scratch venv gets a fresh private directory (no fixed /tmp name another user could own).
lock:
	@venv=$$(mktemp -d) && trap 'rm -rf "$$venv"' EXIT && \
	  $(PY) -m venv "$$venv" && \
	  "$$venv/bin/pip" install --quiet -e '.[test]' && \
	  { sed -n '1,2p' constraints.txt; "$$venv/bin/pip" freeze --exclude-editable; } > constraints.txt.new && \
	  mv constraints.txt.new constraints.txt

# Debian's Chromium drives the page and email rendering tests (Playwright never downloads a browser).
browser:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); }

# Debian's Dovecot is the real IMAP server the bounce-mailbox tests start privately (never the system one).
# Installing the package starts and enables the system Dovecot (ports 143/993 on every interface, also
# through dovecot.socket); the tests never use it, so it is stopped and disabled right after installing.
imapd:
	@test -x /usr/sbin/dovecot || { echo "installing Debian's dovecot-imapd (its system service left stopped)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null && \
	  { systemctl disable --now dovecot.socket dovecot.service 2>/dev/null || true; \
	    service dovecot stop >/dev/null 2>&1 || true; \
	    update-rc.d dovecot disable >/dev/null 2>&1 || true; }; }

# Debian's SpamAssassin scores the seed digest with its local rules (spamassassin -L) in the tests.
spamassassin:
	@test -x /usr/bin/spamassassin || { echo "installing Debian's spamassassin"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends spamassassin >/dev/null); }

# Debian's Postfix makes real bounces for the end-to-end bounce test, in a private instance of its
# own (never the system one, which is stopped and disabled right after installing, as for Dovecot).
mta:
	@test -x /usr/sbin/postfix || { echo "installing Debian's postfix (its system service left stopped)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null && \
	  { systemctl disable --now postfix.service 2>/dev/null || true; \
	    service postfix stop >/dev/null 2>&1 || true; \
	    update-rc.d postfix disable >/dev/null 2>&1 || true; }; }

demo: $(STAMP)
	$(BIN)/python -m newsletter.demo --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check newsletter subscribers tests bench
	$(BIN)/ruff format --check newsletter subscribers tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Coverage of the package (the tests' own process; settings in pyproject.toml) is printed
# at the end, and the run fails below its floor (fail_under).
pytest: $(STAMP) browser imapd spamassassin mta
	$(BIN)/pytest -q --cov --cov-report=term:skip-covered

# The suite (or NEWEST_TESTS) on the newest Python; without one newer than .venv's, a loud
# skip (a warning annotation in CI), never a silent one.
test-newest: browser imapd spamassassin mta
	@newest='$(NEWEST_PY)'; base="$$($(PY) -c 'import sys; print("%d%d" % sys.version_info[:2])')"; \
	if [ -z "$$newest" ] || [ "$(NEWEST_TAG)" = "$$base" ]; then \
	  msg="SKIPPED test-newest: no Python newer than $$($(PY) --version 2>&1) on this machine (set NEWEST_PY=/path/to/python3.X)"; \
	  echo "******** $$msg ********" >&2; \
	  if [ -n "$${GITHUB_ACTIONS:-}" ]; then echo "::warning::$$msg"; fi; \
	else \
	  echo "== the suite on $$($$newest --version) ($(NEWEST_VENV)): $(or $(NEWEST_TESTS),everything)"; \
	  $(MAKE) --no-print-directory $(NEWEST_VENV)/.installed NEWEST_PY="$$newest" && \
	  $(NEWEST_VENV)/bin/pytest -q $(NEWEST_TESTS); \
	fi

newest-subset:
	@$(MAKE) --no-print-directory test-newest NEWEST_TESTS="$(NEWEST_SUBSET)"

test: lint typecheck pytest newest-subset

bench: $(STAMP)
	@test -x /usr/sbin/smtp-sink || { echo "installing Postfix's smtp-sink"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null); }
	@test -x /usr/bin/wrk || { echo "installing Debian's wrk"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null); }
	@for b in render import send webhook search web clicks live; do echo "== bench/$$b.py"; $(BIN)/python -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV) .venv3[0-9]* out var .mypy_cache .ruff_cache .pytest_cache
