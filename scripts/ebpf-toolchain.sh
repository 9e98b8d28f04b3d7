#!/usr/bin/env bash
# ebpf-toolchain.sh installs what the tests need beyond Go, from Debian's
# archive (bookworm): the kernel receiver's toolchain, and gcc for the race
# detector (go test -race needs cgo).
#
#   scripts/ebpf-toolchain.sh install   # apt-get: clang-14 llvm-14 libbpf-dev bpftool iproute2 nftables gcc libc6-dev
#
# Building Vigil needs none of this: the bpf2go output (*_bpfel.go/.o) is
# committed. It is needed to regenerate that output (scripts/check-bpf2go.sh)
# and to run the receiver's root tests (network namespaces, veth, nftables).
#
# The compiler (clang-14, llvm-strip-14) and its flags are named in one place:
# the //go:generate line of ebpf/tcpstats/gen.go. Regeneration with Debian's
# clang-14 is byte-identical; another clang version produces a different .o,
# which check-bpf2go.sh reports as a diff.
set -euo pipefail

PACKAGES=(clang-14 llvm-14 libbpf-dev bpftool iproute2 nftables gcc libc6-dev)

case "${1:-install}" in
install)
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "ebpf-toolchain.sh: need root to apt-get install ${missing[*]}" >&2
      exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  command -v clang-14 >/dev/null
  command -v llvm-strip-14 >/dev/null
  command -v nft >/dev/null
  command -v gcc >/dev/null
  command -v ip >/dev/null
  # bpftool is installed as /usr/sbin/bpftool by Debian's bpftool package.
  command -v bpftool >/dev/null || test -x /usr/sbin/bpftool
  echo "ebpf toolchain ready: $(clang-14 --version | head -1)"
  ;;
*)
  echo "usage: $0 install" >&2
  exit 2
  ;;
esac
