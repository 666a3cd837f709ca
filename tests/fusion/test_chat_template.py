"""test_chat_template.py - the chat templates (issue 16.4) against the formats the model families publish.

For every template of mmgpt's table (fusion/chat_template.c) and mmgpt's own:
  1. the rendered text of a conversation (system, user, assistant, user, assistant, user + generation
     prompt) equals, byte for byte, the expected string below, both as mm_prompt_render_chat writes it
     and as the conversation object assembles it turn by turn (the cache record after each answer and
     its close, then the last turn): earlier turns never change when a turn is added;
  2. the same without a system prompt, for the families whose published Jinja template and llama.cpp's
     format agree, against the string the Jinja template gives (BOS excluded: the tokenizer adds it);
  3. the real Jinja templates of the target models (tests/data/templates; origins in tests/data/SOURCES.md) are
     recognised as the right entry, and templates of other families are not recognised.

The expected strings are the reference, written here independently of the C code:
  - for the six-message conversation, llama.cpp's tests/test-chat-template.cpp `expected_output` vectors
    (github.com/ggerganov/llama.cpp, commit c392e509, Feb 2025; MIT), cited per template; where llama.cpp
    has no vector (llama2-sys, mistral-v7-tekken, smolvlm, mmgpt) the string is written from the
    format's publication, named per template;
  - for the conversations without a system prompt, from each model card's chat_template (Jinja),
    rendered by hand.
usage: test_chat_template.py FUS_CHAT_TOOL
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import testdata  # noqa: E402

TOOL = sys.argv[1] if len(sys.argv) > 1 else None
failures = []

CONV = [("system", "You are a helpful assistant"), ("user", "Hello"), ("assistant", "Hi there"),
        ("user", "Who are you"), ("assistant", "   I am an assistant   "), ("user", "Another question")]

# ---------------------------------------------------------------- 1. the six-message conversation
EXPECTED = {
    # llama.cpp vector "teknium/OpenHermes-2.5-Mistral-7B"
    "chatml": "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
              "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
              "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n"
              "<|im_start|>assistant\n",
    # llama.cpp vector "mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1 without a system prompt)"
    "llama2": "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an "
              "assistant   </s>[INST] Another question [/INST]",
    # the Llama 2 chat format (huggingface.co/blog/llama2 "How to prompt Llama 2": the system prompt inside
    # the first [INST] between <<SYS>> and <</SYS>>) with llama.cpp's spacing of the llama2 vector above
    "llama2-sys": "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you "
                  "[/INST]   I am an assistant   </s>[INST] Another question [/INST]",
    # llama.cpp vector "TheBloke/FusionNet_34Bx2_MoE-AWQ"
    "llama2-sys-bos": "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who "
                      "are you [/INST]   I am an assistant   </s><s>[INST] Another question [/INST]",
    # llama.cpp vector "bofenghuang/vigogne-2-70b-chat"
    "llama2-sys-strip": "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who "
                        "are you [/INST]I am an assistant</s>[INST] Another question [/INST]",
    # llama.cpp vector "mistralai/Mistral-7B-Instruct-v0.2 (mistralai 'v1' template with a system prompt)"
    "mistral-v1": " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am "
                  "an assistant   </s> [INST] Another question [/INST]",
    # llama.cpp vector "Mistral-Large-Instruct-2407 (mistralai 'v3' template; ...)"
    "mistral-v3": "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST] I am an "
                  "assistant</s>[INST] Another question[/INST]",
    # llama.cpp vector "Mistral-Nemo-Instruct-2407 (mistralai 'v3-tekken' template; ...)"
    "mistral-v3-tekken": "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are you[/INST]   I am "
                         "an assistant   </s>[INST]Another question[/INST]",
    # llama.cpp vector "mistralai/Mistral-Large-Instruct-2411 (mistralai 'v7' template)"
    "mistral-v7": "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] Who "
                  "are you[/INST]    I am an assistant   </s>[INST] Another question[/INST]",
    # Mistral's v7-tekken format (Mistral-Small-3.1-24B-Instruct-2503 model card: "<s>[SYSTEM_PROMPT]...
    # [/SYSTEM_PROMPT][INST]...[/INST]...</s>", no spaces; BOS from the tokenizer)
    "mistral-v7-tekken": "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]Hi there</s>"
                         "[INST]Who are you[/INST]   I am an assistant   </s>[INST]Another question[/INST]",
    # llama.cpp vector "google/gemma-7b-it"
    "gemma": "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there"
             "<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an assistant"
             "<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n",
    # llama.cpp vector "eachadea/vicuna-13b-1.1"
    "vicuna": "You are a helpful assistant\n\nUSER: Hello\nASSISTANT: Hi there</s>\nUSER: Who are you\nASSISTANT:    I am "
              "an assistant   </s>\nUSER: Another question\nASSISTANT:",
    # llama.cpp vector "Orca-Vicuna"
    "vicuna-orca": "SYSTEM: You are a helpful assistant\nUSER: Hello\nASSISTANT: Hi there</s>\nUSER: Who are you\n"
                   "ASSISTANT:    I am an assistant   </s>\nUSER: Another question\nASSISTANT:",
    # llama.cpp vector "Llama-3"
    "llama3": "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user"
              "<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant"
              "<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother "
              "question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    # SmolVLM's chat_template (HuggingFaceTB/SmolVLM-Instruct): "<|im_start|>" once, then per message
    # "Role: content<end_of_utterance>\n", generation prompt "Assistant:"; the system prompt as llama.cpp
    # places it (its text + "\n\n" before the first user turn)
    "smolvlm": "<|im_start|>You are a helpful assistant\n\nUser: Hello<end_of_utterance>\nAssistant: Hi there"
               "<end_of_utterance>\nUser: Who are you<end_of_utterance>\nAssistant:    I am an assistant   "
               "<end_of_utterance>\nUser: Another question<end_of_utterance>\nAssistant:",
    # mmgpt's own format (include/mm_fusion.h, the default mmgpt.prompt.* strings; answers " " + text +
    # <|endoftext|>)
    "mmgpt": "System: You are a helpful assistant\nUser: Hello\nAssistant: Hi there<|endoftext|>User: Who are you\n"
             "Assistant:    I am an assistant   <|endoftext|>User: Another question\nAssistant:",
}

# ---------------------------------------------------------------- 2. no system prompt: the Jinja templates
NOSYS = [("user", "Hello"), ("assistant", "Hi there"), ("user", "Who are you")]
JINJA_NOSYS = {
    # OpenHermes / Qwen2.5 ChatML (a messages loop of '<|im_start|>' + role + '\n' + content + '<|im_end|>\n')
    "chatml": "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are "
              "you<|im_end|>\n<|im_start|>assistant\n",
    # google/gemma-2-2b-it ('<start_of_turn>' + role + '\n' + content | trim + '<end_of_turn>\n'; bos_token first)
    "gemma": "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\n"
             "Who are you<end_of_turn>\n<start_of_turn>model\n",
    # HuggingFaceTB/SmolVLM-Instruct (above)
    "smolvlm": "<|im_start|>User: Hello<end_of_utterance>\nAssistant: Hi there<end_of_utterance>\nUser: Who are you"
               "<end_of_utterance>\nAssistant:",
    # meta-llama/Meta-Llama-3-8B-Instruct (bos_token, then '<|start_header_id|>' + role + '<|end_header_id|>\n\n'
    # + content | trim + '<|eot_id|>', generation prompt '<|start_header_id|>assistant<|end_header_id|>\n\n')
    "llama3": "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
              "\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n",
    # mistralai/Mistral-7B-Instruct-v0.2 (bos_token, '[INST] ' + content + ' [/INST]', content + eos_token)
    "llama2": "[INST] Hello [/INST]Hi there</s>[INST] Who are you [/INST]",
    # mistralai/Mistral-Large-Instruct-2411 ('[INST] ' + content + '[/INST]', ' ' + content + eos_token)
    "mistral-v7": "[INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST]",
    # Mistral-Nemo-Instruct-2407 ("[INST]" + content + "[/INST]", content + eos_token)
    "mistral-v3-tekken": "[INST]Hello[/INST]Hi there</s>[INST]Who are you[/INST]",
}

# ---------------------------------------------------------------- 3. detection
DETECT = {
    "HuggingFaceTB-SmolLM2-135M-Instruct.jinja": "chatml",
    "teknium-OpenHermes-2.5-Mistral-7B.jinja": "chatml",
    "Qwen-Qwen2.5-7B-Instruct.jinja": "chatml",
    "meta-llama-Llama-3.1-8B-Instruct.jinja": "llama3",
    "meta-llama-Llama-3.2-3B-Instruct.jinja": "llama3",
    "llama-cpp-test-Llama-3.jinja": "llama3",
    "meta-llama-Llama-2-7b-chat-hf.jinja": "llama2-sys-strip",
    "bofenghuang-vigogne-2-70b-chat.jinja": "llama2-sys-strip",
    "TheBloke-FusionNet_34Bx2_MoE-AWQ.jinja": "llama2-sys-bos",
    "mistralai-Mistral-7B-Instruct-v0.2-pre-v1.jinja": "llama2",
    "mistralai-Mistral-7B-Instruct-v0.2-v1.jinja": "mistral-v1",
    "mistralai-Mistral-Large-Instruct-2407-v3.jinja": "mistral-v3",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": "mistral-v3-tekken",
    "mistralai-Mistral-Large-Instruct-2411-v7.jinja": "mistral-v7",
    "google-gemma-7b-it.jinja": "gemma",
    "google-gemma-2-2b-it.jinja": "gemma",
    "eachadea-vicuna-13b-1.1.jinja": "vicuna",
    "Orca-Vicuna.jinja": "vicuna-orca",
    "llava-hf-llava-1.5-7b-hf.jinja": "vicuna",
    "HuggingFaceTB-SmolVLM-Instruct.jinja": "smolvlm",
    # other families: not recognised (an error at use, not a wrong guess)
    "microsoft-phi-4.jinja": "-",
    "microsoft-Phi-3.5-mini-instruct.jinja": "-",
    "deepseek-ai-deepseek-coder-33b-instruct.jinja": "-",
}


def run(*args):
    r = subprocess.run([TOOL] + list(args), capture_output=True)
    if r.returncode != 0:
        failures.append("%s: exit %d: %s" % (" ".join(args[:2]), r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout.decode("utf-8")


def flat(msgs):
    return [x for m in msgs for x in m]


def compare(what, got, want):
    if got != want:
        failures.append("%s:\n  got  %r\n  want %r" % (what, got, want))


def main():
    if not TOOL or not os.path.exists(TOOL):
        print("usage: test_chat_template.py FUS_CHAT_TOOL")
        sys.exit(2)
    table = run("table").splitlines()[1:]
    names = [ln.split("\t")[0] for ln in table] + ["mmgpt"]
    missing = set(names) ^ set(EXPECTED)
    if missing:
        failures.append("templates without an expected string, or expected strings without a template: %s"
                        % sorted(missing))
    n = 0
    for name in names:
        if name not in EXPECTED:
            continue
        compare("%s: render" % name, run("render", name, *flat(CONV)), EXPECTED[name])
        compare("%s: conversation object" % name, run("conv", name, *flat(CONV)), EXPECTED[name])
        n += 2
    for name, want in JINJA_NOSYS.items():
        compare("%s: no system prompt, render" % name, run("render", name, *flat(NOSYS)), want)
        compare("%s: no system prompt, conversation object" % name, run("conv", name, *flat(NOSYS)), want)
        n += 2
    tdir = testdata.path("templates")
    files = [os.path.join(tdir, f) for f in sorted(DETECT)]
    stored = sorted(f for f in os.listdir(tdir) if f.endswith(".jinja"))
    if stored != sorted(DETECT):
        failures.append("tests/data/templates holds %s, the test knows %s" % (stored, sorted(DETECT)))
    for line in run("detect", *files).splitlines():
        got, path = line.split("\t", 1)
        want = DETECT[os.path.basename(path)]
        compare("detect %s" % os.path.basename(path), got, want)
        n += 1
    print("chat templates: %d comparisons, %d templates, %d Jinja files" % (n, len(names), len(files)))
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)


main()
