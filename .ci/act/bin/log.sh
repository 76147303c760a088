# Sourced by each test double: one JSON line per call in $ACT_CALLS (argv, the working
# dir, and the SOURCE_DATE_EPOCH the call saw), so the test can tell what a workflow ran.
log_call() {
  python3 - "$@" <<'PY'
import json, os, sys
with open(os.environ["ACT_CALLS"], "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(),
                        "job": os.environ.get("GITHUB_JOB", ""),
                        "epoch": os.environ.get("SOURCE_DATE_EPOCH")}) + "\n")
PY
}
