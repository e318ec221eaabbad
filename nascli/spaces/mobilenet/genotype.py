"""A MobileNet-space architecture: per stage a depth and every block slot's (kernel, expansion, SE),
its published reference points, and its one-line form, read without evaluating code.

The string lists the stages, `|`-separated; each reads `d<depth>:` and then every slot's op,
`,`-separated, the unused ones (after the depth) included, as once-for-all encodes them:

    d2:k3_e6,k3_e6,k3_e6,k3_e6|d3:k5_e3_se,k3_e4,k7_e6,k3_e3|...

An op `k<kernel>_e<expansion>` is an MBConv block (Sandler et al., 2018) with that depthwise kernel
and expansion ratio; `_se` adds squeeze-excitation (Hu et al., 2018; as in MnasNet and MobileNetV3).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from nascli.errors import GenotypeError

SKIP = "skip_connect"  # the supernet's op for a slot beyond its stage's depth (no genotype op)
_OP = re.compile(r"k(\d+)_e(\d+)(_se)?")
_STAGE = re.compile(r"d(\d+):(.*)")


class Block(NamedTuple):
    """One MBConv block's choices."""

    kernel: int
    expansion: int
    se: bool

    @property
    def op(self) -> str:
        """The block's op name, e.g. k5_e6_se: the supernet's alpha column and the string's token."""
        return f"k{self.kernel}_e{self.expansion}" + ("_se" if self.se else "")


class MobileNetArch(NamedTuple):
    """Per stage its depth (the first `depth` slots run) and every slot's block, used or not."""

    depths: tuple[int, ...]
    blocks: tuple[tuple[Block, ...], ...]

    def used(self) -> list[list[Block]]:
        """Per stage, the blocks the network builds."""
        return [list(stage[:depth]) for depth, stage in zip(self.depths, self.blocks)]


def parse_op(op: Any) -> Block:
    """The Block an op name such as `k5_e6_se` names, or a GenotypeError."""
    match = _OP.fullmatch(op) if isinstance(op, str) else None
    if match is None:
        raise GenotypeError(f"{op!r} is not a MobileNet block op; ops read k<kernel>_e<expansion>[_se], e.g. k5_e6_se.")
    return Block(int(match[1]), int(match[2]), match[3] is not None)


@dataclass(frozen=True)
class Choices:
    """What the space lets an architecture choose: per stage a depth in min..max, and per slot a
    kernel, an expansion ratio and SE on or off (the space's options, in gene order)."""

    kernels: tuple[int, ...]
    expansions: tuple[int, ...]
    se: tuple[bool, ...]
    min_depths: tuple[int, ...]
    max_depths: tuple[int, ...]

    @property
    def ops(self) -> tuple[str, ...]:
        """Every block op, kernels outermost, then expansions, then SE (the supernet's alpha columns)."""
        return tuple(Block(k, e, s).op for k in self.kernels for e in self.expansions for s in self.se)

    def hint(self) -> str:
        return (f"{len(self.max_depths)} stages with {list(self.max_depths)} slots, depths in "
                f"{list(zip(self.min_depths, self.max_depths))}, kernels {list(self.kernels)}, "
                f"expansions {list(self.expansions)}, SE {list(self.se)}")

    # --- checks -------------------------------------------------------------------------------
    def validate(self, arch: Any) -> MobileNetArch:
        """`arch` as a MobileNetArch of this space, or a GenotypeError saying what is wrong."""
        if not (isinstance(arch, (tuple, list)) and len(arch) == 2):
            raise GenotypeError(f"A MobileNet arch is (depths, blocks), got {arch!r}; this space has {self.hint()}.")
        depths, blocks = arch
        stages = len(self.max_depths)
        if not (isinstance(depths, (tuple, list)) and isinstance(blocks, (tuple, list))
                and len(depths) == stages == len(blocks)):
            raise GenotypeError(f"A MobileNet arch needs {stages} depths and {stages} stages of blocks, got "
                                f"{depths!r} and {blocks!r}; this space has {self.hint()}.")
        return MobileNetArch(tuple(self._depth(d, s) for s, d in enumerate(depths)),
                             tuple(self._stage(stage, s) for s, stage in enumerate(blocks)))

    def _depth(self, depth: Any, stage: int) -> int:
        low, high = self.min_depths[stage], self.max_depths[stage]
        if type(depth) is not int or not low <= depth <= high:
            raise GenotypeError(f"MobileNet stage {stage + 1}: depth {depth!r} is not an integer in {low}..{high}.")
        return depth

    def _stage(self, stage: Any, index: int) -> tuple[Block, ...]:
        slots = self.max_depths[index]
        if not isinstance(stage, (tuple, list)) or len(stage) != slots:
            raise GenotypeError(f"MobileNet stage {index + 1} needs {slots} block slots (unused ones included), "
                                f"got {stage!r}.")
        return tuple(self._block(block, index, t) for t, block in enumerate(stage))

    def _block(self, block: Any, stage: int, slot: int) -> Block:
        where = f"MobileNet stage {stage + 1}, slot {slot + 1}"
        if isinstance(block, str):
            block = parse_op(block)
        if not (isinstance(block, (tuple, list)) and len(block) == 3):
            raise GenotypeError(f"{where}: {block!r} is not a block (kernel, expansion, se) or an op name.")
        kernel, expansion, se = block
        if type(kernel) is not int or kernel not in self.kernels:
            raise GenotypeError(f"{where}: kernel {kernel!r} is not one of {list(self.kernels)}.")
        if type(expansion) is not int or expansion not in self.expansions:
            raise GenotypeError(f"{where}: expansion {expansion!r} is not one of {list(self.expansions)}.")
        if type(se) is not bool or se not in self.se:
            raise GenotypeError(f"{where}: se {se!r} is not one of {list(self.se)}.")
        return Block(kernel, expansion, se)


# --- text ------------------------------------------------------------------------------------------
_FORM_HINT = ("a valid string lists the stages '|'-separated, each as d<depth>: and then every slot's op "
              "','-separated (unused slots included), e.g. d2:k3_e6,k3_e6,k5_e3_se,k3_e4|d1:k7_e6")


def _malformed(text: str, problem: str) -> GenotypeError:
    """The error for a MobileNet string that does not parse: what is wrong, and the valid form."""
    return GenotypeError(f"Malformed MobileNet architecture string {text!r}: {problem}; {_FORM_HINT}.")


def format(arch: MobileNetArch) -> str:  # noqa: A001 - the inverse of parse
    """The one-line form of a (checked) architecture."""
    return "|".join(f"d{depth}:" + ",".join(block.op for block in stage)
                    for depth, stage in zip(arch.depths, arch.blocks))


def parse(text: Any) -> MobileNetArch:
    """An architecture from its one-line form (not yet checked against a space's choices)."""
    if not isinstance(text, str):
        raise GenotypeError(f"A MobileNet architecture string must be text, got {type(text).__name__}.")
    text = text.strip()
    depths, blocks = [], []
    for index, stage in enumerate(text.split("|"), start=1):
        match = _STAGE.fullmatch(stage)
        if match is None:
            raise _malformed(text, f"stage {index} ({stage!r}) does not read d<depth>:<op>,<op>,...")
        ops = match[2].split(",")
        try:
            blocks.append(tuple(parse_op(op) for op in ops))
        except GenotypeError:
            bad = next(op for op in ops if _OP.fullmatch(op) is None)
            raise _malformed(text, f"stage {index} has the unknown op {bad!r}") from None
        depths.append(int(match[1]))
    return MobileNetArch(tuple(depths), tuple(blocks))


def to_json(arch: MobileNetArch) -> dict[str, list]:
    return {"depths": list(arch.depths), "blocks": [[block.op for block in stage] for stage in arch.blocks]}


def from_json(obj: Any) -> tuple[Any, Any]:
    """(depths, blocks) of genotype.json's `arch` (not yet checked against a space's choices)."""
    if not isinstance(obj, dict) or set(obj) != {"depths", "blocks"}:
        raise GenotypeError(f"A MobileNet arch in JSON is an object with exactly the keys depths and blocks, "
                            f"got {obj!r}.")
    return obj["depths"], obj["blocks"]


# --- published reference points --------------------------------------------------------------------
def _stages(depths: Sequence[int], ops: Sequence[Sequence[str]], slots: Sequence[int], fill: str) -> MobileNetArch:
    """An architecture from the used ops of each stage, the unused slots filled with `fill`."""
    blocks = tuple(tuple(parse_op(op) for op in [*used, *[fill] * (n - len(used))]) for used, n in zip(ops, slots))
    return MobileNetArch(tuple(depths), blocks)


_SLOTS = (4, 4, 4, 4, 4, 1)  # conf/search_space/mobilenet.yaml's max_depths: the presets are of that space

# MobileNetV2 (Sandler et al., CVPR 2018, Table 2): every block k3, expansion 6, no SE, its stage
# depths 2, 3, 4, 3, 3, 1 after the fixed first block (in this space's stem), on this space's
# ProxylessNAS-width skeleton (24, 40, 80, 96, 192, 320 where V2 has 24, 32, 64, 96, 160, 320).
# The three ProxylessNAS presets are in the style of the GPU, CPU and mobile networks (Cai et al.,
# ICLR 2019, Fig. 4; the released net configs of mit-han-lab/proxylessnas, as osmr/imgclsmob ports
# them): each stage keeps the
# kernels and expansions of the blocks the search kept, in order; where it dropped a middle block
# (a zero op) this prefix-depth space moves the later blocks up. Widths are this space's, not the
# searched networks' (those are wider: up to 432 channels for the GPU one). None of them uses SE.
PUBLISHED: dict[str, MobileNetArch] = {
    "MOBILENET_V2": _stages((2, 3, 4, 3, 3, 1), [["k3_e6"] * d for d in (2, 3, 4, 3, 3, 1)], _SLOTS, "k3_e6"),
    "PROXYLESS_GPU": _stages(  # shallow and wide-kerneled: large kernels, few blocks early
        (1, 2, 2, 3, 4, 1),
        [["k5_e3"], ["k7_e3", "k3_e3"], ["k7_e6", "k5_e3"], ["k5_e6", "k3_e3", "k5_e3"],
         ["k7_e6", "k7_e6", "k7_e6", "k5_e6"], ["k7_e6"]], _SLOTS, "k3_e3"),
    "PROXYLESS_CPU": _stages(  # deep and narrow: mostly 3x3 kernels, every stage full
        (4, 4, 2, 4, 4, 1),
        [["k3_e6", "k3_e3", "k3_e3", "k3_e3"], ["k3_e6", "k3_e3", "k3_e3", "k5_e3"], ["k3_e6", "k3_e3"],
         ["k5_e6", "k3_e3", "k3_e3", "k3_e3"], ["k5_e6", "k5_e3", "k5_e3", "k3_e3"], ["k5_e6"]], _SLOTS, "k3_e3"),
    "PROXYLESS_MOBILE": _stages(  # between the two: 5x5 and 7x7 kernels, deep later stages
        (2, 4, 4, 4, 4, 1),
        [["k5_e3", "k3_e3"], ["k7_e3", "k3_e3", "k5_e3", "k5_e3"], ["k7_e6", "k5_e3", "k5_e3", "k5_e3"],
         ["k5_e6", "k5_e3", "k5_e3", "k5_e3"], ["k7_e6", "k7_e6", "k7_e3", "k7_e3"], ["k7_e6"]], _SLOTS, "k3_e3"),
}
