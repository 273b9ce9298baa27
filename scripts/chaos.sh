#!/usr/bin/env bash
# A longer chaos run of the whole pipeline (tests/chaos_pipeline.rs): three `kcql run`
# processes (MQTT source, window processor, InfluxDB sink) on the real services while a random
# one is SIGKILLed every 2-5 s and restarted; at the end every acknowledged reading must be in
# Kafka (duplicates counted and bounded) and every window in InfluxDB exact.
#
# Usage: scripts/chaos.sh [SECONDS] [SEED]     (defaults: 180 s, a random seed)
# The seed decides the kill schedule; the fleet's readings are always the same. A failing run
# prints its seed: run it again with that seed to replay the same kills.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-180}"
seed="${2:-$RANDOM}"
scripts/services.sh up
echo "chaos: ${seconds}s of readings, kill schedule seed ${seed}"
KCQL_CHAOS_SECONDS="$seconds" KCQL_CHAOS_SEED="$seed" \
  cargo test --release --test chaos_pipeline random_sigkills -- --nocapture 2>&1 \
  | grep -E '^(chaos:|test |thread|.*windows wrong|.*readings in Kafka)|panicked' \
  || { echo "chaos: FAILED with seed ${seed}"; exit 1; }
