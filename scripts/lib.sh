# Shared by the scripts: build prerequisites and the build itself, idempotent.
# Everything cached lives under ~/.cache/gregor so a fresh clone reuses earlier builds.

GREGOR_CACHE="${GREGOR_CACHE:-$HOME/.cache/gregor}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$GREGOR_CACHE/target}"
mkdir -p "$GREGOR_CACHE" "$CARGO_TARGET_DIR"

apt_install() {
  # apt_install PKG...: installs the Debian packages that are missing.
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} (apt)" >&2
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_build_deps() {
  # The rocksdb crate generates its bindings with libclang and compiles RocksDB with a C++ compiler.
  apt_install libclang-dev clang g++ make
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup)" >&2; exit 1; }
}

build_release() {
  ensure_build_deps
  cargo build --release --locked --bin gregor >&2
}

gregor_bin() {
  echo "$CARGO_TARGET_DIR/release/gregor"
}
