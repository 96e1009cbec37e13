"""The ctypes structs match the C headers byte for byte.

A small C program prints sizeof and offsetof for every mirrored struct; the
test compares them with the ctypes declarations. Skipped when no C compiler
or no headers are at hand (an installed package without sources).
"""

import ctypes
import os
import shutil
import subprocess

import pytest

from agentauthz import _lib

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "include"))

STRUCTS = {
    "agentauthz_error": _lib.Error,
    "agentauthz_secret_request": _lib.SecretRequest,
    "agentauthz_engine_options": _lib.EngineOptions,
    "agentauthz_load_options": _lib.LoadOptions,
    "agentauthz_policy_info": _lib.PolicyInfo,
    "agentauthz_session_options": _lib.SessionOptions,
    "agentauthz_decision": _lib.Decision,
    "agentauthz_delegate_options": _lib.DelegateOptions,
    "agentauthz_token_claims": _lib.TokenClaims,
    "agentauthz_token_verify_options": _lib.TokenVerifyOptions,
    "agentauthz_audit_options": _lib.AuditOptions,
    "agentauthz_audit_report": _lib.AuditReport,
    "agentauthz_audit_verify_options": _lib.AuditVerifyOptions,
    "agentauthz_audit_result": _lib.AuditResult,
}


def _program():
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <agentauthz.h>",
             "int main(void) {"]
    for cname, cls in STRUCTS.items():
        lines.append('printf("%s size %%zu\\n", sizeof(%s));' % (cname, cname))
        for field, _ in cls._fields_:
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));'
                         % (cname, field, cname, field))
    lines += ["return 0;", "}"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    cc = os.environ.get("CC", "cc")
    if not shutil.which(cc) or not os.path.exists(os.path.join(INCLUDE, "agentauthz.h")):
        pytest.skip("no C compiler or no headers")
    d = tmp_path_factory.mktemp("layout")
    src, exe = d / "layout.c", d / "layout"
    src.write_text(_program())
    # The generated agentauthz/version.h lives in the build tree.
    extra = []
    built = os.environ.get("AGENTAUTHZ_BUILD_INCLUDE")
    if built:
        extra = ["-I", built]
    subprocess.run([cc, "-std=c11", "-I", INCLUDE] + extra + [str(src), "-o", str(exe)],
                   check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return dict((k, int(v)) for k, v in (line.rsplit(" ", 1) for line in out.splitlines()))


@pytest.mark.parametrize("cname", sorted(STRUCTS))
def test_struct_matches_header(c_layout, cname):
    cls = STRUCTS[cname]
    assert ctypes.sizeof(cls) == c_layout["%s size" % cname]
    for field, _ in cls._fields_:
        assert getattr(cls, field).offset == c_layout["%s.%s" % (cname, field)], field
