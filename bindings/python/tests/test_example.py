"""examples/python_guard.py runs and gets the decisions it expects."""

import os
import subprocess
import sys

import pytest

import agentauthz

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(agentauthz.__file__)))
EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                       "examples", "python_guard.py")


def test_example_runs():
    if not os.path.exists(EXAMPLE):
        pytest.skip("no examples directory")
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, EXAMPLE], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "deny   read_file    [never-dotenv" in r.stdout
    assert "allow  send_money" in r.stdout
