"""Where `import agentauthz` finds the library, and what it says when it finds none.

The order: the copy bundled in the package (a wheel carries one), then
$AGENTAUTHZ_LIBRARY, then the system's. Each case imports a copy of the
package (its .py files, from wherever this run imports it) in a fresh
interpreter, with the library copies each case needs beside it.
"""

import ctypes.util
import os
import shutil
import subprocess
import sys

import pytest

import agentauthz
from agentauthz import _lib

PACKAGE = os.path.dirname(os.path.abspath(agentauthz.__file__))
# A repaired wheel's library finds its vendored libsodium and libyaml in
# $ORIGIN/../agentauthz.libs; the copies below keep that layout.
VENDORED = os.path.join(os.path.dirname(PACKAGE), "agentauthz.libs")
REPORT = ("import agentauthz, agentauthz._lib as l\n"
          "maps = open('/proc/self/maps').read().splitlines()\n"
          "print(l.path)\n"
          "print([m.split()[-1] for m in maps if 'libagentauthz' in m][0])\n")


def _tree(tmp_path, bundled=None):
    """tmp_path/site/agentauthz: the package's Python files, and bundled as its library."""
    site = tmp_path / "site"
    pkg = site / "agentauthz"
    pkg.mkdir(parents=True)
    for name in os.listdir(PACKAGE):
        if name.endswith(".py") or name == "py.typed":
            shutil.copy(os.path.join(PACKAGE, name), str(pkg / name))
    if os.path.isdir(VENDORED):
        shutil.copytree(VENDORED, str(site / "agentauthz.libs"))
    if bundled is not None:
        (pkg / _lib.BUNDLED).write_bytes(bundled)
    return site


def _library_bytes():
    with open(_lib.path, "rb") as f:
        return f.read()


def _import(site, env_value=None, ld_path=None):
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    env.pop("AGENTAUTHZ_LIBRARY", None)
    env.pop("LD_LIBRARY_PATH", None)
    if env_value is not None:
        env["AGENTAUTHZ_LIBRARY"] = env_value
    if ld_path is not None:
        env["LD_LIBRARY_PATH"] = ld_path
    return subprocess.run([sys.executable, "-c", REPORT], env=env, capture_output=True,
                          text=True, cwd=str(site))


def _system_copy(site):
    """A copy of the library where only LD_LIBRARY_PATH leads: the system's, for a test."""
    d = site / "sys"
    d.mkdir()
    (d / _lib.BUNDLED).write_bytes(_library_bytes())
    return d


def test_bundled_copy_comes_first(tmp_path):
    site = _tree(tmp_path, bundled=_library_bytes())
    r = _import(site, env_value=str(tmp_path / "missing.so"), ld_path=str(_system_copy(site)))
    assert r.returncode == 0, r.stderr
    bundled = str(site / "agentauthz" / _lib.BUNDLED)
    assert r.stdout.split() == [bundled, bundled]


def test_environment_when_no_bundled_copy(tmp_path):
    site = _tree(tmp_path)
    other = site / "other"
    other.mkdir()
    (other / _lib.BUNDLED).write_bytes(_library_bytes())
    r = _import(site, env_value=str(other / _lib.BUNDLED), ld_path=str(_system_copy(site)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(other / _lib.BUNDLED)] * 2


def test_unloadable_bundled_copy_falls_back_to_the_environment(tmp_path):
    site = _tree(tmp_path, bundled=b"not a shared library\n")
    other = site / "other"
    other.mkdir()
    (other / _lib.BUNDLED).write_bytes(_library_bytes())
    r = _import(site, env_value=str(other / _lib.BUNDLED))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == str(other / _lib.BUNDLED)


def test_system_library_last(tmp_path):
    site = _tree(tmp_path)
    sysdir = _system_copy(site)
    r = _import(site, ld_path=str(sysdir))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == str(sysdir / _lib.BUNDLED)


def test_no_library_is_an_import_error_naming_every_path_and_the_variable(tmp_path):
    site = _tree(tmp_path)
    missing = str(tmp_path / "nowhere" / "libagentauthz.so.0")
    r = _import(site, env_value=missing)
    assert r.returncode == 1, r.stderr  # an exception, not a crash (a signal)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("agentauthz._lib.LibraryNotFoundError: agentauthz: cannot load")
    assert str(site / "agentauthz" / _lib.BUNDLED) in last
    assert missing in last
    assert "set AGENTAUTHZ_LIBRARY to the full path" in last


def test_load_error_is_an_import_error_with_each_attempt():
    names = [("/nonexistent/a.so", "first"), ("/nonexistent/b.so", "second")]
    with pytest.raises(ImportError) as info:
        _lib.load(names)
    assert isinstance(info.value, agentauthz.LibraryNotFoundError)
    assert [t[0] for t in info.value.tried] == ["/nonexistent/a.so (first)",
                                                "/nonexistent/b.so (second)"]
    assert "AGENTAUTHZ_LIBRARY" in str(info.value)


def test_a_library_without_the_api_is_refused():
    libc = ctypes.util.find_library("c")
    if not libc:
        pytest.skip("no libc to load")
    with pytest.raises(agentauthz.LibraryNotFoundError) as info:
        _lib.load([(libc, "libc")])
    assert "lacks a function" in str(info.value)
    assert "agentauthz_" in str(info.value)


def test_candidates_order():
    pkg = "/site/agentauthz"
    bundled = ("/site/agentauthz/libagentauthz.so.0", "bundled with the package")
    got = _lib.candidates(pkg, {"AGENTAUTHZ_LIBRARY": "/x/lib.so"})
    assert got == [bundled, ("/x/lib.so", "$AGENTAUTHZ_LIBRARY")]
    got = _lib.candidates(pkg, {})
    assert got[0] == bundled
    assert got[-1] == ("libagentauthz.so.0", "the system's loader path")
