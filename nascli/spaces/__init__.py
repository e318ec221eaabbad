"""Search spaces: `nb201` (NAS-Bench-201 cell), `darts` (DARTS cells), `mobilenet` (an MBConv macro
space), `chain` (layer-by-layer plain CNNs, Zoph & Le's). See base.SearchSpace; each registers
itself (nascli.registry)."""
