#!/usr/bin/env bash
# `npm test`: type-check (emitting src/ and test/), build the studio, check the layering, lint,
# then run every test file.
# Arguments go to the test runner: `npm test -- --test-reporter=spec`.
#
# The checks are independent and mostly single-threaded, so they run side by side. The type check
# of src/, test/ and eval/ also emits them (to .tmp/test-build.*, ignored by git), and the tests run
# as emitted, the CLI included: the same code, without a TypeScript loader in every test process,
# and no second compile into dist/ (`npm run build` makes that). (One file alone, from the
# sources: `node --import tsx --test test/NAME.test.ts`.)
#
# Test files run two at a time (one per core where there are more): each makes its own temporary
# folders, servers listen on free ports, and the packed-weights cache in STEERER_CACHE_DIR is
# written through temporary directories renamed into place.
set -uo pipefail
cd "$(dirname "$0")/.."

# A folder per run, so two runs in one checkout do not share (or delete) each other's build.
mkdir -p .tmp
out=$(mktemp -d .tmp/test-build.XXXXXX)
trap 'rm -rf "$out"' EXIT
node node_modules/typescript-7/bin/tsc -p tsconfig.test.json --noEmit false --declaration false --outDir "$out" & typecheck=$!
npm run --silent lint & lint=$!
npm run --silent build:studio; studio=$?
npm run --silent check:layers; layers=$?
failed=0
for job in "$typecheck" "$lint"; do wait "$job" || failed=1; done
if [ "$failed" != 0 ] || [ "$studio" != 0 ] || [ "$layers" != 0 ]; then
  echo "npm test: the type check, studio build, layer check or lint failed (see above); no tests run" >&2
  exit 1
fi

# The slowest files start first, so no long one is left running alone at the end.
slow=(test/readme.test.ts test/studio-browser.test.ts test/server-faults.test.ts test/auto-pipeline.test.ts test/cli.test.ts test/server-ratings.test.ts)
files=()
for f in "${slow[@]}"; do [ -f "$f" ] && files+=("$out/${f%.ts}.js"); done
while IFS= read -r f; do
  case " ${slow[*]} " in *" $f "*) ;; *) files+=("$out/${f%.ts}.js") ;; esac
done < <(find test -name '*.test.ts' | sort)

jobs=$(node -p 'Math.max(2, require("node:os").availableParallelism())')
# Files run `jobs` at a time, one per core, so the models they and the CLI they start open take
# one ONNX Runtime thread each (where a test says nothing): more would only contend for the cores.
STEERER_THREADS="${STEERER_THREADS:-1}" STEERER_CACHE_DIR="${TMPDIR:-/tmp}/steerer-test-cache" node --enable-source-maps --test --test-concurrency="$jobs" "$@" "${files[@]}"
