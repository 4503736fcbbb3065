#!/usr/bin/env bash
# The release pipeline of a policy bundle, for any CI:
#
#   1. kavach policy test      the bundle's own tests, with Kavach's embedded policies
#   2. kavach bundle build     a signed bundle stamped with the revision
#   3. kavach bundle inspect   the checks every server runs before activating it
#   4. kavach policy replay    the candidate against a sample of the ledger, beside the
#                              revision in production: what would it change?
#   5. publish                 only when nothing changed, or a person reviewed the report
#
# Run from the repository root. Settings come from the environment:
#
#   KAVACH            the kavach command (default: kavach)
#   BUNDLE_SRC        the bundle source directory (default: bundles/example)
#   SIGNING_KEY       PEM private key or HMAC secret (file) that signs the bundle (required)
#   SIGNING_ALG       its algorithm when not the key's default (e.g. HS512, PS256)
#   VERIFICATION_KEY  the key servers verify with (default: SIGNING_KEY, for an HMAC secret)
#   LEDGER            a replay file: kavach audit export --format replay --since 168h (required)
#   ACTIVE            the bundle in production (file or URL), or
#   ACTIVE_SRC        its source directory (for example a checkout of the target branch);
#                     with neither, the candidate is compared with the embedded policies alone
#   REVISION          the revision to stamp (default: git rev-parse --short HEAD)
#   OUT               where to write the bundle (default: dist/bundle.tar.gz)
#   PUBLISH_DIR       where to publish it (any object-store sync can replace that step);
#                     unset: the pipeline stops before publishing
#   REVIEWED=1        publish although the replay changed decisions: a person read the report
#
# Exit status: 0 published (or ready to), 3 decisions changed and REVIEWED is not set,
# 2 the candidate was refused, 1 anything else. The replay report is left beside the bundle
# (replay.txt and replay.json).
set -euo pipefail
kavach=${KAVACH:-kavach}
src=${BUNDLE_SRC:-bundles/example}
: "${SIGNING_KEY:?SIGNING_KEY: the key that signs the bundle}"
: "${LEDGER:?LEDGER: a replay file (kavach audit export --format replay)}"
verify=${VERIFICATION_KEY:-$SIGNING_KEY}
revision=${REVISION:-$(git rev-parse --short HEAD)}
out=${OUT:-dist/bundle.tar.gz}
dist=$(dirname "$out")
mkdir -p "$dist"
alg=()
[ -n "${SIGNING_ALG:-}" ] && alg=(--alg "$SIGNING_ALG")

# A candidate that fails any of steps 1 to 3 is refused: exit 2.
echo "== 1. test $src"
$kavach policy test "$src" || exit 2

echo "== 2. build and sign revision $revision"
$kavach bundle build "$src" -o "$out" --revision "$revision" --signing-key "$SIGNING_KEY" "${alg[@]}" || exit 2

echo "== 3. inspect"
$kavach bundle inspect "$out" --verification-key "$verify" "${alg[@]}" || exit 2

echo "== 4. replay $LEDGER"
active=()
if [ -n "${ACTIVE:-}" ]; then
  active=(--active "$ACTIVE")
elif [ -n "${ACTIVE_SRC:-}" ]; then
  $kavach bundle build "$ACTIVE_SRC" -o "$dist/active.tar.gz" --revision active
  active=(--active "$dist/active.tar.gz")
fi
replay() { $kavach policy replay --ledger "$LEDGER" --bundle "$out" --verification-key "$verify" "${alg[@]}" "${active[@]}" "$@"; }
status=0
replay -o json > "$dist/replay.json" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then
  exit "$status"
fi
replay > "$dist/replay.txt" || true
cat "$dist/replay.txt"
if [ "$status" -eq 3 ] && [ "${REVIEWED:-}" != 1 ]; then
  echo "the candidate changes recorded decisions: review $dist/replay.txt, then run again with REVIEWED=1 to publish" >&2
  exit 3
fi

echo "== 5. publish"
if [ -z "${PUBLISH_DIR:-}" ]; then
  echo "PUBLISH_DIR is not set: $out is ready to publish"
  exit 0
fi
mkdir -p "$PUBLISH_DIR"
cp "$out" "$PUBLISH_DIR/bundle.tar.gz.tmp"
mv "$PUBLISH_DIR/bundle.tar.gz.tmp" "$PUBLISH_DIR/bundle.tar.gz" # servers never see half a file
echo "published revision $revision to $PUBLISH_DIR/bundle.tar.gz"
