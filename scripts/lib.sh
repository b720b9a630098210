# Shared by scripts/run, scripts/test and scripts/lock: the project's own virtual environment and
# the Debian packages it needs, so a machine with only python3 and python3-venv is enough.

VENV=${VENV:-.venv}
SUPPORTED_PYTHON=3.11      # the locks are compiled for it; README "Python versions" says why
APT_UPDATED=

say() { echo "setup: $*" >&2; }

is_root() { [ "$(id -u)" = 0 ]; }

# Install Debian packages when running as root (CI, a container); otherwise say what is missing
# and go on: the tests that need it skip locally and fail under CI=true.
apt_install() {
  if ! is_root; then
    say "missing: $* (install with: sudo apt-get install -y $*)"
    return 0
  fi
  if [ -z "$APT_UPDATED" ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The interpreter the venv is made from: $PYTHON, else python3 if it is $SUPPORTED_PYTHON,
# else python$SUPPORTED_PYTHON.
pick_python() {
  local candidate
  for candidate in ${PYTHON:-python3 "python$SUPPORTED_PYTHON"}; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$SUPPORTED_PYTHON" ]; then
      echo "$candidate"
      return 0
    fi
  done
  say "no Python $SUPPORTED_PYTHON among: ${PYTHON:-python3 python$SUPPORTED_PYTHON}; set PYTHON=/path/to/python$SUPPORTED_PYTHON"
  return 1
}

# Create the venv at $1, or keep it if it already runs the supported Python.
make_venv() {
  local dir=$1 python
  if [ -x "$dir/bin/python" ] &&
     [ "$("$dir/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$SUPPORTED_PYTHON" ]; then
    return 0
  fi
  python=$(pick_python)
  rm -rf "$dir"
  if ! "$python" -m venv "$dir" 2>/dev/null; then
    rm -rf "$dir"
    apt_install "python$SUPPORTED_PYTHON-venv"
    "$python" -m venv "$dir"
  fi
  say "created $dir with $("$dir/bin/python" --version)"
}

# pip-install a lock file into $VENV, skipped when that exact file was installed already.
# --retries 0: the PyTorch CPU index in the lock is unreachable on some machines (which carry the
# same wheel locally); fail over to the local copy at once instead of retrying for each package.
install_lock() {
  local lock=$1 stamp="$VENV/.installed-$1.sha256" sum
  make_venv "$VENV"
  sum=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    return 0
  fi
  say "pip install -r $lock into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --retries 0 -r "$lock"
  echo "$sum" >"$stamp"
}
