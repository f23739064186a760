"""The spurious study's positive control: ERM on the training images whose background cue
agrees with the label (docs/science.md section 9, "Controls").

On those images the cue predicts the label perfectly, so a model that can use it will rely on
it more than ERM, which also sees the 1 - agreement share where the cue misleads. Claim 4's
instruments (RFS, cue reliance) count only if this model moves them: lower RFS and higher cue
reliance than ERM. Only for data that records each image's cue (the spurious-background
study); everything else is ERM's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch

from robsens.methods import register
from robsens.methods.erm import ERM


@register("cue_control")
class CueControl(ERM):
    HPARAMS: ClassVar[dict] = {"properties": {}}
    ROLE = "spurious_control"

    @classmethod
    def training_examples(cls, split: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        if "cue" not in split:
            raise ValueError("cue_control trains on data that records each image's background "
                             "cue: list it in spurious.models only, not in corner.models")
        return torch.nonzero(split["cue"] == split["y"]).squeeze(1)
