#!/bin/sh
# Task tokens and PyJWT (with cryptography, for EdDSA), both ways: the
# cases are in common.sh.
#
# Installs the versions python/requirements.txt pins (binary wheels only)
# into a venv made from /usr/bin/python3 (or $INTEROP_PYTHON) at
# $top_builddir/interop-work/pyjwt/venv, once, and again only when the
# requirements change. Skipped (77) without python3-venv, when PyPI cannot
# be reached, and in a static-only build.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
interop_setup pyjwt
python=${INTEROP_PYTHON:-/usr/bin/python3}
[ -x "$python" ] || skip "no $python"
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    skip "$python has no venv module (Debian: apt-get install python3-venv; scripts/deps.sh does)"
fi

req=$here/python/requirements.txt
venv=$work/venv
if ! cmp -s "$req" "$work/installed-requirements.txt" || [ ! -x "$venv/bin/python" ]; then
    rm -rf "$venv" "$work/installed-requirements.txt"
    t0=$(date +%s)
    "$python" -m venv "$venv" >"$tmp/install.log" 2>&1 || {
        cat "$tmp/install.log" >&2
        echo "$script: $python -m venv failed" >&2
        exit 1
    }
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input \
        --only-binary=:all: --timeout 30 --retries 1 -r "$req" >>"$tmp/install.log" 2>&1 ||
        fetch_failed "$tmp/install.log" "PyPI"
    cp "$req" "$work/installed-requirements.txt"
    how="venv and pip install $(elapsed "$t0") s"
else
    how="installed before, in $venv"
fi
echo "# $("$venv/bin/python" -c 'import jwt, cryptography; print("PyJWT", jwt.__version__, "cryptography", cryptography.__version__)'): $how"

prog() {
    "$venv/bin/python" -B "$here/python/interop.py" "$@"
}
interop_run
