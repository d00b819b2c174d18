#!/usr/bin/env bash
# Build the one-folder bundle dist/workbooks-connector/ with PyInstaller and smoke-test it.
#
#   packaging/build.sh             clean virtual environment in build/venv (created on first run)
#   packaging/build.sh --system    use the current python3 environment as it is (faster; it must
#                                  already have the app's dependencies)
#   packaging/build.sh --clean     also drop PyInstaller's cache (build/pyinstaller) first
#   packaging/build.sh --no-build  only smoke-test an existing dist/workbooks-connector/
#
# Environment: PYTHON (default python3) creates the venv; SMOKE_TIMEOUT (default 600 seconds).
# Runs on Linux and macOS (and Git Bash on Windows). Exits non-zero, saying why, on any problem.
# Not part of .ci/run: a build takes minutes; tests/unit/test_packaging.py covers the files.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PYTHON=${PYTHON:-python3}
VENV=${VENV:-build/venv}
WORKPATH=build/pyinstaller
DISTPATH=dist
NAME=workbooks-connector
PYINSTALLER_REQ="pyinstaller>=6.10,<7"
SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-600}

use_venv=1 clean=0 build=1
for arg in "$@"; do
  case "$arg" in
    --system) use_venv=0 ;;
    --clean) clean=1 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $arg" >&2; exit 64 ;;
  esac
done

die() { echo "build.sh: FAILED: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

case "$(uname -s)" in
  MINGW*|MSYS*|CYGWIN*) EXE_SUFFIX=.exe; BIN=Scripts ;;
  *) EXE_SUFFIX=; BIN=bin ;;
esac
BUNDLE="$DISTPATH/$NAME"
# On Windows the GUI executable has no console; the CLI twin prints (see the spec's docstring).
CLI="$BUNDLE/$NAME${EXE_SUFFIX:+-cli}$EXE_SUFFIX"

VERSION=$("$PYTHON" - <<'PY'
import ast, pathlib
tree = ast.parse(pathlib.Path("app/__init__.py").read_text(encoding="utf-8"))
print(next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
           and any(getattr(t, "id", None) == "__version__" for t in n.targets)))
PY
) || die "cannot read __version__ from app/__init__.py"

if [ "$build" -eq 1 ]; then
  start=$(date +%s)
  step "workbooks-connector $VERSION: checks before building"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than Python 3.11"
  "$PYTHON" packaging/make_platform_icons.py --check \
    || die "packaging/icons/ are older than resources/icons/app-*.png (run: $PYTHON packaging/make_platform_icons.py)"

  mkdir -p build
  if [ "$use_venv" -eq 1 ]; then
    step "environment: $VENV"
    if [ ! -x "$VENV/$BIN/python$EXE_SUFFIX" ]; then
      "$PYTHON" -m venv "$VENV" || die "cannot create a virtual environment with $PYTHON -m venv"
    fi
    PY="$VENV/$BIN/python$EXE_SUFFIX"
    # The app's dependencies come from pyproject.toml, the one list of them; the app itself is
    # analysed from this source tree (pathex in the spec), so it is not installed.
    "$PY" - > "$WORKPATH.requirements.txt" <<'PY' || die "cannot read dependencies from pyproject.toml"
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
    "$PY" -m pip install --quiet -r "$WORKPATH.requirements.txt" "$PYINSTALLER_REQ" \
      || die "pip install of the dependencies and $PYINSTALLER_REQ failed"
  else
    PY=$PYTHON
    step "environment: $($PY -c 'import sys; print(sys.prefix)') (--system)"
    "$PY" -m pip install --quiet "$PYINSTALLER_REQ" || die "pip install $PYINSTALLER_REQ failed"
  fi
  "$PY" -m PyInstaller --version >/dev/null || die "PyInstaller does not run"

  step "PyInstaller $("$PY" -m PyInstaller --version) -> $BUNDLE"
  [ "$clean" -eq 1 ] && rm -rf "$WORKPATH"
  rm -rf "$BUNDLE"
  "$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$DISTPATH" --workpath "$WORKPATH" packaging/$NAME.spec \
    || die "PyInstaller failed"
  end=$(date +%s)
  echo "built in $((end - start)) s"
fi

[ -x "$CLI" ] || die "no executable at $CLI"

step "smoke test: $CLI"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export QT_QPA_PLATFORM=offscreen
export WORKBOOKS_CONNECTOR_HOME="$tmp/home"
unset DISPLAY WAYLAND_DISPLAY || true

echo "-- --version"
out=$("$CLI" --version 2>"$tmp/version.err") || { cat "$tmp/version.err" >&2; die "--version exited non-zero"; }
[ "$out" = "$NAME $VERSION" ] || die "--version printed '$out', expected '$NAME $VERSION'"
echo "   $out"

echo "-- --bundle-selftest (Qt offscreen, icons, keyring, tzdata, certifi, journal)"
if ! "$CLI" --bundle-selftest >"$tmp/selftest.out" 2>"$tmp/selftest.err"; then
  cat "$tmp/selftest.out" "$tmp/selftest.err" >&2
  die "bundle self-test failed"
fi
sed 's/^/   /' "$tmp/selftest.out"

if [ "$(uname -s)" = Linux ] && command -v xvfb-run >/dev/null; then
  echo "-- --bundle-selftest on an X server (xvfb-run, QT_QPA_PLATFORM=xcb)"
  if ! xvfb-run -a env QT_QPA_PLATFORM=xcb "$CLI" --bundle-selftest >"$tmp/xcb.out" 2>"$tmp/xcb.err"; then
    cat "$tmp/xcb.out" "$tmp/xcb.err" >&2
    die "bundle self-test under X failed (Qt's xcb plugin needs the system's libxcb-icccm4, libxcb-keysyms1, libxcb-cursor0)"
  fi
  grep -q "on Qt platform xcb" "$tmp/xcb.out" || die "the xcb self-test did not run on the xcb platform"
  tail -n 1 "$tmp/xcb.out" | sed 's/^/   /'
else
  echo "-- (no xvfb-run here: the X11 platform plugin is not exercised)"
fi

echo "-- demo --headless --people 30"
rc=0
limit=(); command -v timeout >/dev/null && limit=(timeout "$SMOKE_TIMEOUT")  # none on stock macOS
"${limit[@]}" "$CLI" demo --headless --people 30 >"$tmp/demo.out" 2>"$tmp/demo.err" || rc=$?
if [ "$rc" -ne 0 ]; then
  cat "$tmp/demo.out" "$tmp/demo.err" >&2
  die "demo --headless exited $rc"
fi
if grep -q Traceback "$tmp/demo.err"; then cat "$tmp/demo.err" >&2; die "traceback on stderr"; fi
"$PYTHON" - "$tmp/demo.out" <<'PY' || { cat "$tmp/demo.out" "$tmp/demo.err" >&2; die "demo --headless printed no valid sync summary"; }
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().strip().splitlines()
assert lines, "no output"
summary = json.loads(lines[-1])
for key in ("ok", "dry_run", "seconds", "created", "updated", "deleted", "unshared",
            "email_links", "conflicts", "errors", "requests"):
    assert key in summary, f"missing key {key}"
assert summary["ok"] is True, summary
assert not summary["errors"], summary["errors"]
created = summary["created"]
assert sum(created["outlook"].values()) + sum(created["crm"].values()) > 0, "nothing synced"
print("   synced:", json.dumps(created), "requests:", json.dumps(summary["requests"]))
PY

echo "-- no command: the tray app (first-run wizard) starts and stays up"
"$CLI" --profile "$tmp/tray-profile" >"$tmp/tray.out" 2>"$tmp/tray.err" &
tray_pid=$!
alive=1
for _ in $(seq 1 40); do
  sleep 0.25
  kill -0 "$tray_pid" 2>/dev/null || { alive=0; break; }
done
if [ "$alive" -eq 1 ]; then
  kill -TERM "$tray_pid" 2>/dev/null || true
  ( sleep 10; kill -KILL "$tray_pid" 2>/dev/null ) &
  watchdog=$!
  wait "$tray_pid" 2>/dev/null || true
  kill "$watchdog" 2>/dev/null || true
  grep -q Traceback "$tmp/tray.err" && { cat "$tmp/tray.err" >&2; die "traceback from the tray app"; }
  echo "   up for 10 s, then stopped"
else
  rc=0; wait "$tray_pid" || rc=$?
  if [ "$rc" -eq 2 ] && grep -q "Not available yet" "$tmp/tray.err"; then
    echo "   tray app not wired up in this build yet (exit 2): $(head -n 1 "$tmp/tray.err")"
  else
    cat "$tmp/tray.out" "$tmp/tray.err" >&2
    die "the tray app exited $rc within 10 s"
  fi
fi

step "bundle"
size=$(du -sh "$BUNDLE" | cut -f1)
files=$(find "$BUNDLE" -type f | wc -l | tr -d ' ')
echo "$BUNDLE: $size in $files files"
if [ -d "$DISTPATH/Workbooks connector.app" ]; then
  echo "$DISTPATH/Workbooks connector.app: $(du -sh "$DISTPATH/Workbooks connector.app" | cut -f1)"
fi
echo "build.sh: OK (workbooks-connector $VERSION)"
