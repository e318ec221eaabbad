"""The pieces of a MobileNet network at the inputs they see, for latency tables: the stem (with its
fixed first block), every block slot with each candidate MBConv (and, where the depth may end
before it, skip_connect: nothing to run), and the head."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from nascli.spaces.base import CostUnit
from nascli.spaces.mobilenet.genotype import SKIP, Choices, parse_op
from nascli.spaces.mobilenet.network import Head, MBConv, Skeleton, Slot, Stem


def _key(piece: str, c_in: int, c_out: int, stride: int, activation: str, size: int) -> str:
    return f"mobilenet/{piece}/{c_in}-{c_out}/s{stride}/{activation}/{size}"


def _block(slot: Slot, op: str, activation: str) -> Callable[[], nn.Module]:
    """A builder of the MBConv `op` in `slot`."""
    return lambda: MBConv(slot.c_in, slot.c_out, slot.stride, parse_op(op), activation)


def cost_units(skeleton: Skeleton, choices: Choices, num_classes: int, in_channels: int,
               input_size: int) -> list[CostUnit]:
    """Stem, then slot by slot (group b<i> of the supernet) every op at the slot's input, then the head."""
    act = skeleton.activation
    units = [CostUnit(_key(f"stem{skeleton.stem}", in_channels, skeleton.first, skeleton.stem_stride, act, input_size),
                      (in_channels, input_size, input_size), lambda: Stem(in_channels, skeleton))]
    for slot, size in zip(skeleton.all_slots(), skeleton.slot_sizes(input_size)):
        group, shape = f"b{slot.index}", (slot.c_in, size, size)
        units.extend(CostUnit(_key(op, slot.c_in, slot.c_out, slot.stride, act, size), shape,
                              _block(slot, op, act), (group, 0, op)) for op in choices.ops)
        if slot.position >= choices.min_depths[slot.stage]:  # the depth may end before this slot
            units.append(CostUnit(f"mobilenet/{SKIP}/{slot.c_in}/{size}", shape, nn.Identity, (group, 0, SKIP)))
    size, last = skeleton.final_size(input_size), skeleton.widths[-1]
    units.append(CostUnit(_key(f"head{skeleton.head}", last, num_classes, 1, act, size), (last, size, size),
                          lambda: Head(last, skeleton, num_classes)))
    return units
