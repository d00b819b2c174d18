#!/usr/bin/env bash
# Install the one-folder bundle for the current user on Linux (no root needed), or remove it.
#
#   packaging/install-linux.sh               copy dist/workbooks-connector/ and add the menu entry
#   packaging/install-linux.sh --uninstall   remove all of that again (profile data stays)
#
# Where things go (each overridable from the environment):
#   BUNDLE          the built bundle               dist/workbooks-connector
#   PREFIX          program and command            ~/.local  -> $PREFIX/lib/workbooks-connector/,
#                                                               $PREFIX/bin/workbooks-connector
#   XDG_DATA_HOME   menu entry and theme icons     ~/.local/share/applications, .../icons/hicolor
#   XDG_CONFIG_HOME the sign-in entry the app's    ~/.config/autostart (only removed on uninstall;
#                   settings may have written      the app writes it when the option is ticked)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=workbooks-connector
BUNDLE=${BUNDLE:-$ROOT/dist/$NAME}
PREFIX=${PREFIX:-$HOME/.local}
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
case "$DATA" in /*) ;; *) DATA=$HOME/.local/share ;; esac
CONFIG=${XDG_CONFIG_HOME:-$HOME/.config}
case "$CONFIG" in /*) ;; *) CONFIG=$HOME/.config ;; esac

APPDIR=$PREFIX/lib/$NAME
BINLINK=$PREFIX/bin/$NAME
DESKTOP=$DATA/applications/$NAME.desktop
ICONS=$DATA/icons/hicolor

die() { echo "install-linux.sh: $*" >&2; exit 1; }
refresh_caches() {
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA/applications" 2>/dev/null || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$APPDIR"
  [ -L "$BINLINK" ] && rm -f "$BINLINK"
  rm -f "$DESKTOP" "$CONFIG/autostart/$NAME.desktop"
  find "$ICONS" -path "*/apps/$NAME.*" -delete 2>/dev/null || true
  refresh_caches
  echo "Removed $NAME. Profiles (configuration, journal, logs) are kept; delete them yourself if wanted."
  exit 0
fi
[ $# -eq 0 ] || die "unknown option $1 (use --uninstall or nothing)"

[ -x "$BUNDLE/$NAME" ] || die "no bundle at $BUNDLE (build it first: packaging/build.sh)"
SHARE=$BUNDLE/_internal/share
[ -f "$SHARE/applications/$NAME.desktop" ] || die "$BUNDLE has no share/applications/$NAME.desktop"

# Exec/TryExec value for a path (Desktop Entry Specification quoting, then string escaping).
desktop_quote() {
  local s=$1
  case "$s" in
    *[[:space:]\"\'\\\>\<~\|\&\;\$\*\?\#\(\)\`]*)
      s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//\`/\\\`}; s=${s//\$/\\\$}
      s="\"$s\"" ;;
  esac
  s=${s//%/%%}
  printf '%s' "${s//\\/\\\\}"
}

mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$DATA/applications"
rm -rf "$APPDIR.new"
cp -a "$BUNDLE" "$APPDIR.new"
rm -rf "$APPDIR"
mv "$APPDIR.new" "$APPDIR"
ln -sfn "$APPDIR/$NAME" "$BINLINK"

for dir in "$SHARE"/icons/hicolor/*/apps; do
  size=$(basename "$(dirname "$dir")")
  mkdir -p "$ICONS/$size/apps"
  for icon in "$dir"/*; do
    ext=${icon##*.}
    cp "$icon" "$ICONS/$size/apps/$NAME.$ext"
  done
done

sed_text() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }  # for sed's replacement text
path="$APPDIR/$NAME"
exe=$(sed_text "$(desktop_quote "$path")")
tryexec=$(sed_text "${path//\\/\\\\}")  # TryExec is a plain path: no quoting, only \ doubled
sed -e "s|^Exec=.*|Exec=$exe|" -e "s|^TryExec=.*|TryExec=$tryexec|" \
  "$SHARE/applications/$NAME.desktop" > "$DESKTOP.tmp"
mv "$DESKTOP.tmp" "$DESKTOP"
refresh_caches

echo "Installed $NAME into $APPDIR"
echo "  command:    $BINLINK$(case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo " (add $PREFIX/bin to PATH)";; esac)"
echo "  menu entry: $DESKTOP"
echo "Start it from the applications menu (Office) or run: $NAME"
