"""The usage snippets of the upstream SPARSE README run unchanged against `sparse`.

The code is copied verbatim (imports and constructor calls); only the ASR input is shortened
from 8 x 1000 frames to 2 x 120 so the test stays fast on a laptop CPU.
"""

import subprocess
import sys

SNN_SNIPPET = """
import torch
import torch.nn as nn
from sparse.snn import MultilayeredSpiking

# Generate random input
batch_size, num_steps, input_size = 8, 500, 144
x = (torch.rand(batch_size, num_steps, input_size) > 0.9).float()

# Instantiate module
net = MultilayeredSpiking(
    input_size=input_size,
    layer_sizes=[144, 144, 10],
    sfa_portions=[0.5, 0.5, 0.5],
    rnn_portions=[0.5, 0.5, 0.5],
    ff_portions=[1.0, 1.0, 1.0],
    dropout=0.1,
    dt=1.0,
)

# Pass input through module
y = net(x)
print(tuple(y.shape))
"""

ASR_SNIPPET = """
import torch
import torch.nn as nn
from sparse.encoder_asr import ASREncoder

# Define random input
batch_size, num_frames, num_mels = 8, 1000, 80
x = torch.rand(batch_size, num_frames, num_mels)

# Instantiate module
model = ASREncoder(
    num_mel_bins=num_mels,
    auditory_channels=[16],
    auditory_kernel_size=(7, 7),
    auditory_frequency_stride=[1],
    cortex_layer_sizes=[512]*3,
    cortex_sfa_portions=[0.5]*3,
    cortex_rnn_portions=[0.5]*3,
    cortex_feedforward_portions=[1.0]*3,
    phoneme_num_layers=2,
    phoneme_features=512,
    phoneme_ctc_rate_hz=25,
    dropout=0.15,
    dt=1.0,
)

# Pass input through module
y = model(x)
print(tuple(y[0].shape), [tuple(s.shape) for s in y[1]])
"""


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_multilayered_spiking_snippet_runs_verbatim():
    assert run(SNN_SNIPPET) == "(8, 500, 10)"


def test_asr_encoder_snippet_runs_with_its_import_line():
    code = ASR_SNIPPET.replace("= 8, 1000, 80", "= 2, 120, 80")
    # 120 frames + 8 from the upstream conv padding = 128 steps; 40 steps per CTC frame at dt=1
    assert run(code) == "(2, 3, 512) [(2, 128, 1184), (2, 128, 512), (2, 128, 512), (2, 128, 512)]"
