#!/bin/sh
# make check's test of the Python package as users install it: builds the
# wheel (make-wheel.sh), creates a fresh venv from /usr/bin/python3 under the
# build directory, installs the wheel and pinned pytest and mypy from PyPI,
# then, with no AGENTAUTHZ_LIBRARY or PYTHONPATH and from a directory with no
# sources in it, checks that the installed package and its bundled library
# (and the libsodium and libyaml vendored beside it) are what loads, runs the
# binding's pytest suite against it, runs the README's Python example, and
# type-checks examples/python_typed.py and the package with mypy --strict
# (and runs the example).
#
# Exits 77 (automake's "skipped") with the reason when the build has no
# shared library (the sanitizer builds) or PyPI cannot be reached. Writes
# only under $top_builddir/python-wheel (and python-tools): the source tree
# may be read-only (make distcheck).
set -eu

PYTEST=pytest==9.2.0
MYPY=mypy==2.4.1

srcdir=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$srcdir/../.." && pwd)
top_builddir=$(cd "${top_builddir:-$top_srcdir}" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
lib=$top_builddir/lib/.libs/libagentauthz.so.0
work=$top_builddir/python-wheel
venv=$work/venv

skip() {
    echo "test-wheel.sh: $1: skipped"
    exit 77
}
elapsed() {
    echo $(($(date +%s) - $1))
}

[ -f "$lib" ] || skip "no shared library at $lib (a static-only build such as the sanitizer builds; the shared build tests this)"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null ||
    skip "$PYTHON cannot create a venv (apt-get install python3-venv)"

mkdir -p "$work"
rm -rf "$venv" "$work/run"
start=$(date +%s)
"$PYTHON" -m venv "$venv"
echo "test-wheel.sh: fresh venv in $(elapsed "$start") s"

start=$(date +%s)
if ! "$venv/bin/pip" install -q --no-compile --timeout 15 --retries 1 "$PYTEST" "$MYPY"; then
    if ! "$venv/bin/pip" index versions --timeout 15 --retries 1 pip >/dev/null 2>&1; then
        skip "PyPI cannot be reached (pip install $PYTEST $MYPY failed)"
    fi
    echo "test-wheel.sh: pip install $PYTEST $MYPY failed, though PyPI answers" >&2
    exit 1
fi
echo "test-wheel.sh: pip install $PYTEST $MYPY: $(elapsed "$start") s"

start=$(date +%s)
set +e
top_builddir=$top_builddir sh "$srcdir/make-wheel.sh" "$work/dist" >"$work/make-wheel.log" 2>&1
rc=$?
set -e
if [ $rc = 3 ]; then
    cat "$work/make-wheel.log"
    skip "auditwheel cannot be installed from PyPI"
elif [ $rc != 0 ]; then
    cat "$work/make-wheel.log" >&2
    exit 1
fi
wheel=$(ls "$work"/dist/agentauthz-*.whl)
echo "test-wheel.sh: built $(basename "$wheel") ($(wc -c <"$wheel") bytes) in $(elapsed "$start") s"
case $wheel in
*-py3-none-any.whl) echo "test-wheel.sh: $wheel is not a platform wheel" >&2; exit 1 ;;
esac

start=$(date +%s)
"$venv/bin/pip" install -q --no-compile --no-index "$wheel"
echo "test-wheel.sh: pip install $(basename "$wheel"): $(elapsed "$start") s"

# Nothing may point at the sources or the build: the installed copy is tested.
unset AGENTAUTHZ_LIBRARY PYTHONPATH LD_LIBRARY_PATH
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
mkdir -p "$work/run"
cd "$work/run"
py=$venv/bin/python

"$py" - "$venv" <<'PY'
import sys, agentauthz
from agentauthz import _lib
venv = sys.argv[1]
pkg = agentauthz.__file__
assert pkg.startswith(venv + "/"), "imported %s, not the venv's copy" % pkg
assert _lib.path == _lib.PACKAGE_DIR + "/libagentauthz.so.0", "loaded " + _lib.path
assert agentauthz.library_version() == agentauthz.__version__
maps = open("/proc/self/maps").read()
for dep in ("libsodium", "libyaml"):
    paths = {l.split()[-1] for l in maps.splitlines() if dep in l}
    assert paths and all("/agentauthz.libs/" in p for p in paths), (dep, paths)
print("test-wheel.sh: imported %s with %s and its vendored libsodium and libyaml"
      % (pkg, _lib.path))
PY

# The suite's layout test compiles against the headers (version.h is built);
# its packaging tests build packages with the build's library (the wheel's
# copy needs its vendored libraries beside it).
AGENTAUTHZ_BUILD_INCLUDE=$top_builddir/include AGENTAUTHZ_BUILD_LIBRARY=$lib \
    "$py" -m pytest -q -p no:cacheprovider "$srcdir/tests"

# The README's Python example (under "Language bindings"), as a user runs it.
"$py" - "$top_srcdir/README.md" "$work/run/test_readme.py" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
section = text[text.index("- **Python**"):]
block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
lines = block.splitlines()
indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
open(sys.argv[2], "w").write("\n".join(l[indent:] for l in lines) + "\n")
PY
"$py" -m pytest -q -p no:cacheprovider -p agentauthz.testing test_readme.py

# The typed example against the installed package (py.typed), and the
# package's own sources, both under --strict.
"$venv/bin/mypy" --strict --cache-dir "$work/mypy-cache" "$top_srcdir/examples/python_typed.py"
"$venv/bin/mypy" --strict --cache-dir "$work/mypy-cache" "$srcdir/agentauthz"
"$py" "$top_srcdir/examples/python_typed.py" "$top_srcdir/examples/policy.yaml"
