# Shared helpers for the scripts in this folder. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${IQA_RUN_DIR:-$ROOT/run}"
BROKER_URL="${GPU_LEASE_URL:-http://127.0.0.1:${GPU_LEASE_PORT:-8470}}"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# Builds the module's jar when it is missing or older than its sources.
ensure_jar() {
  local module="$1" jar="$2"
  if [ ! -f "$ROOT/$jar" ] || [ -n "$(find "$ROOT/$module/src" "$ROOT/pom.xml" "$ROOT/$module/pom.xml" -newer "$ROOT/$jar" -print -quit)" ] \
      || { [ "$module" != lease-broker ] && [ ! -d "$ROOT/$module/target/lib" ]; }; then
    echo "building $module ..." >&2
    (cd "$ROOT" && mvn -q -B -DskipTests package -pl "$module" -am) >&2 || die "build of $module failed"
  fi
}

# curl with the bearer token from GPU_LEASE_TOKEN, if set; fails on HTTP errors but prints the body.
api() {
  local method="$1" path="$2" body="${3:-}"
  local args=(-sS -X "$method" -H 'Content-Type: application/json' -w '\n%{http_code}')
  [ -n "${GPU_LEASE_TOKEN:-}" ] && args+=(-H "Authorization: Bearer $GPU_LEASE_TOKEN")
  [ -n "$body" ] && args+=(--data "$body")
  local out code
  out="$(curl "${args[@]}" "$BROKER_URL$path")" || die "cannot reach the broker at $BROKER_URL"
  code="${out##*$'\n'}"
  printf '%s\n' "${out%$'\n'*}"
  [ "$code" -lt 400 ] || return 1
}
