# Shared helpers for the scripts in this folder. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${IQA_RUN_DIR:-$ROOT/run}"
BROKER_URL="${GPU_LEASE_URL:-http://127.0.0.1:${GPU_LEASE_PORT:-8470}}"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# help_if_asked "$@": with -h or --help anywhere, prints the script's header comment (its usage) and
# exits 0 before anything else happens.
help_if_asked() {
  local a
  for a in "$@"; do
    case "$a" in
      -h|--help)
        sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0 ;;
      --) return 0 ;;
    esac
  done
}

# help_from_jar JAR COMMAND_PREFIX... -- ARGS...: with -h or --help in ARGS, the jar's own help when
# it is built (never building it for that), else the script's header; then exits.
help_from_jar() {
  local jar="$1" a
  shift
  local prefix=()
  while [ "$1" != "--" ]; do prefix+=("$1"); shift; done
  shift
  for a in "$@"; do
    case "$a" in
      -h|--help)
        [ -f "$ROOT/$jar" ] || help_if_asked --help
        exec "${prefix[@]}" -jar "$ROOT/$jar" "$@" ;;
      --) return 0 ;;
    esac
  done
}

# names_conf ARGS...: true when the arguments name a config file (--conf FILE or --conf=FILE).
names_conf() {
  local a
  for a in "$@"; do
    case "$a" in --conf|--conf=*) return 0 ;; esac
  done
  return 1
}

# step TEXT: says what the script does next, on stderr.
step() { echo "$(basename "$0"): $*" >&2; }

# rotate_log FILE [KEEP]: FILE becomes FILE.1 (FILE.1 becomes FILE.2, ...; KEEP old logs, default 5).
rotate_log() {
  local log="$1" keep="${2:-5}" i
  [ -s "$log" ] || return 0
  for ((i = keep - 1; i >= 1; i--)); do
    [ -f "$log.$i" ] && mv -f "$log.$i" "$log.$((i + 1))"
  done
  mv -f "$log" "$log.1"
}

# alive PID: the process runs (a zombie, killed but not yet reaped, does not count).
alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "${state:0:1}" != Z ]
}

# install_missing COMMAND:PACKAGE ...: apt-get installs the Debian package of each missing command.
install_missing() {
  local need=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
  done
  [ "${#need[@]}" -gt 0 ] || return 0
  install_packages "${need[@]}"
}

# Installs Debian packages (apt-get), as root or through sudo.
install_packages() {
  [ "$#" -gt 0 ] || return 0
  echo "installing $* ..." >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Builds the module's jar when it is missing or older than its sources.
ensure_jar() {
  local module="$1" jar="$2"
  # After scripts/gpu-check, target/ holds the -Pgpu flavour: clean, so no GPU native jar stays behind.
  local clean=""
  [ -f "$ROOT/$module/target/gpu-build" ] && clean="clean"
  if [ ! -f "$ROOT/$jar" ] || [ -n "$(find "$ROOT/$module/src" "$ROOT/pom.xml" "$ROOT/$module/pom.xml" -newer "$ROOT/$jar" -print -quit)" ] \
      || { { [ "$module" = sidecar ] || [ "$module" = bench ]; } && [ ! -d "$ROOT/$module/target/lib" ]; } \
      || [ -n "$clean" ]; then
    step "building $module (mvn package -pl $module -am) ..."
    (cd "$ROOT" && mvn -q -B -Dstyle.color=never -DskipTests $clean package -pl "$module" -am) >&2 || die "build of $module failed"
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

# start_service NAME LOG_PATTERN CMD...: runs CMD in the background (pid in run/NAME.pid, log in
# run/NAME.log) and waits until LOG_PATTERN shows up in its output.
start_service() {
  local name="$1" pattern="$2"
  shift 2
  mkdir -p "$RUN_DIR"
  local pidfile="$RUN_DIR/$name.pid" log="$RUN_DIR/$name.log"
  if [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; then
    die "$name already running (pid $(cat "$pidfile")); scripts/$name-stop first"
  fi
  # The last runs' logs stay beside it (NAME.log.1 is the previous one).
  rotate_log "$log"
  echo "$(date '+%Y-%m-%d %H:%M:%S.%3N') started by $(basename "$0"): $*" >"$log"
  step "starting $name (log $log)"
  nohup "$@" >>"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 600); do
    if line="$(grep -m1 "$pattern" "$log" 2>/dev/null)"; then
      echo "$line (pid $(cat "$pidfile"), log $log)"
      return 0
    fi
    alive "$(cat "$pidfile")" || { cat "$log" >&2; rm -f "$pidfile"; die "$name exited"; }
    sleep 0.1
  done
  die "$name did not report '$pattern' within 60 s; see $log"
}

# stop_service NAME [GRACE_S]: SIGTERM, then SIGKILL after GRACE_S (default 15) seconds.
stop_service() {
  local name="$1" grace="${2:-15}"
  local pidfile="$RUN_DIR/$name.pid"
  [ -f "$pidfile" ] || { echo "$name not running (no $pidfile)"; return 0; }
  local pid
  pid="$(cat "$pidfile")"
  if alive "$pid"; then
    step "stopping $name $pid (SIGTERM)"
    kill -TERM "$pid"
    for _ in $(seq 1 $((grace * 10))); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      echo "$name $pid ignored SIGTERM for $grace s; killing it" >&2
      kill -KILL "$pid"
    fi
    echo "stopped $name $pid"
  else
    echo "$name $pid was not running"
  fi
  rm -f "$pidfile"
}
