"""The MobileNet skeleton: widths, strides and block slots in channels, as the space's options
resolve them; the network outline and the elastic blocks are laid out by it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Slot(NamedTuple):
    """One block slot of the skeleton: where it is and the shape it maps."""

    index: int  # over all stages: the supernet's group b<index>
    stage: int
    position: int  # within its stage; the first one changes width and stride
    c_in: int
    c_out: int
    stride: int


@dataclass(frozen=True)
class Skeleton:
    """The macro skeleton in channels: stem, stages of block slots, head (options resolved by the space)."""

    stem: int
    first: int  # width after the stem's fixed first block (C)
    stem_stride: int
    widths: tuple[int, ...]
    strides: tuple[int, ...]
    slots: tuple[int, ...]  # block slots per stage: its maximum depth
    head: int
    activation: str
    dropout: float

    def all_slots(self) -> list[Slot]:
        """Every block slot in network order."""
        out, c_in = [], self.first
        for stage, (width, stride, slots) in enumerate(zip(self.widths, self.strides, self.slots)):
            for position in range(slots):
                first = position == 0
                out.append(Slot(len(out), stage, position, c_in, width, stride if first else 1))
                c_in = width
        return out


def squeeze_channels(channels: int) -> int:
    """SE bottleneck width: a quarter of the expanded channels (MobileNetV3), at least 1."""
    return max(1, channels // 4)
