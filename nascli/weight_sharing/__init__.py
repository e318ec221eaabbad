"""Weight-sharing pieces that one-shot strategies and evaluators both use: the training split's
two halves and per-epoch random streams, single-path supernet training, and scoring a path with
inherited weights. It sits below strategies/ and evaluators/ so that neither imports the other."""
