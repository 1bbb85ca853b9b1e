#!/usr/bin/env bash
# Peer: adnshost (GNU adns) in asynchronous pipe mode, fed SLICE names at a time.
#
# usage: adnshost_sliced.sh NAMES_FILE [SLICE=200]
#
# adnshost -f submits every name it reads at once and has no in-flight limit; with 100k
# names the kernel's default UDP receive buffer overflows and most replies are lost. So the
# list goes through `split --filter`, which starts one adnshost per SLICE-line slice, one
# after the other. adns cannot be given a port: it asks 127.0.0.1:53.
# stdout: adnshost's fully parseable lines ("NAME A INET ADDR", or a status line per failure).
set -euo pipefail
names="$1"
slice="${2:-200}"
# split runs the filter with $SHELL -c; make that a known shell.
export SHELL=/bin/sh
grep -v -e '^[[:space:]]*$' -e '^#' "$names" |
  split -l "$slice" --filter="exec adnshost --config 'nameserver 127.0.0.1' -a -f -t a" -
