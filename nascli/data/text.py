"""Text datasets: a corpus for language modelling (dataset=text_lm) and labelled texts for
classification (dataset=text_classification), as token ids a recurrent network embeds.

Both give `TextSplits`, a DataSplits whose task says which loss and metric fit it:

- `lm`: PTB / WikiText-2 layout (`train.txt`, `valid.txt`, `test.txt` in `root`), one sentence a
  line, words split on whitespace, `<eos>` ending every line and `<unk>` for words out of the
  vocabulary (PTB's own files already hold `<unk>`). A split is one contiguous stream of ids,
  batched as the DARTS reference code's rnn/ does (nascli.data.text_batches): `batch_size` parallel
  streams cut into windows of `bptt` tokens, each predicting the next token.
- `classification`: a CSV/TSV of text and label columns, or class folders of `.txt` files (the
  aclImdb layout, `root/train/pos/*.txt`, `root/test/neg/*.txt`); word, character or (optional
  `tokenizers` library) subword tokens, cut or padded to `max_length` with `<pad>` (id 0).

Shape for networks (DataShape): classes (the vocabulary, for a language model), "channels" = the
vocabulary size the embedding takes, "input size" = the sequence length (bptt / max_length).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from nascli.data.datasets import Augment, DataShape, DataSplits, Split, _stratified_split
from nascli.errors import DatasetError

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
TASKS = ("lm", "classification")
LM_FILES = {  # the names each split's file may have: the plain ones, PTB's and WikiText's own
    "train": ("train.txt", "ptb.train.txt", "wiki.train.tokens"),
    "val": ("valid.txt", "ptb.valid.txt", "wiki.valid.tokens"),
    "test": ("test.txt", "ptb.test.txt", "wiki.test.tokens"),
}
PTB_HELP = ("Put the corpus there as train.txt, valid.txt and test.txt, one sentence a line (Penn Treebank's "
            "ptb.train.txt, ptb.valid.txt, ptb.test.txt from the data/ folder of Mikolov's simple-examples, or "
            "WikiText-2's wiki.*.tokens, are read under their own names), and set dataset.root=<that folder>.")
IMDB_HELP = ("Give a CSV/TSV file with a text and a label column (dataset.path=reviews.csv dataset.text_column=text "
             "dataset.label_column=label), or a folder of class folders of .txt files (dataset.path=aclImdb: "
             "aclImdb/train/pos/*.txt, aclImdb/train/neg/*.txt, aclImdb/test/...; IMDB's aclImdb_v1.tar.gz "
             "unpacked is that layout).")
WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclass
class TextSplits(DataSplits):
    """DataSplits of token ids. `task` says what a network predicts: the next token of a stream
    (`lm`; splits hold 1-D streams) or one class per text (`classification`; splits hold
    (N, max_length) ids padded with 0)."""

    task: Literal["lm", "classification"] = "lm"
    vocab: list[str] = field(default_factory=list)
    seq_len: int = 35  # bptt (lm) or max_length (classification)
    tokens: str = "word"
    variable_bptt: bool = False  # lm: training windows of varying length around bptt (AWD-LSTM)

    @property
    def in_channels(self) -> int:  # what an embedding takes: the vocabulary size
        return len(self.vocab)

    @property
    def input_size(self) -> int:
        return self.seq_len

    @property
    def shape(self) -> DataShape:
        return DataShape(self.num_classes, len(self.vocab), self.seq_len)

    @property
    def objective_metric(self) -> str:
        """What a network trained on it is validated by (nascli.runtime.metrics)."""
        return "val_perplexity" if self.task == "lm" else "val_accuracy"

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def describe(self) -> dict[str, Any]:
        out = {
            "name": self.name, "task": self.task, "tokens": self.tokens, "vocab_size": len(self.vocab),
            "seq_len": self.seq_len, "num_classes": self.num_classes,
            "in_channels": self.in_channels, "input_size": self.input_size,
            "train": len(self.train), "val": len(self.val), "test": len(self.test),
            "class_names": self.class_names if self.task == "classification" else [],
            "unit": "tokens" if self.task == "lm" else "texts",
        }
        return {**out, **({"source": self.source} if self.source is not None else {})}


def _text_splits(name: str, train: Split, val: Split, test: Split, task: str, vocab: list[str], class_names: list[str],
                 seq_len: int, tokens: str, source: dict[str, Any]) -> TextSplits:
    num_classes = len(vocab) if task == "lm" else len(class_names)
    return TextSplits(name, train, val, test, num_classes, class_names, 1.0, [], [], Augment(), None, source,
                      task=task, vocab=vocab, seq_len=seq_len, tokens=tokens)  # type: ignore[arg-type]


# --- vocabulary ----------------------------------------------------------------------------------
def build_vocab(counts: Counter[str], specials: list[str], vocab_size: int | None) -> list[str]:
    """`specials` first, then the most frequent tokens (ties: first seen first), `vocab_size` in all
    (None: every token)."""
    if vocab_size is not None and vocab_size < len(specials) + 1:
        raise DatasetError(f"dataset.vocab_size must leave room for a token beside {', '.join(specials)}: "
                           f"at least {len(specials) + 1}, got {vocab_size}.")
    ranked = [t for t, _ in counts.most_common() if t not in specials]  # most_common keeps insertion order on ties
    keep = ranked if vocab_size is None else ranked[: vocab_size - len(specials)]
    return [*specials, *keep]


def _ids(tokens: Iterable[str], index: dict[str, int]) -> list[int]:
    unk = index[UNK]
    return [index.get(t, unk) for t in tokens]


# --- language modelling ---------------------------------------------------------------------------
def _lm_file(root: Path, split: str) -> Path:
    for candidate in LM_FILES[split]:
        if (root / candidate).is_file():
            return root / candidate
    raise DatasetError(f"dataset.root={root} has no {split} file ({' or '.join(LM_FILES[split])}). {PTB_HELP}")


def _lm_words(path: Path, lowercase: bool, max_lines: int | None = None) -> list[str]:
    """Every line's words, each line ended by <eos> (blank lines skipped, as PTB has none); the
    first `max_lines` lines with words only, when given."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DatasetError(f"Cannot read {path} ({exc.strerror or exc}).") from None
    words: list[str] = []
    lines = 0
    for line in text.splitlines():
        line = line.lower() if lowercase else line
        parts = line.split()
        if parts and (max_lines is None or lines < max_lines):
            lines += 1
            words.extend(parts)
            words.append(EOS)
    return words


def text_lm_splits(
    name: str,
    root: str | None,
    bptt: int,
    vocab_size: int | None,
    lowercase: bool,
    variable_bptt: bool,
    max_train_samples: int | None,
    search_split: str,
) -> TextSplits:
    """A corpus in `root` (train.txt, valid.txt, test.txt) as three token streams over the training
    text's vocabulary (<unk> for the rest, <eos> at each line's end)."""
    if root is None:
        raise DatasetError(f"dataset=text_lm needs dataset.root, the folder of the corpus. {PTB_HELP}")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"dataset.root={folder} is not a folder. {PTB_HELP}")
    if bptt < 1:
        raise DatasetError(f"dataset.bptt must be at least 1, got {bptt}.")
    paths = {split: _lm_file(folder, split) for split in LM_FILES}
    if max_train_samples is not None and max_train_samples < 1:
        raise DatasetError(f"dataset.max_train_samples must be a positive integer (lines of train.txt), got {max_train_samples}.")
    words = {split: _lm_words(path, lowercase, max_train_samples if split == "train" else None)
             for split, path in paths.items()}
    for split, seen in words.items():
        if len(seen) < 2:
            raise DatasetError(f"{paths[split]} holds no text (a language model needs at least two tokens); "
                               f"check the file. {PTB_HELP}")
    vocab = build_vocab(Counter(words["train"]), [UNK, EOS], vocab_size)
    index = {t: i for i, t in enumerate(vocab)}
    streams = {split: torch.tensor(_ids(seen, index), dtype=torch.long) for split, seen in words.items()}
    unknown = {split: int((s == index[UNK]).sum()) for split, s in streams.items()}
    splits = [Split(s, s) for s in (streams["train"], streams["val"], streams["test"])]
    source = {"root": str(folder), "files": {k: str(v) for k, v in paths.items()}, "unk_tokens": unknown}
    data = _text_splits(name, *splits, "lm", vocab, vocab, bptt, "word", source)
    data.variable_bptt = variable_bptt
    if search_split not in ("validation", "halves"):
        raise DatasetError(f"dataset.search_split must be validation or halves, got {search_split!r}.")
    data.search_split = search_split
    return data


# --- classification --------------------------------------------------------------------------------
class Tokenizer:
    """Text -> tokens: `word` (words and punctuation marks), `char`, or `subword` (a trained or
    given tokenizers.Tokenizer; the optional `tokenizers` library)."""

    def __init__(self, kind: str, lowercase: bool, tokenizer_file: str | None) -> None:
        if kind not in ("word", "char", "subword"):
            raise DatasetError(f"dataset.tokens must be word, char or subword, got {kind!r}.")
        self.kind, self.lowercase, self.file = kind, lowercase, tokenizer_file
        self.subword: Any = None
        if kind == "subword":
            import importlib.util

            if importlib.util.find_spec("tokenizers") is None:
                raise DatasetError("dataset.tokens=subword needs the tokenizers library: pip install "
                                   "\"nascli[text]\" (or pip install tokenizers), or use tokens=word or char.")

    def fit(self, texts: list[str], vocab_size: int | None) -> None:
        """A subword tokenizer: read from `tokenizer_file`, else a BPE trained on `texts`."""
        if self.kind != "subword":
            return
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import models, pre_tokenizers, trainers

        if self.file is not None:
            try:
                self.subword = HFTokenizer.from_file(str(Path(self.file).expanduser()))
            except Exception as exc:
                raise DatasetError(f"dataset.tokenizer={self.file} is not a tokenizers JSON file ({exc}).") from None
            return
        tok = HFTokenizer(models.BPE(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size or 8000, special_tokens=[PAD, UNK], show_progress=False)
        tok.train_from_iterator([t.lower() if self.lowercase else t for t in texts], trainer)
        self.subword = tok

    def __call__(self, text: str) -> list[str]:
        text = text.lower() if self.lowercase else text
        if self.kind == "word":
            return WORD.findall(text)
        if self.kind == "char":
            return [c for c in text if not c.isspace() or c == " "]
        return list(self.subword.encode(text).tokens)


@dataclass
class Texts:
    """Texts read from a table or folders, each with its label name and given split (or None)."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    splits: list[str | None] = field(default_factory=list)
    where: list[str] = field(default_factory=list)  # file (and row) of each, for messages
    layout: str = "table"


def _read_table(path: Path, text_column: str, label_column: str, delimiter: str | None) -> Texts:
    sep = delimiter or ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    csv.field_size_limit(2**31 - 1)
    out = Texts(layout="table")
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.DictReader(handle, delimiter=sep)
            columns = reader.fieldnames or []
            for key, column in (("text_column", text_column), ("label_column", label_column)):
                if column not in columns:
                    raise DatasetError(f"dataset.{key}={column!r} is not a column of {path}; its columns are: "
                                       f"{', '.join(columns) or '(none: is the file empty?)'}.")
            has_split = "split" in columns
            for row_no, row in enumerate(reader, start=2):
                out.texts.append(row[text_column] or "")
                out.labels.append((row[label_column] or "").strip())
                out.splits.append(_split_name(row["split"]) if has_split and row["split"] else None)
                out.where.append(f"{path}, line {row_no}")
    except OSError as exc:
        raise DatasetError(f"Cannot read {path} ({exc.strerror or exc}).") from None
    return out


def _split_name(value: str) -> str | None:
    return {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}.get(value.strip().lower())


def _read_folders(root: Path, skip: list[str]) -> Texts:
    """root/<class>/*.txt, or split folders root/train/<class>/*.txt (and val/, test/)."""
    def dirs(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in skip)

    out = Texts(layout="class folders")
    tops = dirs(root)
    split_dirs = [d for d in tops if _split_name(d.name) is not None]
    if split_dirs:
        out.layout = "split folders"
        parts = [(d, _split_name(d.name)) for d in split_dirs]
    else:
        parts = [(root, None)]
    for folder, split in parts:
        for class_dir in dirs(folder):
            for file in sorted(class_dir.glob("*.txt")):
                try:
                    out.texts.append(file.read_text(encoding="utf-8", errors="replace"))
                except OSError as exc:
                    raise DatasetError(f"Cannot read {file} ({exc.strerror or exc}).") from None
                out.labels.append(class_dir.name)
                out.splits.append(split)
                out.where.append(str(file))
    return out


def text_classification_splits(
    name: str,
    path: str | None,
    text_column: str,
    label_column: str,
    delimiter: str | None,
    skip_folders: list[str],
    tokens: str,
    tokenizer: str | None,
    lowercase: bool,
    vocab_size: int | None,
    max_length: int,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train_samples: int | None,
) -> TextSplits:
    """Labelled texts (a CSV/TSV or class folders of .txt) as padded token ids: given splits (a
    `split` column, or train/val/test folders) or held out of the rest, stratified and seeded."""
    if path is None:
        raise DatasetError(f"dataset=text_classification needs dataset.path. {IMDB_HELP}")
    where = Path(path).expanduser()
    if not where.exists():
        raise DatasetError(f"dataset.path={where} does not exist. {IMDB_HELP}")
    if max_length < 1:
        raise DatasetError(f"dataset.max_length must be at least 1, got {max_length}.")
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DatasetError(f"dataset.{key} must be in [0, 1), got {value}.")
    tokenize = Tokenizer(tokens, lowercase, tokenizer)
    read = _read_folders(where, list(skip_folders)) if where.is_dir() else _read_table(where, text_column, label_column, delimiter)
    if not read.texts:
        raise DatasetError(f"{where} holds no texts ({read.layout}). {IMDB_HELP}")
    for text, label, at in zip(read.texts, read.labels, read.where):
        if not text.strip():
            raise DatasetError(f"An empty text at {at}: every text needs at least one token; remove it or fill it in.")
        if not label:
            raise DatasetError(f"A text without a label at {at} (dataset.label_column={label_column}).")
    class_names = sorted(set(read.labels))
    if len(class_names) < 2:
        raise DatasetError(f"{where} has texts of only one class ({class_names[0]!r}): classification needs two or more.")
    labels = torch.tensor([class_names.index(label) for label in read.labels], dtype=torch.long)
    parts = _parts(labels, read.splits, val_fraction, test_fraction, split_seed, max_train_samples)
    train_texts = [read.texts[i] for i in parts["train"].tolist()]
    tokenize.fit(train_texts, vocab_size)
    tokenized = [tokenize(t) for t in read.texts]
    for toks, at in zip(tokenized, read.where):
        if not toks:
            raise DatasetError(f"The text at {at} has no {tokens} tokens: every text needs at least one.")
    counts: Counter[str] = Counter(t for i in parts["train"].tolist() for t in tokenized[i])
    vocab = build_vocab(counts, [PAD, UNK], vocab_size)
    if len(vocab) == len(class_names):  # vocab == classes is what a language model's shape says: keep them apart
        vocab.append("<unused>")
    index = {t: i for i, t in enumerate(vocab)}
    ids = torch.zeros(len(tokenized), max_length, dtype=torch.long)  # <pad> = 0
    for row, toks in enumerate(tokenized):
        seq = _ids(toks[:max_length], index)
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    splits = [Split(ids[parts[k]], labels[parts[k]]) for k in ("train", "val", "test")]
    source = {"path": str(where), "layout": read.layout, "texts": len(read.texts),
              "truncated": sum(len(t) > max_length for t in tokenized)}
    return _text_splits(name, *splits, "classification", vocab, class_names, max_length, tokens, source)


def _parts(labels: torch.Tensor, given: list[str | None], val_fraction: float, test_fraction: float,
           seed: int, max_train_samples: int | None) -> dict[str, torch.Tensor]:
    """Row indices of each split: the given ones, the absent ones held out of train (stratified)."""
    names = ("train", "val", "test")
    parts = {k: torch.tensor([i for i, s in enumerate(given) if (s or "train") == k], dtype=torch.long) for k in names}
    pool = parts["train"]
    if not len(parts["test"]):
        keep, held = _stratified_split(labels[pool], test_fraction, seed + 1)
        pool, parts["test"] = pool[keep], pool[held]
    if not len(parts["val"]):
        keep, held = _stratified_split(labels[pool], val_fraction, seed)
        pool, parts["val"] = pool[keep], pool[held]
    if max_train_samples is not None:
        if max_train_samples < 1:
            raise DatasetError(f"dataset.max_train_samples must be a positive integer, got {max_train_samples}.")
        pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:max_train_samples]
        pool = pool[pick.sort().values]
    if not len(pool):
        raise DatasetError("No texts are left for training after the validation and test splits; lower "
                           "dataset.val_fraction / dataset.test_fraction or add texts.")
    parts["train"] = pool
    return parts
