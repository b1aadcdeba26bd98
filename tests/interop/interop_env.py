"""What the interop scripts share: models/convert/ (the converters and safetensors_io) on the
import path, and the skip when a module they need is missing: exit 77 (CTest's
SKIP_RETURN_CODE) with the reason and the Debian packages to install."""

import importlib
import os
import sys

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "convert")
sys.path.insert(0, TOOLS)


def require(modules, needs, debian):
    """The modules, imported in order; a missing one prints "SKIP: <needs> for <python> (<the
    error>); Debian: apt-get install <debian>" and exits 77."""
    try:
        return [importlib.import_module(name) for name in modules]
    except ImportError as e:
        print("SKIP: %s for %s (%s); Debian: apt-get install %s"
              % (needs, sys.executable, e, debian))
        sys.exit(77)
