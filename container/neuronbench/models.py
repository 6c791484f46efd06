"""Models the harness can load, and the fixed inputs every backend is checked on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

# The original pattern's pair: one paraphrase, one not (used by the correctness check).
SEQUENCE_0 = "The company HuggingFace is based in New York City"
SEQUENCE_1 = "Apples are especially bad for your health"
SEQUENCE_2 = "HuggingFace's headquarters are situated in Manhattan"
DEFAULT_MODEL = "bert-base-cased-finetuned-mrpc"

# Offline stand-ins: random weights, the shapes of real models.
RANDOM_CONFIGS: dict[str, dict[str, int]] = {
    "random:bert-base": {},
    "random:bert-tiny": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                         "intermediate_size": 512},
}


@dataclass
class LoadedModel:
    name: str
    module: torch.nn.Module
    # (paraphrase, not_paraphrase) inputs; each a tuple of tensors of shape [batch, sequence]
    examples: tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]

    @property
    def dtype(self) -> str:
        """The weights' type ("float32"); a model without weights computes in float32."""
        weights = next(self.module.parameters(), None)
        return str(weights.dtype).removeprefix("torch.") if weights is not None else "float32"


class NoopModel(torch.nn.Module):
    """Returns its input's first row as 'logits': measures the harness's own cost per sample."""

    def forward(self, input_ids: torch.Tensor, *_: Any) -> tuple[torch.Tensor]:
        return (input_ids[:, :2].float(),)


def _random_inputs(batch: int, length: int, seed: int, vocab: int = 28996) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, vocab, (1, length), generator=generator)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    return tuple(t.repeat(batch, 1) for t in (ids, mask, types))


def load(name: str, batch_size: int, sequence_length: int) -> LoadedModel:
    torch.manual_seed(0)  # random weights are the same in every run, so results are comparable
    if name == "noop":
        examples = (_random_inputs(batch_size, sequence_length, 1), _random_inputs(batch_size, sequence_length, 2))
        return LoadedModel(name, NoopModel().eval(), examples)
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
    )

    # return_dict=False: plain tuples out, which tracing (torch_neuronx.trace) needs
    if name in RANDOM_CONFIGS:
        settings: dict[str, Any] = {"num_labels": 2, **RANDOM_CONFIGS[name]}
        config = BertConfig(**settings)
        config.return_dict = False
        module = BertForSequenceClassification(config).eval()
        examples = (_random_inputs(batch_size, sequence_length, 1, config.vocab_size),
                    _random_inputs(batch_size, sequence_length, 2, config.vocab_size))
        return LoadedModel(name, module, examples)
    # A Hugging Face name or a local path (needs the hub, or a local copy, to be reachable)
    tokenizer = AutoTokenizer.from_pretrained(name)
    config = AutoConfig.from_pretrained(name)
    config.return_dict = False
    module = AutoModelForSequenceClassification.from_pretrained(name, config=config).eval()

    def encode(a: str, b: str) -> tuple[torch.Tensor, ...]:
        tokens = tokenizer(a, b, max_length=sequence_length, padding="max_length", truncation=True,
                           return_tensors="pt")
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in tokens]
        return tuple(tokens[k].repeat(batch_size, 1) for k in keys)

    return LoadedModel(name, module, (encode(SEQUENCE_0, SEQUENCE_2), encode(SEQUENCE_0, SEQUENCE_1)))
