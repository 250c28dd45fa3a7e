#!/usr/bin/env bash
# Installs the system packages PhysGen Studio needs, only when they are missing.
# SAPIEN needs Vulkan even for state observations; bookworm's Mesa 22 lavapipe lacks
# descriptorBindingPartiallyBound, so mesa-vulkan-drivers comes from bookworm-backports (Mesa 25).
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

have_mesa25() {
  command -v vulkaninfo >/dev/null 2>&1 || return 1
  vulkaninfo --summary 2>/dev/null | grep -q "llvmpipe" || return 1
  vulkaninfo --summary 2>/dev/null | grep -Eq "Mesa (2[4-9]|[3-9][0-9])\." || return 1
}

missing_debs() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# Keep in sync with packages.txt (the HF Spaces list); chromium is only for the browser test.
DEBS=(libvulkan1 vulkan-tools ffmpeg chromium)
need=$(missing_debs "${DEBS[@]}")

if have_mesa25 && [ -z "$need" ]; then
  echo "[install_system] system packages present (Mesa 25 lavapipe, ffmpeg, chromium)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! have_mesa25; then
  if [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      # The backports entry is the machine's own main Debian source with the suite swapped, so no host is hard-coded.
      awk 'BEGIN{RS="";ORS="\n\n"} NR==1' /etc/apt/sources.list.d/debian.sources \
        | grep -v '^#' | sed 's/^Suites:.*/Suites: bookworm-backports/' \
        | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    else
      src=$(grep -m1 -E '^deb .* bookworm main' /etc/apt/sources.list | awk '{print $2}')
      echo "deb ${src} bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
    fi
  fi
fi
$SUDO apt-get update -q
if [ -n "$need" ]; then
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $need
fi
if ! have_mesa25; then
  $SUDO apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers
fi
if ! have_mesa25; then
  echo "[install_system] ERROR: no Mesa >= 24 llvmpipe Vulkan device after install; see vulkaninfo --summary" >&2
  exit 1
fi
echo "[install_system] done"
