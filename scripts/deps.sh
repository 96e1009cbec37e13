#!/bin/sh
# Installs what building and testing libagentauthz needs, on Debian and its
# derivatives. It is run by every target of the top-level Makefile, so the
# common case (everything installed) must be fast: one dpkg-query call, no
# apt at all. apt-get update runs only when something is missing.
#
# Set AZ_SKIP_DEPS=1 to skip this step (a non-Debian system, or a machine
# whose packages are managed otherwise).
set -eu

# The build (autotools, pkg-config, the three libraries), the header test in
# C++ (g++), nm for the exported-symbol test (binutils), setarch for the
# ThreadSanitizer build (util-linux), a venv for the Python wheel's test
# and for the interop tests' PyJWT (python3-venv). GCC's sanitizer runtimes
# (libasan, libubsan, libtsan) come with gcc itself on Debian. make deb and
# tests/test_deb.sh: dpkg-buildpackage (dpkg-dev), debhelper with
# dh-autoreconf, fakeroot (for a build as another user than root), lintian,
# and man-db (man -w finds the installed pages).
PACKAGES="make gcc g++ binutils util-linux autoconf automake libtool pkg-config
libyaml-dev libsodium-dev check python3 python3-pytest python3-venv golang-go
dpkg-dev debhelper dh-autoreconf fakeroot lintian man-db"

if [ "${AZ_SKIP_DEPS:-0}" = 1 ]; then
    exit 0
fi
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system; make sure these are installed:" $PACKAGES >&2
    exit 0
fi

# dpkg-query prints one line per package it knows; a package it has never
# heard of is only reported on stderr, so missing means "not listed as ii".
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PACKAGES 2>/dev/null |
    awk '$2 == "ii" { print $1 }') || true
missing=
for p in $PACKAGES; do
    case " $(echo $installed) " in
    *" $p "*) ;;
    *) missing="$missing $p" ;;
    esac
done
if [ -z "$missing" ]; then
    exit 0
fi

echo "deps: installing:$missing"
sudo=
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=sudo
    else
        echo "deps: missing:$missing; run as root: apt-get install$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086 # the list is split on purpose
$sudo apt-get install -y -q --no-install-recommends $missing
