"""mmtrain: the training pipeline of the mmgpt demo model (PyTorch on CPU, data generated on the fly).

Modules (each one's top comment is its manual):
  world         the world the model knows: scene / sound specs, captions, questions, answers (pure Python)
  render_image  pictures of a scene (PIL), augmentation, the engine's preprocessing
  render_audio  sounds of a sound spec, the espeak-ng speech bank, Whisper's log-mel, load_pcm_16k
  bpe           GPT-2 byte-level BPE and where its vocabulary comes from (find_vocab)
  data          tokenised training / validation batches and the training-only labels
  model         the PyTorch model that mirrors the C engine, load_ckpt, greedy decoding
  losses        the training objective: answer cross-entropy, probes, attention guidance
  export        checkpoint -> combined GGUF (write_gguf) and GGUF -> PyTorch model (torch_from_gguf)
  options       train.py's option table, stage config files (recipe/*.json), option checks
  trainer       one training stage: setup, the step, the loop, checkpoints, validation
  evaluate      scoring held-out sets through the mmgpt binary or a checkpoint
  heldout       writing the two held-out sets (this pipeline's renderers; ImageMagick / sox / espeak-ng)

Command scripts beside the package (train.py, export.py, eval.py, parity.py, heldout.py,
make_examples.py) only parse their arguments and call these; diag/ holds one-off diagnostics.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_DIR = os.path.dirname(HERE)                      # tools/train
TOOLS_DIR = os.path.dirname(TRAIN_DIR)                 # tools (mmgguf.py, the GGUF reader / writer)
REPO_DIR = os.path.dirname(TOOLS_DIR)
BUNDLED_MODEL = os.path.join(REPO_DIR, "assets", "models", "mmgpt-demo.gguf")

if TOOLS_DIR not in sys.path:  # mmgguf is a module of tools/, shared with the converters and tests
    sys.path.append(TOOLS_DIR)


class UsageError(ValueError):
    """A bad option or option value: the command script prints it as one line and exits 2."""
