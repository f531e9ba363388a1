#!/usr/bin/env bash
# Refresh GraphiQL's assets in api/static/graphiql/ from npm, at the versions
# below: the UMD bundles and style sheet that the page (api/graphiql.py) loads,
# gzipped (served as they are), with their licences and SHA-256 sums.
# Not run by the build or the tests: the files are committed, so that the IDE
# works without internet. Change a version here, run it, commit the result.
set -euo pipefail
GRAPHIQL=3.8.3
REACT=18.3.1
cd "$(dirname "$0")/.."
out=api/static/graphiql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for pkg in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  mkdir "$work/$pkg" && tar xzf "$work/$pkg.tgz" -C "$work/$pkg"
done
rm -f "$out"/*.gz "$out"/LICENSE-*
copy() {  # source file, name served
  gzip -9 -n -c "$1" > "$out/$2.gz"
  echo "| \`$2\` | $3 | \`$(sha256sum "$1" | cut -c1-64)\` |" >> "$work/sums"
}
copy "$work/graphiql-$GRAPHIQL/package/graphiql.min.js" graphiql.min.js "graphiql $GRAPHIQL"
copy "$work/graphiql-$GRAPHIQL/package/graphiql.min.css" graphiql.min.css "graphiql $GRAPHIQL"
copy "$work/react-$REACT/package/umd/react.production.min.js" react.production.min.js "react $REACT"
copy "$work/react-dom-$REACT/package/umd/react-dom.production.min.js" \
  react-dom.production.min.js "react-dom $REACT"
cp "$work/graphiql-$GRAPHIQL/package/LICENSE" "$out/LICENSE-graphiql"
cp "$work/react-$REACT/package/LICENSE" "$out/LICENSE-react"
cp "$work/react-dom-$REACT/package/LICENSE" "$out/LICENSE-react-dom"
cat > "$out/README.md" <<MD
# GraphiQL, served by the app

The IDE at \`/graphql\` (outside production) loads these files from the app
itself, so that it works with no internet. They are npm's files, gzipped
(\`gzip -9 -n\`), made by \`scripts/fetch_graphiql.sh\`; a test checks the sums
of their uncompressed bytes against this table.

| file | from | SHA-256 of the uncompressed file |
|---|---|---|
$(cat "$work/sums")

Licences: MIT (\`LICENSE-graphiql\`, which covers the bundle; \`LICENSE-react\`,
\`LICENSE-react-dom\`).
MD
echo "GraphiQL $GRAPHIQL and React $REACT in $out:"
ls -l "$out"
