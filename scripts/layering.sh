#!/usr/bin/env bash
# The import rules that keep patchkit layered, checked with go list. Fails (exit 1) and
# names every offending import when a rule is broken.
set -euo pipefail
cd "$(dirname "$0")/.."

mod=$(go list -m)
cat <<EOF
layering rules:
  1. pkg/... never imports cmd/... (directly or through another package of ours)
  2. pkg/... never imports github.com/spf13/cobra or github.com/spf13/pflag itself
     (tests included); the CLI's flags live in cmd/
  3. pkg/delta imports no other pkg/... package of ours: it is the self-contained core
  4. internal/... never imports cmd/...
EOF

# One line per import: PACKAGE KIND IMPORT, KIND being dep (transitive, non-test), imp
# (a direct import) or test (a direct import of the package's tests).
list() {
  go list -f '{{$p := .ImportPath}}{{range .Deps}}{{$p}} dep {{.}}
{{end}}{{range .Imports}}{{$p}} imp {{.}}
{{end}}{{range .TestImports}}{{$p}} test {{.}}
{{end}}{{range .XTestImports}}{{$p}} test {{.}}
{{end}}' "$@"
}

bad=$(list ./pkg/... ./internal/... | awk -v mod="$mod" '
  function under(p, dir) { return p == mod "/" dir || index(p, mod "/" dir "/") == 1 }
  {
    pkg = $1; kind = $2; imp = $3
    if (under(pkg, "pkg") && under(imp, "cmd"))
      print "rule 1: " pkg " imports " imp
    if (under(pkg, "pkg") && kind != "dep" && imp ~ /^github\.com\/spf13\/(cobra|pflag)(\/|$)/)
      print "rule 2: " pkg " imports " imp
    if (under(pkg, "pkg/delta") && under(imp, "pkg") && !under(imp, "pkg/delta"))
      print "rule 3: " pkg " imports " imp
    if (under(pkg, "internal") && under(imp, "cmd"))
      print "rule 4: " pkg " imports " imp
  }' | sort -u)

if [ -n "$bad" ]; then
  echo "layering check failed:"
  echo "$bad"
  exit 1
fi
echo "layering: ok"
