"""Golden fixture for training on conversations and on packed text, from transformers itself.

Run from the repository root (CPU, a second):

    py=$(tests/reference/setup.sh)
    $py tests/reference/make_chat_data_fixture.py

Writes tests/fixtures/llama/tiny-chat/: a tiny random LlamaForCausalLM made to be chatted with and
LoRA-tuned in the browser tests (the <webtune-chat> widget): the character tokenizer, a 256-token
context, weights drawn with initializer_range 0.2 (at transformers' default 0.02 its logits are
nearly uniform and LoRA on the frozen random layers hardly moves them), and tokenizer_config.json
with the plain `role: content.` chat template.

Writes tests/fixtures/chat-data.json:
  templates    for two tokenizers (the tiny Llama's character tokenizer, tests/fixtures/llama/train-steps,
               and the tiny GPT-2's byte-level BPE, tests/fixtures/gpt2/tiny), a chat template with
               `{% generation %}` blocks around the assistant's text ("tagged") and the same template
               without them ("plain"); both render the same text (checked here)
  conversations  multi-turn conversations, with and without a system turn
  masks        per tokenizer and conversation: `apply_chat_template(tagged, tokenize=True,
               return_dict=True, return_assistant_tokens_mask=True)` → {input_ids, assistant_masks}
               (what TRL's assistant_only_loss learns)
  packing      per tokenizer: texts, block_size and the blocks transformers' run_clm.py `group_texts`
               makes (one batch) of each text's ids (`tokenizer(text)`, its special tokens included)
               followed by EOS (as TRL's packing separates documents)
"""
import json
from itertools import chain
from pathlib import Path

import shutil

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

TEMPLATES = {
    # role: content. per message; the assistant's "content." is what is learned
    "llama": (
        "{% for m in messages %}{{ m.role }}: {% if m.role == 'assistant' %}{% generation %}{{ m.content }}.{% endgeneration %}"
        "{% else %}{{ m.content }}.{% endif %}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}",
        FIXTURES / "llama/train-steps/tokenizer.json",
        FIXTURES / "llama/tiny/config.json",
    ),
    # ChatML, as SmolLM2 / Qwen write it (with TRL's generation blocks: content and <|im_end|>)
    "gpt2": (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
        "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
        "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}{{ '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
        FIXTURES / "gpt2/tiny/tokenizer.json",
        FIXTURES / "gpt2/tiny/config.json",
    ),
}

CONVERSATIONS = [
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}],
    [{"role": "system", "content": "Be kind"}, {"role": "user", "content": "What is two plus two?"},
     {"role": "assistant", "content": "Four"}, {"role": "user", "content": "And three?"},
     {"role": "assistant", "content": "Five, I think"}],
    [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
     {"role": "user", "content": "c"}, {"role": "assistant", "content": "d e f"}],
]

TEXTS = ["Once upon a time there was a fox.", "It ran.", "The end of the story, and of the book!", "More?"]
BLOCK = 16


def plain(template: str) -> str:
    return template.replace("{% generation %}", "").replace("{% endgeneration %}", "")


def tiny_chat() -> None:
    torch.manual_seed(19)
    cfg = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, bos_token_id=1,
                      eos_token_id=2, initializer_range=0.2)
    out = FIXTURES / "llama/tiny-chat"
    LlamaForCausalLM(cfg).save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").unlink(missing_ok=True)
    shutil.copy(FIXTURES / "llama/train-steps/tokenizer.json", out / "tokenizer.json")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": "{% for m in messages %}{{ m.role }}: {{ m.content }}.{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}",
        "bos_token": "<s>", "eos_token": "</s>"}, indent=2) + "\n")


def main() -> None:
    tiny_chat()
    out = {"templates": {}, "conversations": CONVERSATIONS, "masks": {}, "packing": {}}
    for name, (tagged, tokenizer_file, config_file) in TEMPLATES.items():
        tok = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file))
        out["templates"][name] = {"tagged": tagged, "plain": plain(tagged)}
        masks = []
        for conversation in CONVERSATIONS:
            got = tok.apply_chat_template(conversation, chat_template=tagged, tokenize=True, return_dict=True,
                                          return_assistant_tokens_mask=True)
            same = tok.apply_chat_template(conversation, chat_template=plain(tagged), tokenize=False)
            assert tok.apply_chat_template(conversation, chat_template=tagged, tokenize=False) == same
            assert sum(got["assistant_masks"]) > 0
            masks.append({"input_ids": got["input_ids"], "assistant_masks": got["assistant_masks"]})
        out["masks"][name] = masks
        eos = json.loads(config_file.read_text())["eos_token_id"]
        ids = [tok(text)["input_ids"] + [eos] for text in TEXTS]
        stream = list(chain(*ids))  # run_clm.py's group_texts, one batch
        total = (len(stream) // BLOCK) * BLOCK
        out["packing"][name] = {"texts": TEXTS, "block_size": BLOCK, "eos": eos,
                                "blocks": [stream[i:i + BLOCK] for i in range(0, total, BLOCK)]}
        print(f"{name}: masks {[sum(m['assistant_masks']) for m in masks]}, {len(out['packing'][name]['blocks'])} blocks")
    (FIXTURES / "chat-data.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
