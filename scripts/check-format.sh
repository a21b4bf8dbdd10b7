#!/usr/bin/env bash
# Fails when a C++ file differs from what clang-format (the repo's .clang-format) makes,
# or when a Catch2 test name holds ';' (catch_discover_tests splits names there, so ctest
# would run two names that match no test, and the test itself never), or when a Markdown
# link points at a file that is not in the repository (a user of the repository has only
# what is in it), or when a function in tools/ is over 80 lines.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r f; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: clang-format -i $f)"
    bad=1
  fi
done < <(git ls-files '*.cpp' '*.hpp')
while IFS= read -r hit; do
  echo "test name with ';': $hit (ctest would never run it)"
  bad=1
done < <(git ls-files 'tests/*.cpp' | xargs python3 -c '
import re, sys
for f in sys.argv[1:]:
    s = open(f, encoding="utf-8").read()
    for m in re.finditer(r"TEST_CASE\(\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+)", s):
        name = "".join(re.findall(r"\"((?:[^\"\\]|\\.)*)\"", m.group(1)))
        if ";" in name:
            print(f + ":" + str(s.count("\n", 0, m.start()) + 1) + ": " + name)
')
while IFS= read -r hit; do
  echo "link to a file not in the repository: $hit"
  bad=1
done < <(git ls-files '*.md' | xargs python3 -c '
import os, re, subprocess, sys
tracked = set(subprocess.run(["git", "ls-files"], capture_output=True, text=True).stdout.split())
dirs = {os.path.dirname(t) for t in tracked}
for f in sys.argv[1:]:
    s = open(f, encoding="utf-8").read()
    # Code blocks hold examples, not links (their lines are kept for the line numbers).
    s = re.sub(r"```.*?```", lambda b: "\n" * b.group(0).count("\n"), s, flags=re.S)
    for m in re.finditer(r"\]\(([^)\s]+)\)", s):
        target = m.group(1).split("#")[0]
        if not target or re.match(r"[a-z]+:", target):
            continue
        path = os.path.normpath(os.path.join(os.path.dirname(f), target))
        if path not in tracked and path not in dirs and path != ".":
            print(f + ":" + str(s.count("\n", 0, m.start()) + 1) + ": " + m.group(1))
')
# No function in tools/ over 80 lines: the CLI stays a shell (docs/architecture.md).
if ! python3 scripts/function-lengths.py --max 80 $(git ls-files 'tools/*.cpp' 'tools/*.hpp'); then
  bad=1
fi
exit $bad
