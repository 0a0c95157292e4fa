"""Every subscribers module imports on its own, whichever is imported first.

A cycle through a ``from module import name`` loads or fails depending on which module a
process happens to import first: a web worker started by ``serve`` failed where the test
suite, importing in another order, passed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import importlib, pkgutil, sys
import subscribers
names = sorted(m.name for m in pkgutil.iter_modules(subscribers.__path__, "subscribers."))
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m == "subscribers" or m.startswith("subscribers.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as problem:
        failed.append(f"{name}: {problem}")
print(len(names))
print("\\n".join(failed))
"""


def test_each_subscribers_module_imports_first_on_its_own() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True
    )
    count, *failed = done.stdout.splitlines()
    assert int(count) > 20  # the walk found the package's modules
    assert [line for line in failed if line] == []
