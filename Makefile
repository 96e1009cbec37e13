# libagentauthz: set-up is two commands, on a fresh Debian 12 machine.
#
#   make demo    installs what is missing, bootstraps, builds in build/ and
#                runs the example orchestrator against the example policy
#   make check   runs the whole test suite three times: in build/ (with
#                -Werror), in build-asan/ (AddressSanitizer and UBSan) and
#                the concurrency suites in build-tsan/ (ThreadSanitizer)
#
# This file is a wrapper around the autotools build, not the autotools
# build itself. configure writes the automake makefile as GNUmakefile,
# which GNU make reads in preference to this file, so that:
#  - ./configure && make && make check && make install works in place, as
#    autotools users expect, and never overwrites this file;
#  - this wrapper builds out of tree, in build/, build-asan/ and build-tsan/
#    (all gitignored), and forwards its targets there.
#
# Other targets: all (the default), install, uninstall, bench, dist,
# distcheck, deb (the Debian packages, in build/deb/), check-build,
# check-asan, check-tsan, deps, bootstrap, clean, distclean, wheel (the
# Python wheel, in build/dist/); any other target is forwarded to build/.
# Variables: JOBS (default -j2), CONFIGURE_FLAGS (default --enable-werror),
# AZ_SKIP_DEPS=1 to skip the package step.
#
# The installation prefix (default /usr/local) is chosen at configure time;
# install, uninstall and installcheck also take it on their command line,
# as prefix=DIR, PREFIX=DIR or CONFIGURE_FLAGS=--prefix=DIR, e.g.
#   make install prefix=/opt/az
# When build/ was configured for another prefix (say by an earlier
# make demo), it is configured again for DIR and the library relinked, so
# that the files, the pkg-config file and the command's run-time path all
# name DIR. DESTDIR=DIR (a staged install) is passed through unchanged.

SHELL = /bin/sh
.SUFFIXES:
# The steps depend on each other in order (packages, bootstrap, configure,
# build); parallelism is inside each build, through JOBS.
.NOTPARALLEL:

JOBS ?= -j2
CONFIGURE_FLAGS ?= --enable-werror
SAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
TSAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=thread
# The sanitizer builds are static only: each object is compiled once instead
# of twice, and no sanitized shared library has to be found at run time.
SAN_CONFIGURE = $(CONFIGURE_FLAGS) --disable-shared \
	CFLAGS='$(SAN_CFLAGS)' CXXFLAGS='$(SAN_CFLAGS)' LDFLAGS='$(SAN_CFLAGS)'
TSAN_CONFIGURE = $(CONFIGURE_FLAGS) --disable-shared \
	CFLAGS='$(TSAN_CFLAGS)' CXXFLAGS='$(TSAN_CFLAGS)' LDFLAGS='$(TSAN_CFLAGS)'
# Sanitized tests run slower; Check's per-test timeouts are scaled to match.
SAN_ENV = CK_TIMEOUT_MULTIPLIER=4 UBSAN_OPTIONS=print_stacktrace=1 \
	ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
TSAN_ENV = CK_TIMEOUT_MULTIPLIER=4 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

all:
	@$(MAKE) -f Makefile --no-print-directory configured DIR=build ARGS="$(CONFIGURE_FLAGS)"
	$(MAKE) -C build $(JOBS) all

demo bench dist distcheck deb:
	@$(MAKE) -f Makefile --no-print-directory configured DIR=build ARGS="$(CONFIGURE_FLAGS)"
	$(MAKE) -C build $(JOBS) $@

# The prefix asked for on this command line, if any: prefix=DIR or
# PREFIX=DIR (from the command line only: a PREFIX variable in the
# environment is no request), else the last --prefix=DIR of CONFIGURE_FLAGS.
cmdline_var = $(if $(filter command line,$(origin $(1))),$($(1)))
want_prefix = $(or $(call cmdline_var,prefix),$(call cmdline_var,PREFIX),\
	$(patsubst --prefix=%,%,$(lastword $(filter --prefix=%,$(CONFIGURE_FLAGS)))))
INSTALL_CONFIGURE = $(filter-out --prefix=%,$(CONFIGURE_FLAGS))$(if $(want_prefix), --prefix=$(want_prefix))

install uninstall installcheck:
	@if test -n "$(filter --prefix,$(CONFIGURE_FLAGS))"; then \
	  echo "$@: write --prefix=DIR (one word) in CONFIGURE_FLAGS, or prefix=DIR" >&2; exit 1; \
	fi
	@$(MAKE) -f Makefile --no-print-directory configured DIR=build ARGS="$(INSTALL_CONFIGURE)"
	@want='$(want_prefix)'; \
	have=`sed -n 's/^prefix = //p' build/GNUmakefile`; \
	if test -n "$$want" && test "$$want" != "$$have"; then \
	  echo "$@: build/ was configured for prefix $$have; configuring it again for $$want"; \
	  echo "configure in build/: $(INSTALL_CONFIGURE)"; \
	  (cd build && eval "../configure $(INSTALL_CONFIGURE)") || exit 1; \
	  : "libtool writes the install directory into the library when it links it"; \
	  : "and refuses to install it elsewhere: relink it (and what links it)"; \
	  rm -f build/lib/libagentauthz.la; \
	fi
	$(MAKE) -C build $(JOBS) $@
	@if test $@ = install && test -z "$(DESTDIR)"; then $(ldconfig_step); fi

# After an install (no DESTDIR): as root, refresh the run-time linker's
# cache; then say how to run programs when the library's directory is not
# one the run-time linker searches (README.md, "Building").
ldconfig_step = \
	if test "`id -u`" = 0 && command -v ldconfig >/dev/null 2>&1; then ldconfig; fi; \
	libdir=`sed -n 's/^libdir=//p' build/agentauthz.pc`; \
	eval "prefix=`sed -n 's/^prefix=//p' build/agentauthz.pc`"; \
	eval "exec_prefix=`sed -n 's/^exec_prefix=//p' build/agentauthz.pc`"; \
	eval "libdir=$$libdir"; \
	ldc=`command -v ldconfig || echo /sbin/ldconfig`; \
	if test -x "$$ldc" && ! "$$ldc" -p 2>/dev/null | grep -q "=> $$libdir/libagentauthz.so.0\$$"; then \
	  echo "note: the run-time linker does not search $$libdir: link programs with"; \
	  echo "  -Wl,-rpath,$$libdir, or set LD_LIBRARY_PATH=$$libdir, or add $$libdir"; \
	  echo "  to a file in /etc/ld.so.conf.d/ and run ldconfig as root"; \
	fi

check: check-build check-asan check-tsan
	@$(call tally,build build-asan build-tsan)

check-build:
	@$(MAKE) -f Makefile --no-print-directory configured DIR=build ARGS="$(CONFIGURE_FLAGS)"
	@$(call run_check,build,check,)

check-asan:
	@$(MAKE) -f Makefile --no-print-directory configured DIR=build-asan ARGS="$(SAN_CONFIGURE)"
	@$(call run_check,build-asan,check,$(SAN_ENV))

check-tsan:
	@if runner=`sh scripts/tsan-runner.sh`; then \
	  $(MAKE) -f Makefile --no-print-directory configured DIR=build-tsan \
	    ARGS="$(TSAN_CONFIGURE)" || exit 1; \
	  echo "check-tsan: running the concurrency suites$${runner:+ under '$$runner'}"; \
	  $(call run_check,build-tsan,check-concurrency LOG_COMPILER="$$runner",$(TSAN_ENV)); \
	else \
	  echo "*****************************************************************"; \
	  echo "*** SKIPPED: ThreadSanitizer cannot run on this machine (above)."; \
	  echo "*** The concurrency suites ran only in build/ and build-asan/."; \
	  echo "*****************************************************************"; \
	fi

# Installs missing packages (Debian), then creates configure when it is
# missing. Later edits of configure.ac or Makefile.am are picked up by the
# regeneration rules of the configured build directories.
deps:
	@sh scripts/deps.sh

bootstrap: deps
	@if test -f config.status; then \
	  echo "This tree was configured in place (./configure), so 'make' reads"; \
	  echo "GNUmakefile. Run 'make distclean' there first to use this wrapper."; \
	  exit 1; \
	fi
	@if test ! -f configure || test ! -f Makefile.in || test ! -f build-aux/ltmain.sh; then \
	  echo "autoreconf -fi"; mkdir -p m4 && autoreconf -fi; \
	fi

# Configures $(DIR) out of tree with $(ARGS), once; a directory whose
# configure run failed has no config.status and is configured again.
configured: bootstrap
	@if test ! -f $(DIR)/config.status; then \
	  echo "configure in $(DIR)/: $(ARGS)"; \
	  mkdir -p $(DIR) && cd $(DIR) && eval "../configure $(ARGS)"; \
	fi

clean:
	@for d in build build-asan build-tsan; do \
	  if test -f $$d/GNUmakefile; then $(MAKE) -C $$d clean || exit 1; fi; \
	done

distclean:
	rm -rf build build-asan build-tsan

# $(call run_check,DIR,TARGETS,ENV): runs the tests, then prints the Check
# summary line of every suite (so that CI logs show them, failed or not),
# and fails as the tests did.
run_check = \
	$(3) $(MAKE) -C $(1) $(JOBS) $(2) VERBOSE=1; rc=$$?; \
	echo "== Check suites in $(1)/ =="; \
	for f in $(1)/tests/*.log; do \
	  test -f "$$f" || continue; \
	  grep -q -E '^[0-9]+%: Checks: [0-9]+' "$$f" || continue; \
	  echo "`basename $$f .log`:"; grep -E '^[0-9]+%: Checks: [0-9]+' "$$f"; \
	done; \
	exit $$rc

# $(call tally,DIRS): one closing line for every test automake ran in the
# builds (bindings, CLI, fuzz replays and the gateway included), after one
# line per skipped test with the reason its log gives.
tally = \
	trs=`for d in $(1); do test -d $$d && find $$d -name '*.trs' \
	  -not -path '*/libagentauthz-*/*'; done | sort`; \
	for t in $$trs; do \
	  grep -q '^:test-result: SKIP' $$t || continue; \
	  why=`grep -i 'skip' $${t%.trs}.log 2>/dev/null | grep -v '^SKIP [^ ]* (exit status' | tail -n 1`; \
	  echo "skipped: $${t%.trs}: $${why:-no reason in its log}"; \
	done; \
	cat /dev/null $$trs | awk ' \
	  $$1 == ":test-result:" && ($$2 == "PASS" || $$2 == "XFAIL") { p++ } \
	  $$1 == ":test-result:" && ($$2 == "FAIL" || $$2 == "XPASS" || $$2 == "ERROR") { f++ } \
	  $$1 == ":test-result:" && $$2 == "SKIP" { s++ } \
	  END { printf "check: %d tests: %d passed, %d failed, %d skipped\n", p + f + s, p, f, s; \
	    exit (f > 0) }'

# This file has no rule to remake itself; anything else goes to build/.
Makefile: ;
.DEFAULT:
	@$(MAKE) -f Makefile --no-print-directory configured DIR=build ARGS="$(CONFIGURE_FLAGS)"
	$(MAKE) -C build $(JOBS) $@

.PHONY: all demo install uninstall installcheck bench dist distcheck deb check check-build \
	check-asan check-tsan deps bootstrap configured clean distclean
