#!/usr/bin/env bash
# The same run as 2026-12-04-zen5.sh (lutra beside llama-bench file by file, then stories260K), again
# on the Zen 5 VM in the second session of 2026-12-04, after Q8_0 moved to the biased one-dot kernels
# (assembly/rows4-q8u.ts, HEAD 3bd1e5c); its log is summarized in ../2026-12-04-epyc-2c-zen5-q8u.md.
exec bash "$(dirname "$0")/2026-12-04-zen5.sh" "$@"
