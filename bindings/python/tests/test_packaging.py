"""The package's build (_backend/agentauthz_build.py): what goes into a wheel and an
sdist, and the refusal to build either without a library to bundle.

Runs the backend from the source tree (read only: everything is written under
tmp_path), with the library this run loaded, or, when that is a repaired
wheel's copy (which needs its vendored libraries beside it),
$AGENTAUTHZ_BUILD_LIBRARY, the build's (test-wheel.sh sets it).
"""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

import agentauthz
from agentauthz import _lib

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BACKEND = os.path.join("_backend", "agentauthz_build.py")
VENDORED = os.path.join(os.path.dirname(_lib.PACKAGE_DIR), "agentauthz.libs")
LIBRARY = os.environ.get("AGENTAUTHZ_BUILD_LIBRARY") if os.path.isdir(VENDORED) else _lib.path
if not LIBRARY:
    pytest.skip("a repaired wheel's library and no $AGENTAUTHZ_BUILD_LIBRARY",
                allow_module_level=True)


def _build(kind, out, src=SRC, library=None):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("AGENTAUTHZ_LIBRARY", None)
    env.pop("AGENTAUTHZ_EXTRA_LICENSES", None)
    if library is not None:
        env["AGENTAUTHZ_LIBRARY"] = library
    return subprocess.run([sys.executable, BACKEND, kind, str(out)], cwd=str(src), env=env,
                          capture_output=True, text=True)


def _source_copy(tmp_path):
    """The binding's build inputs alone, away from any repository build or LICENSE."""
    dst = tmp_path / "src"
    shutil.copytree(os.path.join(SRC, "agentauthz"), str(dst / "agentauthz"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
    shutil.copytree(os.path.join(SRC, "_backend"), str(dst / "_backend"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(SRC, name), str(dst / name))
    shutil.copy(os.path.join(SRC, "..", "..", "LICENSE"), str(dst / "LICENSE"))
    return dst


def test_wheel_carries_the_library_and_its_metadata(tmp_path):
    r = _build("wheel", tmp_path / "out", library=LIBRARY)
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip()
    name = os.path.basename(path)
    assert name.startswith("agentauthz-%s-py3-none-linux_" % agentauthz.__version__)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        with open(LIBRARY, "rb") as f:
            assert zf.read("agentauthz/libagentauthz.so.0") == f.read()
        meta = zf.read("agentauthz-%s.dist-info/METADATA" % agentauthz.__version__).decode()
        wheel = zf.read("agentauthz-%s.dist-info/WHEEL" % agentauthz.__version__).decode()
    assert "agentauthz/py.typed" in names
    assert "agentauthz/__init__.py" in names
    assert "agentauthz-%s.dist-info/licenses/LICENSE" % agentauthz.__version__ in names
    assert not [n for n in names if "tests/" in n or "_backend" in n or n.endswith(".pyc")]
    assert "\nLicense-Expression: MIT\n" in meta
    assert "\nVersion: %s\n" % agentauthz.__version__ in meta
    assert "Root-Is-Purelib: false" in wheel


def test_package_and_library_versions_agree():
    with open(os.path.join(SRC, "pyproject.toml"), encoding="utf-8") as f:
        assert '\nversion = "%s"\n' % agentauthz.__version__ in f.read()
    assert agentauthz.library_version() == agentauthz.__version__


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_no_library_no_package(tmp_path, kind):
    src = _source_copy(tmp_path)  # no ../../build beside it
    out = tmp_path / "out"
    r = _build(kind, out, src=src)
    assert r.returncode == 1
    assert "no libagentauthz shared library to bundle" in r.stderr
    assert "AGENTAUTHZ_LIBRARY" in r.stderr
    assert str(src / "agentauthz" / "libagentauthz.so.0") in r.stderr
    assert not out.exists() or not os.listdir(str(out))


def test_a_missing_or_wrong_library_is_refused(tmp_path):
    r = _build("wheel", tmp_path / "out", library=str(tmp_path / "missing.so"))
    assert r.returncode == 1
    assert str(tmp_path / "missing.so") + " ($AGENTAUTHZ_LIBRARY): no such file" in r.stderr
    text = tmp_path / "libagentauthz.so.0"
    text.write_text("not a library\n")
    r = _build("wheel", tmp_path / "out", library=str(text))
    assert r.returncode == 1
    assert "not an ELF shared library" in r.stderr


def test_sdist_carries_the_library_and_builds_a_wheel_alone(tmp_path):
    src = _source_copy(tmp_path)
    r = _build("sdist", tmp_path / "sd", src=src, library=LIBRARY)
    assert r.returncode == 0, r.stderr
    with tarfile.open(r.stdout.strip()) as tf:
        tf.extractall(str(tmp_path / "unpacked"))
    base = tmp_path / "unpacked" / ("agentauthz-%s" % agentauthz.__version__)
    assert (base / "PKG-INFO").is_file() and (base / "LICENSE").is_file()
    r = _build("wheel", tmp_path / "out", src=base)  # the sdist's own copy of the library
    assert r.returncode == 0, r.stderr


def test_pip_installs_the_source_directory(tmp_path):
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode != 0:
        pytest.skip("no pip for " + sys.executable)
    target = tmp_path / "target"
    env = dict(os.environ, AGENTAUTHZ_LIBRARY=LIBRARY, PYTHONDONTWRITEBYTECODE="1",
               PIP_NO_INDEX="1")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(target), SRC], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "agentauthz" / "libagentauthz.so.0").is_file()
    assert (target / "agentauthz" / "py.typed").is_file()
    env.pop("AGENTAUTHZ_LIBRARY")
    r = subprocess.run([sys.executable, "-c", "import agentauthz._lib as l; print(l.path)"],
                       env=dict(env, PYTHONPATH=str(target)), capture_output=True, text=True,
                       cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(target / "agentauthz" / "libagentauthz.so.0")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(tmp_path / "t2"), SRC],
                       env=dict(env, AGENTAUTHZ_LIBRARY=str(tmp_path / "missing.so")),
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "no libagentauthz shared library to bundle" in r.stdout + r.stderr
