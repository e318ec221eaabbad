"""Generated text with structure a small recurrent network learns in seconds: a corpus of a
first-order Markov (bigram) process for language modelling, and texts whose class is decided by
which marker words they hold, for classification. Nothing is downloaded."""

from __future__ import annotations

import csv
import random
from pathlib import Path

WORDS = [f"w{i}" for i in range(24)]


def bigram_sentences(n: int, seed: int) -> list[str]:
    """Sentences of a bigram process: each word is followed by one of two successors (80% the
    first), so the next word is mostly predictable from the current one."""
    table = random.Random(1234)  # one process for every split
    successors = {w: table.sample(WORDS, 2) for w in WORDS}
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        word, sentence = rng.choice(WORDS), []
        for _ in range(rng.randint(4, 10)):
            sentence.append(word)
            first, second = successors[word]
            word = first if rng.random() < 0.8 else second
        out.append(" ".join(sentence))
    return out


def lm_corpus(root: Path, sentences: tuple[int, int, int] = (300, 40, 40)) -> Path:
    """root/train.txt, valid.txt, test.txt of the bigram process (a word of valid/test may be rare)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, n, seed in zip(("train.txt", "valid.txt", "test.txt"), sentences, (0, 1, 2)):
        (root / name).write_text("\n".join(bigram_sentences(n, seed)) + "\n")
    return root


MARKERS = {"good": ["great", "fine", "love"], "bad": ["awful", "poor", "hate"]}


def labelled_texts(n: int, seed: int) -> list[tuple[str, str]]:
    """(text, label): random filler words with one or two marker words of the label's kind."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "good" if i % 2 == 0 else "bad"
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 12))]
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(MARKERS[label]))
        out.append((" ".join(words), label))
    return out


def labelled_csv(path: Path, n: int = 120, seed: int = 0, delimiter: str = ",",
                 columns: tuple[str, str] = ("review", "sentiment")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(list(columns))
        writer.writerows(labelled_texts(n, seed))
    return path


def imdb_folders(root: Path, n: int = 40) -> Path:
    """The aclImdb layout: root/train/<class>/<i>.txt, root/test/<class>/<i>.txt, root/train/unsup/."""
    for split, seed in (("train", 0), ("test", 1)):
        for i, (text, label) in enumerate(labelled_texts(n, seed)):
            folder = root / split / ("pos" if label == "good" else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_7.txt").write_text(text)
    (root / "train" / "unsup").mkdir(parents=True, exist_ok=True)
    (root / "train" / "unsup" / "0_0.txt").write_text("no label here")
    return root
