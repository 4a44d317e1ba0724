#!/usr/bin/env bash
# The README's main job: check the demo state in environments/ and show what
# gearshift would do on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/gearshift
$bin validate
$bin list
$bin plan dev || true
$bin status
