"""nascli's Optuna sweeper where Hydra looks for plugins: Hydra instantiates a sweeper only from the
hydra_plugins namespace. The code is nascli.hpo.sweeper; nascli.apps registers this class by hand,
because Hydra's scan of hydra_plugins/ folders misses an editable install's."""

from nascli.hpo import sweeper as _sweeper


class OptunaSweeper(_sweeper.OptunaSweeper):
    """`hydra/sweeper=optuna` (conf/hydra/sweeper/optuna.yaml): see nascli.hpo.sweeper.OptunaSweeper."""
