"""A tiny random-weight BERT classifier written to a local folder, so the sentiment model's real
loading path runs in tests without the Hub (shared by the AI tests and the app server fixture)."""
from __future__ import annotations

from pathlib import Path

WORDS = ("bitcoin btc ether eth solana price market moon pump dump crash rally bullish bearish "
         "up down new high low buy sell hold the a is to of and in on for with after").split()
POSITIONS = 64


def build_tiny_model(folder: Path, id2label: dict[int, str]) -> Path:
    """A BERT with random weights and a word-level vocab: real files, loads in milliseconds."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *(f"w{i}" for i in range(300))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"))
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=POSITIONS, num_labels=len(id2label),
                        id2label=id2label, label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
