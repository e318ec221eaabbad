"""dataset=text_lm and dataset=text_classification: built from their shipped YAMLs on generated
text; vocabularies, streams and batches as the DARTS reference code makes them; every bad input one
clear DatasetError."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from nascli.data.text import EOS, PAD, UNK
from nascli.data.text_batches import StreamBatches, TextBatches
from nascli.errors import DatasetError
from nascli.runtime.config import build_option
from textcorpus import imdb_folders, labelled_csv, lm_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lm_corpus(tmp_path_factory.mktemp("ptb"))


def test_a_corpus_becomes_three_streams_over_the_training_vocabulary(corpus: Path) -> None:
    data = build_option("dataset", "text_lm", {"root": str(corpus), "bptt": 7})
    assert data.task == "lm" and data.vocab[:2] == [UNK, EOS] and data.shape == (data.vocab_size, data.vocab_size, 7)
    train_words = (corpus / "train.txt").read_text().split()
    lines = (corpus / "train.txt").read_text().splitlines()
    assert len(data.train) == len(train_words) + len(lines)  # every line ends in <eos>
    first = lines[0].split()
    assert [data.vocab[i] for i in data.train.images[: len(first) + 1].tolist()] == [*first, EOS]
    assert data.describe()["task"] == "lm" and data.describe()["vocab_size"] == data.vocab_size


def test_words_out_of_the_kept_vocabulary_become_unk(corpus: Path) -> None:
    data = build_option("dataset", "text_lm", {"root": str(corpus), "vocab_size": 6})
    assert data.vocab_size == 6 and int((data.train.images == 0).sum()) > 0
    assert data.source["unk_tokens"]["train"] == int((data.train.images == 0).sum())


def test_streams_are_batched_contiguously_each_target_the_next_token() -> None:
    stream = torch.arange(23)
    batches = list(StreamBatches(stream, batch_size=2, bptt=4))
    rows = stream[:22].view(2, 11)  # batchify: the tail that does not fill a row is dropped
    assert len(batches) == len(StreamBatches(stream, 2, 4)) == 3 and StreamBatches(stream, 2, 4).tokens == 20
    x = torch.cat([b[0] for b in batches], dim=1)
    y = torch.cat([b[1] for b in batches], dim=1)
    assert torch.equal(x, rows[:, :-1]) and torch.equal(y, rows[:, 1:]) and batches[-1][0].shape == (2, 2)


def test_a_table_of_texts_is_padded_ids_with_class_names(tmp_path: Path) -> None:
    path = labelled_csv(tmp_path / "reviews.tsv", delimiter="\t")
    data = build_option("dataset", "text_classification", {
        "path": str(path), "text_column": "review", "label_column": "sentiment", "max_length": 8, "vocab_size": 50})
    assert data.task == "classification" and data.class_names == ["bad", "good"] and data.num_classes == 2
    assert data.vocab[:2] == [PAD, UNK] and data.shape == (2, data.vocab_size, 8)
    assert len(data.train) + len(data.val) + len(data.test) == 120 and len(data.test) == 12
    assert data.train.images.shape[1] == 8 and (data.train.images == 0).any()  # short texts padded with id 0
    ids, labels = next(iter(TextBatches(data.train, 16, train=True, seed=0)))
    assert ids.shape == (16, 8) and labels.shape == (16,)


def test_imdb_folders_give_their_splits_and_classes_and_characters_work(tmp_path: Path) -> None:
    root = imdb_folders(tmp_path / "aclImdb")
    data = build_option("dataset", "text_classification", {"path": str(root), "tokens": "char", "max_length": 30})
    assert data.class_names == ["neg", "pos"] and data.source["layout"] == "split folders"  # unsup skipped
    assert len(data.test) == 40 and len(data.train) + len(data.val) == 40 and data.tokens == "char"
    assert set(data.vocab) >= {"w", "1", " "}


def test_subword_tokens_need_the_tokenizers_library(tmp_path: Path) -> None:
    path = labelled_csv(tmp_path / "r.csv")
    options = {"path": str(path), "text_column": "review", "label_column": "sentiment", "tokens": "subword",
               "vocab_size": 60}
    if importlib.util.find_spec("tokenizers") is None:
        with pytest.raises(DatasetError, match=r"tokenizers.*nascli\[text\]"):
            build_option("dataset", "text_classification", options)
        return
    data = build_option("dataset", "text_classification", options)
    assert data.tokens == "subword" and data.vocab_size <= 60


@pytest.mark.parametrize(("case", "message"), [
    ("no_root", "needs dataset.root.*train.txt, valid.txt and test.txt"),
    ("missing_file", "has no val file .valid.txt.*ptb.train.txt"),
    ("empty", "test.txt holds no text"),
])
def test_a_corpus_that_is_not_there_says_where_to_put_it(case: str, message: str, tmp_path: Path) -> None:
    root = lm_corpus(tmp_path / "c", (20, 5, 5))
    if case == "missing_file":
        (root / "valid.txt").unlink()
    if case == "empty":
        (root / "test.txt").write_text("\n\n")
    with pytest.raises(DatasetError, match=message):
        build_option("dataset", "text_lm", {"root": None if case == "no_root" else str(root)})


@pytest.mark.parametrize(("case", "message"), [
    ("missing", "does not exist.*aclImdb"),
    ("column", r"label_column='stars' is not a column of .*: review, sentiment"),
    ("empty_text", r"An empty text at .*line 3"),
    ("one_class", "only one class"),
])
def test_bad_labelled_texts_are_one_clear_message(case: str, message: str, tmp_path: Path) -> None:
    path = labelled_csv(tmp_path / "r.csv", n=10)
    options = {"path": str(path), "text_column": "review", "label_column": "sentiment"}
    if case == "missing":
        options["path"] = str(tmp_path / "nothing.csv")
    if case == "column":
        options["label_column"] = "stars"
    if case == "empty_text":
        lines = path.read_text().splitlines()
        lines[2] = ',good'
        path.write_text("\n".join(lines) + "\n")
    if case == "one_class":
        path.write_text("review,sentiment\na b,good\nc d,good\n")
    with pytest.raises(DatasetError, match=message):
        build_option("dataset", "text_classification", options)


def test_training_windows_vary_around_bptt_and_still_cover_the_stream_once() -> None:
    stream = torch.arange(2 * 400 + 1)
    windows = list(StreamBatches(stream, 2, 10, gen=torch.Generator().manual_seed(0)))
    lengths = [x.shape[1] for x, _ in windows]
    assert len(set(lengths)) > 3 and min(lengths[:-1]) >= 5 and max(lengths) <= 30  # bptt +- noise, 5..bptt+20
    assert torch.equal(torch.cat([x for x, _ in windows], 1), stream[:800].view(2, 400)[:, :-1])
    again = [x.shape[1] for x, _ in StreamBatches(stream, 2, 10, gen=torch.Generator().manual_seed(0))]
    assert again == lengths  # the seed fixes them


def test_a_one_shot_search_chooses_on_the_validation_stream_as_the_reference_does(corpus: Path) -> None:
    """DARTS and ENAS searched PTB with weights on train and architecture on valid: search_halves
    gives those streams (search_split=halves: the training stream cut in two, as for images), and
    the shorter stream's batches go round for as long as the training stream's last."""
    from nascli.weight_sharing.batches import epoch_batches, rounds, search_halves

    data = build_option("dataset", "text_lm", {"root": str(corpus), "bptt": 5})
    weights, arch = search_halves(data, 0)
    assert weights is data.train and arch is data.val
    first, second = search_halves(build_option("dataset", "text_lm", {"root": str(corpus), "bptt": 5,
                                                                      "search_split": "halves"}), 0)
    assert torch.equal(torch.cat([first.images, second.images]), data.train.images)
    with pytest.raises(DatasetError, match="search_split"):
        build_option("dataset", "text_lm", {"root": str(corpus), "search_split": "test"})
    train_batches = list(epoch_batches(weights, data, 4, 0, 0, 2, None))
    arch_batches = list(epoch_batches(arch, data, 4, 0, 0, 3, None))
    assert len(arch_batches) < len(train_batches)
    paired = list(zip(train_batches, rounds(lambda k: epoch_batches(arch, data, 4, k, 0, 3, None))))
    assert len(paired) == len(train_batches)
    assert torch.equal(paired[len(arch_batches)][1][0], arch_batches[0][0])  # round two starts afresh
