#!/usr/bin/env bash
# Rebuilds agent_desk/static/vendor/jssip.min.js, the browser bundle of JsSIP that the desk's
# softphone imports. JsSIP on npm ships no browser bundle, so it is bundled once with esbuild
# and the result is committed: running the desk needs no build step, and neither tests nor CI
# run this script. Run it by hand to rebuild or move to another JsSIP release,
# then commit the bundle, the licence and the README together.
#
# Needs node and npm; installs into a temporary directory outside the repository.
set -euo pipefail

# The exact versions (JsSIP, esbuild, and the packages JsSIP bundles: debug, events, ms,
# sdp-transform) and their integrity hashes are in devtools/jssip/package.json and
# package-lock.json; `npm ci` installs exactly those. To move to another JsSIP release, change
# package.json, run `npm install --package-lock-only` in devtools/jssip, then this script.
repo="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$repo/agent_desk/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$repo/devtools/jssip/package.json" "$repo/devtools/jssip/package-lock.json" "$work/"
cd "$work"
npm ci --no-audit --no-fund >/dev/null
installed="$(node -p "require('jssip/package.json').version")"
ESBUILD_VERSION="$(node -p "require('esbuild/package.json').version")"

echo "window.JsSIP = require('jssip');" > entry.js
npx --no-install esbuild entry.js --bundle --format=iife --platform=browser --minify \
  --legal-comments=eof --outfile=jssip.min.js

mkdir -p "$vendor"
cp jssip.min.js "$vendor/jssip.min.js"
# JsSIP's licence, then those of the MIT packages the bundle carries inside it.
{
  cat node_modules/jssip/LICENSE.md
  for dep in debug events ms sdp-transform; do
    licence="$(ls node_modules/$dep/ | grep -i -m1 '^licen[cs]e')"
    printf '\n\n---- bundled: %s %s ----\n\n' "$dep" "$(node -p "require('$dep/package.json').version")"
    cat "node_modules/$dep/$licence"
  done
} > "$vendor/JSSIP-LICENSE"
echo "jssip $installed bundled with esbuild $ESBUILD_VERSION:" \
  "$(wc -c < "$vendor/jssip.min.js") bytes, sha256 $(sha256sum "$vendor/jssip.min.js" | cut -d' ' -f1)"
