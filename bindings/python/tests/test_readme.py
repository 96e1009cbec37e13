"""The README's pytest example is this suite's test_readme_example.py, verbatim."""

import os
import subprocess
import sys

import agentauthz

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(agentauthz.__file__)))


def read(*parts):
    with open(os.path.join(HERE, *parts), encoding="utf-8") as f:
        return f.read()


def test_readme_shows_the_example_verbatim():
    example = read("test_readme_example.py")
    readme = read("..", "README.md")
    assert "```python\n" + example + "```" in readme
    assert len(example.strip().splitlines()) < 10


def test_example_runs_standalone_with_the_plugin_flag(tmp_path):
    # As a tool author would: a fresh directory, no conftest, `-p agentauthz.testing`.
    (tmp_path / "test_tool.py").write_text(read("test_readme_example.py"))
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "agentauthz.testing",
                        "-p", "no:cacheprovider", str(tmp_path)],
                       capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed" in r.stdout
