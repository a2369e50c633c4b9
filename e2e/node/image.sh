#!/usr/bin/env bash
# `make image`: build the operator's image from the repository's Dockerfile on this machine,
# with no registry and no network inside the build, and save it for the real node.
#   e2e/node/image.sh [TAG]     (default dev) -> wedsync-operator:TAG, last stdout line: its tarball
# The Dockerfile is the one users build FROM python:3.11-slim; only its base images differ:
#   PYTHON_IMAGE  Debian bookworm made with debootstrap (python3, python3-venv, tzdata), cached
#   BUILD_IMAGE   that base with a wheelhouse the host's pip filled (PIP_NO_INDEX, PIP_FIND_LINKS)
# A private dockerd runs for the build only (e2e/node/lib.sh). Needs root and the packages
# of `hack/install-deps.sh --node`.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
tag=${1:-dev}
as_root
# One build at a time on this machine: they share the private dockerd and its cache.
exec 9> "$cache_root/image.lock"
flock 9
trap docker_stop EXIT
start=$(date +%s)

# ------------------------------------------------------------ the Debian Python base
rootfs_tar=$images/python-3.11-$DEBIAN_SUITE.rootfs.tar
if [ ! -f "$rootfs_tar" ]; then
  mirror=$(sed -n 's|^URIs: *\(http[^ ]*/debian\)/*$|\1|p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
  dir=$cache_root/rootfs.tmp
  unmount_under "$dir"; rm -rf "$dir"
  nlog "debootstrap $DEBIAN_SUITE (minbase + python3, python3-venv, tzdata) from $mirror (about 2 minutes, once)"
  t=$(date +%s)
  if ! debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,tzdata \
      "$DEBIAN_SUITE" "$dir" "$mirror" > "$cache_root/debootstrap.log" 2>&1; then
    unmount_under "$dir"
    die "debootstrap failed: $(tail -n 5 "$cache_root/debootstrap.log")"
  fi
  unmount_under "$dir"
  # Package lists and downloaded .debs are the build's, not the image's.
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin
  tar -C "$dir" --numeric-owner -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$dir"
  nlog "base root filesystem made in $(( $(date +%s) - t ))s"
fi

docker_start
if ! dk image inspect "$BASE_IMAGE" > /dev/null 2>&1; then
  dk import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' "$rootfs_tar" "$BASE_IMAGE" > /dev/null
fi

# ------------------------------------------------------------ wheels from the host's pip
# Resolved by the host's Debian python3, the base's own (environment markers such as
# python_full_version must match), with the host's pip settings; the build then needs no index.
tzdata=$(grep -o '"tzdata==[^"]*"' "$repo/Dockerfile" | tr -d '"')
pyver=$(/usr/bin/python3 -c 'import platform; print(platform.python_version())')
key=$( (cat "$repo/pyproject.toml"; echo "$tzdata $pyver") | sha256sum | cut -c1-12)
wheels=$images/wheels-$key
if [ ! -d "$wheels" ]; then
  nlog "filling the wheelhouse with Debian's Python $pyver ($tzdata, setuptools, the operator's dependencies)"
  venv=$cache_root/debian-python-venv
  [ -x "$venv/bin/pip" ] || /usr/bin/python3 -m venv "$venv"
  rm -rf "$wheels.tmp"; mkdir -p "$wheels.tmp"
  "$venv/bin/python" -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))' \
    "$repo/pyproject.toml" > "$wheels.tmp/requirements.txt"
  "$venv/bin/pip" wheel -q --disable-pip-version-check --wheel-dir "$wheels.tmp" \
    -r "$wheels.tmp/requirements.txt" "$tzdata" "setuptools>=77" wheel
  rm "$wheels.tmp/requirements.txt"
  mv "$wheels.tmp" "$wheels"
fi
build_image=wedsync.local/python-build:3.11-$DEBIAN_SUITE-$(ls "$wheels" | sha256sum | cut -c1-12)
if ! dk image inspect "$build_image" > /dev/null 2>&1; then
  ctx=$(mktemp -d)
  cp -r "$wheels" "$ctx/wheels"
  printf 'FROM %s\nCOPY wheels /wheels\nENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels\n' "$BASE_IMAGE" > "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 dk build -q --network none -t "$build_image" "$ctx" > /dev/null
  rm -rf "$ctx"
fi

# ------------------------------------------------------------ the pause image
# The real node's pod sandbox image (containerd's sandbox_image), none being pullable here.
if [ ! -f "$images/pause.tar" ]; then
  pause_bin=$("$node_here/build.sh" | tail -n 1)/pause
  ctx=$(mktemp -d)
  cp "$pause_bin" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 dk build -q --network none -t "$PAUSE_IMAGE" "$ctx" > /dev/null
  rm -rf "$ctx"
  dk save -o "$images/pause.tar.tmp" "$PAUSE_IMAGE"
  mv "$images/pause.tar.tmp" "$images/pause.tar"
fi

# ------------------------------------------------------------ the operator's image
image=wedsync-operator:$tag
nlog "building $image from the Dockerfile (no network in the build)"
t=$(date +%s)
# The legacy builder: bookworm's docker has no buildx (and BuildKit would fetch its frontend).
DOCKER_BUILDKIT=0 dk build -q --network none --build-arg "PYTHON_IMAGE=$BASE_IMAGE" \
  --build-arg "BUILD_IMAGE=$build_image" -t "$image" "$repo" > /dev/null
tarball=$images/wedsync-operator-$tag.tar
dk save -o "$tarball.tmp" "$image"
mv "$tarball.tmp" "$tarball"
size=$(dk image inspect -f '{{.Size}}' "$image")
base=$(dk image inspect -f '{{.Size}}' "$BASE_IMAGE")
nlog "$image: $(( size / 1000000 )) MB ($(( base / 1000000 )) MB Debian base + $(( (size - base) / 1000000 )) MB venv), built in $(( $(date +%s) - t ))s, $(( $(date +%s) - start ))s in all"
echo "$tarball"
