# Two commands for a newcomer: `make demo` and `make test`. Everything they need is set up here.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NL      := $(BIN)/newsletter
OUT     := out/demo
EXAMPLE := examples/briefings/112-foreign-ministers.md

.PHONY: demo test lint typecheck pytest bench browser imapd spamassassin mta clean lock

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

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

pytest: $(STAMP) browser imapd spamassassin mta
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	@test -x /usr/sbin/smtp-sink || { echo "installing Postfix's smtp-sink"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null); }
	@test -x /usr/bin/wrk || { echo "installing Debian's wrk"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null); }
	@for b in render import send webhook search web clicks live; do echo "== bench/$$b.py"; $(BIN)/python -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV) out var .mypy_cache .ruff_cache .pytest_cache
