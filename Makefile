# certfleet: hand-written Makefile.
#
# A developer needs no configure step: `make`, `make check`, `make demo` work
# from a clean clone with the defaults below.  A packager runs
#   autoconf && ./configure --prefix=/usr --sysconfdir=/etc
#   make && make install DESTDIR=...
# and configure writes config.mk, which overrides these defaults.  The
# Debian package (debian/, `make deb`) is built exactly that way, so what
# `make install` installs and what the package holds are one list.

prefix        ?= /usr/local
exec_prefix   ?= $(prefix)
sbindir       ?= $(exec_prefix)/sbin
bindir        ?= $(exec_prefix)/bin
sysconfdir    ?= $(prefix)/etc
localstatedir ?= /var
datarootdir   ?= $(prefix)/share
mandir        ?= $(datarootdir)/man
docdir        ?= $(datarootdir)/doc/certfleet
systemdunitdir ?= /lib/systemd/system
sysusersdir   ?= $(prefix)/lib/sysusers.d
bashcompdir   ?= $(datarootdir)/bash-completion/completions
CC            ?= cc
PKG_CONFIG    ?= pkg-config

-include config.mk

VERSION := 0.1.0
PKGS    := openssl libcurl libcjson yaml-0.1 libsystemd

# Debian's libev-dev ships no .pc file: use pkg-config when it has one,
# plain -lev otherwise.
EV_LIBS   := $(shell $(PKG_CONFIG) --exists libev 2>/dev/null && $(PKG_CONFIG) --libs libev || echo -lev)
EV_CFLAGS := $(shell $(PKG_CONFIG) --exists libev 2>/dev/null && $(PKG_CONFIG) --cflags libev)

DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) $(EV_CFLAGS)
DEP_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) $(EV_LIBS) -lresolv -lpthread -lm
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) $(DEP_CFLAGS) \
           -DCERTFLEET_VERSION='"$(VERSION)"' \
           -DCERTFLEET_SYSCONFDIR='"$(sysconfdir)"' \
           -DCERTFLEET_LOCALSTATEDIR='"$(localstatedir)"'

# src/ has one folder per layer (see README, Layout) and the two programs'
# main files at its top; tests/FOLDER/check_MODULE.c mirrors
# src/FOLDER/MODULE.c.  Headers are found by name in every folder
# (#include "acme.h"), with absolute paths so a test script can reuse
# ALL_CFLAGS from anywhere.
BUILD := build
SRCDIRS := $(sort $(patsubst %/,%,$(dir $(wildcard src/*/*.c))))
SRCS  := $(sort $(wildcard src/*.c src/*/*.c))
HDRS  := $(wildcard src/*.h src/*/*.h)
MAINS := src/certfleetd.c src/certfleetctl.c
LIBSRCS := $(filter-out $(MAINS),$(SRCS))
LIBOBJS := $(LIBSRCS:src/%.c=$(BUILD)/%.o)
TESTSRCS := $(sort $(wildcard tests/*/check_*.c))
TESTBINS := $(TESTSRCS:tests/%.c=$(BUILD)/tests/%)
# Programs the integration tests run (built by the pattern rule below).
TESTHELPERS := $(BUILD)/tests/net/etcd-driver
ALL_CFLAGS += $(addprefix -I$(CURDIR)/,src $(SRCDIRS))

all: deps-check $(BUILD)/certfleetd $(BUILD)/certfleetctl

# Fails early with the exact apt-get line when a library is missing.
deps-check:
	@build-aux/ensure-deps --check-build

# make V=1 shows the full commands.
Q := $(if $(V),,@)

$(BUILD)/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libcertfleet.a: $(LIBOBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/certfleetd: $(BUILD)/certfleetd.o $(BUILD)/libcertfleet.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

$(BUILD)/certfleetctl: $(BUILD)/certfleetctl.o $(BUILD)/libcertfleet.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

# Every .c prerequisite is compiled in: a suite that needs a shared test
# harness (the scripted CA, tests/fake_ca.c) lists it below.
$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(BUILD)/libcertfleet.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -I$(CURDIR)/tests \
		-DTEST_DATA_DIR='"$(CURDIR)/tests/data"' \
		-o $@ $(filter %.c,$^) $(BUILD)/libcertfleet.a $(DEP_LIBS) $(CHECK_LIBS)

$(BUILD)/tests/acme/check_acme_order $(BUILD)/tests/acme/check_acme_account \
    $(BUILD)/tests/acme/check_acme_client: tests/fake_ca.c

# Installs missing Debian packages (as root) or prints the apt-get line.
deps:
	@build-aux/ensure-deps

# The top-level targets install dependencies first, then re-enter make so the
# pkg-config lookups above see the freshly installed libraries.
unit check demo bench:
	@build-aux/ensure-deps $@
	@$(MAKE) --no-print-directory $@-real

unit-real: all $(TESTBINS)
	@tests/run-unit $(TESTBINS)

check-real: all $(TESTBINS) $(TESTHELPERS)
	@tests/run-unit $(TESTBINS)
	@tests/integration/run-all

demo-real: all
	@contrib/demo/run-demo

bench-real: all
	@tests/bench/run-bench

# Everything the Debian package ships (debian/rules runs this with
# DESTDIR=debian/certfleet).  The inventory is installed only when none is
# there, mode 0600 (it may hold an EAB key); a pristine copy goes to
# $(docdir)/examples.  Into the running system (no DESTDIR) the certfleet
# group is created too, as the package's postinst does.
HOOKS := $(wildcard contrib/hooks/*)
install: all
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(bindir) $(DESTDIR)$(sysconfdir)/certfleet \
		$(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5 $(DESTDIR)$(mandir)/man8 \
		$(DESTDIR)$(systemdunitdir) $(DESTDIR)$(sysusersdir) $(DESTDIR)$(bashcompdir) \
		$(DESTDIR)$(datarootdir)/certfleet/hooks $(DESTDIR)$(docdir)/prometheus \
		$(DESTDIR)$(docdir)/examples
	install -m 0755 $(BUILD)/certfleetd $(DESTDIR)$(sbindir)/
	install -m 0755 $(BUILD)/certfleetctl $(DESTDIR)$(bindir)/
	test -e $(DESTDIR)$(sysconfdir)/certfleet/certfleet.yaml || \
		install -m 0600 etc/certfleet.yaml $(DESTDIR)$(sysconfdir)/certfleet/certfleet.yaml
	$(if $(HOOKS),install -m 0755 $(HOOKS) $(DESTDIR)$(datarootdir)/certfleet/hooks/)
	install -m 0644 contrib/prometheus/*.yml $(DESTDIR)$(docdir)/prometheus/
	install -m 0644 README $(DESTDIR)$(docdir)/
	install -m 0644 etc/certfleet.yaml $(DESTDIR)$(docdir)/examples/
	install -m 0644 man/certfleetctl.1 $(DESTDIR)$(mandir)/man1/
	install -m 0644 man/certfleet.yaml.5 $(DESTDIR)$(mandir)/man5/
	install -m 0644 man/certfleetd.8 $(DESTDIR)$(mandir)/man8/
	install -m 0644 contrib/bash-completion/certfleetd contrib/bash-completion/certfleetctl \
		$(DESTDIR)$(bashcompdir)/
	install -m 0644 systemd/certfleet.sysusers $(DESTDIR)$(sysusersdir)/certfleet.conf
	sed -e 's|@sbindir@|$(sbindir)|g' -e 's|@sysconfdir@|$(sysconfdir)|g' \
		systemd/certfleetd.service.in > $(DESTDIR)$(systemdunitdir)/certfleetd.service
	chmod 0644 $(DESTDIR)$(systemdunitdir)/certfleetd.service
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers > /dev/null; then \
		echo "systemd-sysusers $(sysusersdir)/certfleet.conf"; \
		systemd-sysusers $(sysusersdir)/certfleet.conf; \
	fi

# The Debian package, built by build-aux/make-deb from a copy of the tree
# (tracked and new files as they are now, no build/) so it never shares
# build/ with a test running here: build/deb/certfleet_*.deb, .changes and
# .buildinfo, then lintian on them.  DEB_BUILD_OPTIONS=nocheck skips the
# unit tests inside the package build.
deb:
	@build-aux/ensure-deps deb
	@build-aux/make-deb $(BUILD)/deb

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -f config.mk config.log config.status configure
	rm -rf autom4te.cache

.PHONY: all deps deps-check unit check demo bench unit-real check-real demo-real bench-real install deb \
	clean distclean
.SECONDARY:
