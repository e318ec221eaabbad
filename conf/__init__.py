# Hydra configs, shipped inside the package as `nascli.conf` (read as pkg://nascli.conf).
