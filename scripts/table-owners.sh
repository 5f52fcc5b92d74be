#!/usr/bin/env bash
# Which src/ folders name each table of the migrations in SQL (FROM, JOIN, INTO, UPDATE, TABLE), and how
# many folders beyond the first touch a table: issue 12's "every table has one owner" measure.
set -euo pipefail
cd "$(dirname "$0")/.."
tables=$(grep -hoE "CREATE TABLE (IF NOT EXISTS )?[a-z_]+" migrations/*.sql | awk '{print $NF}' | sort -u | grep -v '_p[0-9]*$')
extra=0
for t in $tables; do
  dirs=$(grep -rlE "(FROM|JOIN|INTO|UPDATE|TABLE)[[:space:]]+$t\b" src --include='*.ts' | xargs -r -n1 dirname | sort -u | sed 's#^src/##' | tr '\n' ' ')
  n=$(echo "$dirs" | wc -w)
  if [ "$n" -gt 1 ]; then extra=$((extra + n - 1)); fi
  printf '%-22s %d  %s\n' "$t" "$n" "$dirs"
done
echo "folders beyond a table's owner: $extra"
