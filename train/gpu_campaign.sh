#!/usr/bin/env bash
# The whole GPU campaign as one command (train/gpu_campaign.py run): unpack, train, export, archive.
#   bash train/gpu_campaign.sh PACK OUT [--minutes 8.5] [--tiny] [--only VARIANT...]
# Needs python3 with torch, accelerate, numpy, opencv and safetensors (not PyAV, librosa, insightface).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" "$repo/train/gpu_campaign.py" run "$@"
