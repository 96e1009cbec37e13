"""The in-tree PEP 517 build backend of the agentauthz Python package.

It writes a wheel (and an sdist) that carry the shared library libagentauthz,
so that installing needs no C toolchain. Standard library only: pip installs
nothing into its isolated build environment (tomli only on Python < 3.11),
so `pip install ./bindings/python` and `make wheel` work without a network,
and nothing is ever written into the source tree (make distcheck builds from
a read-only one).

The library to bundle is, in this order:
  1. $AGENTAUTHZ_LIBRARY (a full path; make wheel passes the one it built);
  2. agentauthz/libagentauthz.so.0 in the source directory (an unpacked sdist);
  3. ../../build/lib/.libs/libagentauthz.so.0 (a checkout built with `make`).
With none of them, or one that does not load or is not this version, the
build stops with a message that says what to do: a package without its
library would only fail at import.

The wheel is tagged py3-none-PLATFORM: the binding is ctypes (any Python 3)
but the library is for one platform. `make wheel` then makes it a manylinux
wheel with auditwheel (bindings/python/make-wheel.sh).

AGENTAUTHZ_EXTRA_LICENSES ("SPDX:FILE ...") names the licenses of libraries
that will be vendored into the wheel (make-wheel.sh passes libsodium's and
libyaml's): each FILE goes into the wheel's licenses and each SPDX id into
its License-Expression.

Run by hand: python3 _backend/agentauthz_build.py wheel|sdist OUTDIR
(from bindings/python).
"""

import base64
import ctypes
import hashlib
import io
import os
import re
import sys
import sysconfig
import tarfile
import zipfile

BUNDLED = "libagentauthz.so.0"
ENV = "AGENTAUTHZ_LIBRARY"
PACKAGE = "agentauthz"
# Fixed times make the archives reproducible (zip cannot store dates before 1980).
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
TAR_TIME = 315532800


class BuildError(Exception):
    """A build that must not produce a package; the message says why and what to do."""


def _source_dir():
    # PEP 517 runs hooks with the source tree as the current directory.
    return os.path.abspath(os.getcwd())


def _read_pyproject(src):
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - declared in build-system.requires
        import tomli as tomllib
    with open(os.path.join(src, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _license_file(src):
    # bindings/python/LICENSE links to the repository's; an sdist carries a copy.
    for path in (os.path.join(src, "LICENSE"), os.path.join(src, "..", "..", "LICENSE")):
        if os.path.isfile(path):
            return os.path.normpath(path)
    raise BuildError("agentauthz: no LICENSE file next to pyproject.toml or at the "
                     "repository's top (../../LICENSE)")


def _library_candidates(src):
    out = []
    env = os.environ.get(ENV)
    if env:
        out.append((env, "$" + ENV))
    out.append((os.path.join(src, PACKAGE, BUNDLED), "bundled in the source directory"))
    out.append((os.path.normpath(os.path.join(src, "..", "..", "build", "lib", ".libs", BUNDLED)),
                "the repository's build with make"))
    return out


def _check_library(path, version):
    """Why the file at path is not a libagentauthz of this version, or None."""
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return "not an ELF shared library"
    try:
        lib = ctypes.CDLL(os.path.abspath(path))
        lib.agentauthz_version.restype = ctypes.c_char_p
        have = lib.agentauthz_version().decode("ascii")
    except (OSError, AttributeError) as exc:
        return "does not load: %s" % exc
    if have != version:
        return "is version %s, the package is %s" % (have, version)
    return None


def find_library(src, version):
    """The path of the library to bundle; BuildError naming every path tried."""
    tried = []
    for path, what in _library_candidates(src):
        if not os.path.isfile(path):
            tried.append("%s (%s): no such file" % (path, what))
            if what.startswith("$"):
                break  # an explicit choice that fails never falls back to another copy
            continue
        why = _check_library(path, version)
        if why is None:
            return path
        tried.append("%s (%s): %s" % (path, what, why))
        break  # a library that is there but wrong is an error, not a reason to look on
    raise BuildError(
        "agentauthz: no libagentauthz shared library to bundle, so no package is built "
        "(it would fail at import). Build the library first (`make` at the repository's "
        "top, then `make wheel`), or set %s to the full path of a built "
        "libagentauthz.so.0 of version %s. Tried: %s" % (ENV, version, "; ".join(tried)))


def _package_files(src):
    """(archive name, path) of the package's Python files and marker, sorted."""
    pkg = os.path.join(src, PACKAGE)
    names = sorted(n for n in os.listdir(pkg) if n.endswith(".py") or n == "py.typed")
    if "py.typed" not in names or "__init__.py" not in names:
        raise BuildError("agentauthz: %s has no __init__.py or py.typed" % pkg)
    return [("%s/%s" % (PACKAGE, n), os.path.join(pkg, n)) for n in names]


def _platform_tag():
    plat = sysconfig.get_platform()
    if not plat.startswith("linux-"):
        raise BuildError("agentauthz: the wheel bundles an ELF library; %s is not supported"
                         % plat)
    return re.sub(r"[-.]", "_", plat)


def _extra_licenses():
    """[(spdx, archive name, path)] from $AGENTAUTHZ_EXTRA_LICENSES."""
    out = []
    for item in os.environ.get("AGENTAUTHZ_EXTRA_LICENSES", "").split():
        spdx, _, path = item.partition(":")
        if not re.fullmatch(r"[A-Za-z0-9.+-]+", spdx) or not os.path.isfile(path):
            raise BuildError("agentauthz: AGENTAUTHZ_EXTRA_LICENSES: %r is not SPDX:FILE "
                             "with an existing FILE" % item)
        # /usr/share/doc/libsodium23/copyright -> libsodium23-copyright
        name = "%s-%s" % (os.path.basename(os.path.dirname(path)), os.path.basename(path))
        out.append((spdx, name, path))
    return out


def _metadata(meta, readme, extra):
    expression = [meta["license"]]
    expression += [s for s, _, _ in extra if s not in expression]
    lines = [
        "Metadata-Version: 2.4",
        "Name: %s" % meta["name"],
        "Version: %s" % meta["version"],
        "Summary: %s" % meta["description"],
        "License-Expression: %s" % " AND ".join(expression),
        "License-File: LICENSE",
    ]
    lines += ["License-File: %s" % n for _, n, _ in extra]
    lines += ["Requires-Python: %s" % meta["requires-python"]]
    lines += ["Keywords: %s" % ",".join(meta.get("keywords", []))] if meta.get("keywords") else []
    lines += ["Classifier: %s" % c for c in meta.get("classifiers", [])]
    lines += ["Project-URL: %s, %s" % kv for kv in meta.get("urls", {}).items()]
    lines += ["Description-Content-Type: text/markdown", "", readme]
    return "\n".join(lines)


def _context(src, extra=()):
    meta = _read_pyproject(src)
    with open(os.path.join(src, meta["readme"]), encoding="utf-8") as f:
        readme = f.read()
    return meta, _metadata(meta, readme, extra)


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "%s,sha256=%s,%d" % (name, digest.decode("ascii"), len(data))


def _zip_add(zf, name, data, mode=0o644):
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    src = _source_dir()
    extra = _extra_licenses()
    meta, metadata = _context(src, extra)
    library = find_library(src, meta["version"])
    tag = "py3-none-" + _platform_tag()
    dist_info = "%s-%s.dist-info" % (meta["name"], meta["version"])
    name = "%s-%s-%s.whl" % (meta["name"], meta["version"], tag)
    files = [(n, _read(p), 0o644) for n, p in _package_files(src)]
    files.append(("%s/%s" % (PACKAGE, BUNDLED), _read(library), 0o755))
    files.append(("%s/licenses/LICENSE" % dist_info, _read(_license_file(src)), 0o644))
    files += [("%s/licenses/%s" % (dist_info, n), _read(p), 0o644) for _, n, p in extra]
    files.append(("%s/METADATA" % dist_info, metadata.encode("utf-8"), 0o644))
    wheel = ("Wheel-Version: 1.0\nGenerator: agentauthz_build\nRoot-Is-Purelib: false\n"
             "Tag: %s\n" % tag)
    files.append(("%s/WHEEL" % dist_info, wheel.encode("ascii"), 0o644))
    files.append(("%s/top_level.txt" % dist_info, (PACKAGE + "\n").encode("ascii"), 0o644))
    record = [_record_line(n, d) for n, d, _ in files] + ["%s/RECORD,," % dist_info]
    files.append(("%s/RECORD" % dist_info, ("\n".join(record) + "\n").encode("utf-8"), 0o644))
    os.makedirs(wheel_directory, exist_ok=True)
    tmp = os.path.join(wheel_directory, name + ".part")
    with zipfile.ZipFile(tmp, "w") as zf:
        for n, d, mode in files:
            _zip_add(zf, n, d, mode)
    os.replace(tmp, os.path.join(wheel_directory, name))
    return name


def _tar_add(tf, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = TAR_TIME
    info.uname = info.gname = ""
    tf.addfile(info, io.BytesIO(data))


def build_sdist(sdist_directory, config_settings=None):
    """The package's sources with the library, so that it installs as the wheel does."""
    src = _source_dir()
    meta, metadata = _context(src)
    library = find_library(src, meta["version"])
    base = "%s-%s" % (meta["name"], meta["version"])
    files = [(n, _read(p), 0o644) for n, p in _package_files(src)]
    files.append(("%s/%s" % (PACKAGE, BUNDLED), _read(library), 0o755))
    for n in ("pyproject.toml", meta["readme"], "_backend/agentauthz_build.py"):
        files.append((n, _read(os.path.join(src, n)), 0o644))
    files.append(("LICENSE", _read(_license_file(src)), 0o644))
    files.append(("PKG-INFO", metadata.encode("utf-8"), 0o644))
    os.makedirs(sdist_directory, exist_ok=True)
    name = base + ".tar.gz"
    tmp = os.path.join(sdist_directory, name + ".part")
    with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for n, d, mode in sorted(files):
            _tar_add(tf, "%s/%s" % (base, n), d, mode)
    os.replace(tmp, os.path.join(sdist_directory, name))
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def main(argv):
    if len(argv) != 3 or argv[1] not in ("wheel", "sdist"):
        sys.stderr.write("usage: %s wheel|sdist OUTDIR (from bindings/python)\n" % argv[0])
        return 2
    try:
        build = build_wheel if argv[1] == "wheel" else build_sdist
        print(os.path.join(argv[2], build(argv[2])))
    except BuildError as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
