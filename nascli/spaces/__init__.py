"""Search spaces: `nb201` (NAS-Bench-201 cell), `darts` (DARTS cells), `mobilenet` (an MBConv macro
space), `nb101` (NAS-Bench-101 cells), `chain` (layer-by-layer plain CNNs, Zoph & Le's). See
base.SearchSpace for the contract and outline for how a space writes its network once; each space
registers itself (nascli.registry)."""
