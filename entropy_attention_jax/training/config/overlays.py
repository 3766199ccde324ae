"""Size overlays: named model sizes applied on top of a dataset's preset.

``--size NAME`` (alias ``--preset NAME``, its former name) and
`get_config(..., overlays=[NAME])` apply one of these groups of dotted-key
overrides; they set model widths and depths only, so they combine with any
dataset's preset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SIZE_OVERLAYS: Mapping[str, Mapping[str, Any]] = {
    # A 64-wide, 2 + 2 layer ELinFormer (~1/4 of STAEformer's width): minutes
    # per run on a 2-core CPU instead of hours.
    "small": {
        "model.input_embedding_dim": 16, "model.tod_embedding_dim": 16,
        "model.dow_embedding_dim": 8, "model.adaptive_embedding_dim": 24,
        "model.feed_forward_dim": 128, "model.num_temporal_layers": 2,
        "model.num_spatial_layers": 2,
    },
    # Seconds per run: smoke tests and CI.
    "tiny": {
        "model.input_embedding_dim": 8, "model.tod_embedding_dim": 4,
        "model.dow_embedding_dim": 4, "model.adaptive_embedding_dim": 0,
        "model.feed_forward_dim": 16, "model.num_heads": 2,
        "model.num_temporal_layers": 1, "model.num_spatial_layers": 1,
    },
}

# The former name, kept for scripts that read it.
OVERLAYS = SIZE_OVERLAYS
