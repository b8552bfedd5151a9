"""The priors shipped inside the package, found by name or by identity.

Every default prior exvc has shipped stays in ``bundled/<name>/`` (diffusers folders plus the
``training.json`` that records its identity), so a file made with an older default still
decodes. Torch-free on purpose: probing a file names its prior without loading a model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

BUNDLED_DIR = Path(__file__).parent / "bundled"
DEFAULT_NAME = "exvc-default-2"
DEFAULT_DIR = BUNDLED_DIR / DEFAULT_NAME
RECORD_FILE = "training.json"


def bundled_priors() -> dict[str, tuple[Path, bytes]]:
    """Every bundled prior: name -> (folder, identity from its training record). Reads JSON
    only; ``load_prior`` recomputes the identity from the weights."""
    found = {}
    for record in sorted(BUNDLED_DIR.glob(f"*/{RECORD_FILE}")):
        digest = json.loads(record.read_text())["digest_sha256"]
        found[record.parent.name] = (record.parent, bytes.fromhex(digest))
    return found


def bundled_prior_for(matches: Callable[[bytes], bool]) -> Path | None:
    """The folder of the bundled prior whose identity satisfies ``matches`` (a predicate on
    the 32-byte digest, such as a file's ``PriorRecord.matches``), the default first; None
    if no bundled prior matches."""
    priors = bundled_priors()
    names = sorted(priors, key=lambda n: n != DEFAULT_NAME)
    return next((priors[n][0] for n in names if matches(priors[n][1])), None)
