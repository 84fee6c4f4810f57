#!/usr/bin/env bash
# One-command GPU check of the repository: run from anywhere as
#
#     bash tools/gpu_check.sh                 # on a CUDA machine, about 5-8 min on one H100
#     bash tools/gpu_check.sh --cpu           # the same steps on the CPU (slow; for the script)
#     bash tools/gpu_check.sh --dry-run       # print the steps and their commands only
#     bash tools/gpu_check.sh --steps probe,pytest     # a subset, in the order given
#
# Steps (each with its own time limit, in seconds; the limits add up to 8 minutes):
#   install   pip install --no-index the packages below from wheels/ (no network needed)
#   probe     report torch/CUDA/Triton versions and whether plain nn.LayerNorm over two
#             dimensions still breaks in CUDA's backward above 65,536 rows (issue #17's cause;
#             informational, never fails the check by itself)
#   pytest    the tests that use the device: python -m pytest --device cuda <files>
#   timit     TIMIT recipe on the bundled sample, paper time step (2 ms), batch 32 with the
#             clean copy concatenated (64 rows x ~1,100 steps: the size that crashed before),
#             2 epochs
#   speechcommands   Speech Commands KWS recipe on its bundled sample, 1 epoch
#   sparch    SpArch SHD recipe on its generated fixture
#   bench     python -m sparse.bench
# Logs go to $OUT/<step>.log (OUT defaults to results/gpu_check/<date-time>), a summary to
# $OUT/summary.txt and the terminal; the exit status is 1 if any step failed or timed out.
# Environment: PYTHON (default python3), OUT, GPU_CHECK_TIMEOUT_<STEP> (seconds, e.g.
# GPU_CHECK_TIMEOUT_PYTEST=400), GPU_CHECK_PYTEST_ARGS (default: the device tests below).
#
# The GPU machine has torch 2.11 + Triton, numba, scipy, numpy, matplotlib, pytest, tqdm and
# sentencepiece; the rest comes from wheels/ (git-ignored; about 18 MB for CPython 3.12 on
# x86-64 Linux), filled beforehand on any machine with network access by:
#
#     python -m pip download --python-version 3.12 --implementation cp --abi cp312 --abi abi3 \
#         --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#         --platform manylinux2014_x86_64 --platform any --only-binary=:all: --no-deps \
#         -d wheels -r tools/gpu_check_requirements.txt
#
# pip resolves the install against what is already installed, so only missing packages are
# taken from wheels/.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2
PYTHON="${PYTHON:-python3}"
DEVICE=cuda
DRY_RUN=0
ALL_STEPS="install probe pytest timit speechcommands sparch bench"
STEPS="$ALL_STEPS"

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) DEVICE=cpu ;;
        --dry-run) DRY_RUN=1 ;;
        --steps) shift; STEPS="${1:-}"; STEPS="${STEPS//,/ }" ;;
        --steps=*) STEPS="${1#--steps=}"; STEPS="${STEPS//,/ }" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
for step in $STEPS; do
    case " $ALL_STEPS " in
        *" $step "*) ;;
        *) echo "gpu_check.sh: unknown step '$step'; steps: $ALL_STEPS" >&2; exit 2 ;;
    esac
done

OUT="${OUT:-$REPO/results/gpu_check/$(date +%Y%m%d-%H%M%S)}"
if [ "$DRY_RUN" = 0 ]; then mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"; fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if [ "$DEVICE" = cuda ]; then RUN_DEVICE=cuda:0; else RUN_DEVICE=cpu; fi

INSTALL_PACKAGES="speechbrain==1.1.2 torchaudio==2.11.0 hyperpyyaml==1.2.3 soundfile==0.14.0 h5py==3.16.0"
PYTEST_ARGS="${GPU_CHECK_PYTEST_ARGS:-tests/encoders tests/neurons/test_backends_triton.py tests/neurons/test_backends_engine.py}"

# step -> default time limit (s)
declare -A LIMIT=([install]=45 [probe]=45 [pytest]=150 [timit]=90 [speechcommands]=45
                  [sparch]=30 [bench]=75)

command_of() {
    case "$1" in
        install) echo "$PYTHON -m pip install --no-index --find-links $REPO/wheels $INSTALL_PACKAGES" ;;
        probe) echo "$PYTHON $REPO/tools/layer_norm_probe.py --device $DEVICE" ;;
        pytest) echo "$PYTHON -m pytest -q -p no:cacheprovider --device $DEVICE $PYTEST_ARGS" ;;
        timit) echo "$PYTHON recipes/TIMIT/run_training.py hparams/timit_train.yaml \
--device=$RUN_DEVICE --output_folder=$OUT/timit --hop_length=2 --augment=True \
--concat_original=True --batch_size=32 --number_of_epochs=2 --num_threads=null --noprogressbar" ;;
        speechcommands) echo "$PYTHON recipes/SpeechCommands/run_training.py \
hparams/speech_commands_train.yaml --device=$RUN_DEVICE --output_folder=$OUT/speechcommands \
--number_of_epochs=1 --num_threads=null --noprogressbar" ;;
        sparch) echo "$PYTHON recipes/SHD/run_training.py hparams/shd_train.yaml \
--device=$RUN_DEVICE --output_folder=$OUT/sparch_shd --noprogressbar" ;;
        bench) echo "$PYTHON -m sparse.bench --device $DEVICE" ;;
    esac
}

limit_of() {
    local var="GPU_CHECK_TIMEOUT_${1^^}"
    echo "${!var:-${LIMIT[$1]}}"
}

echo "gpu_check: device $DEVICE, steps: $STEPS, logs in $OUT"
if [ "$DRY_RUN" = 1 ]; then
    for step in $STEPS; do
        printf '%-15s %4ss  %s\n' "$step" "$(limit_of "$step")" "$(command_of "$step")"
    done
    exit 0
fi

declare -a SUMMARY
FAILED=0
for step in $STEPS; do
    limit="$(limit_of "$step")"
    cmd="$(command_of "$step")"
    log="$OUT/$step.log"
    echo "== $step (limit ${limit}s): $cmd"
    start=$(date +%s)
    { echo "\$ $cmd"; echo; } > "$log"
    timeout --kill-after=10 "$limit" bash -c "$cmd" >> "$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
        status=PASS
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        status="TIMEOUT (${limit}s)"; FAILED=1
    else
        status="FAIL (exit $rc)"; FAILED=1
    fi
    line="$(printf '%-15s %-18s %5ss  %s' "$step" "$status" "$took" "$log")"
    SUMMARY+=("$line")
    echo "   $status in ${took}s"
    if [ "$status" != PASS ]; then tail -n 15 "$log" | sed 's/^/   | /'; fi
done

{
    echo "gpu_check summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), device $DEVICE)"
    printf '%s\n' "${SUMMARY[@]}"
    if [ $FAILED -eq 0 ]; then echo "ALL PASSED"; else echo "SOME STEPS FAILED"; fi
} | tee "$OUT/summary.txt"
exit $FAILED
