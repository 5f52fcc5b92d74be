#!/usr/bin/env bash
# `npm run lint:openapi`: builds the service, dumps the OpenAPI document the real app serves (the whole service
# started in dev mode on free loopback ports, src/openapi-document.ts) and lints it with Redocly's
# recommended rules (redocly.yaml, .redocly.lint-ignore.yaml). Fails on any error or warning: `redocly lint`
# itself exits 0 on warnings, so its JSON report is counted.
set -euo pipefail
cd "$(dirname "$0")/.."
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
document=.data/openapi.json   # the path .redocly.lint-ignore.yaml names

npm run build --silent
node dist/src/openapi-document.js --out "$document"
npx redocly lint "$document" --format=stylish || true
npx redocly lint "$document" --format=json 2>/dev/null | node -e '
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk)).on("end", () => {
    const { errors, warnings } = JSON.parse(text).totals;
    if (errors + warnings > 0) {
      console.error(`OpenAPI lint: ${errors} errors and ${warnings} warnings (none are allowed)`);
      process.exit(1);
    }
    console.log("OpenAPI lint: no errors, no warnings");
  });
'
