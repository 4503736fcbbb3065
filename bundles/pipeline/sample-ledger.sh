#!/usr/bin/env bash
# Writes a small replay file to try the pipeline without production data: a throwaway
# database gets three agents and a mix of calls — reads and writes in production and
# staging, tools pointed at allowlisted and other hosts, small and large transfers — and
# its ledger is exported in the format `kavach policy replay --ledger` reads.
#
#   KAVACH=kavach bundles/pipeline/sample-ledger.sh sample.ndjson
#
# In production, export a real sample instead (root or a tenant admin):
#
#   kavach audit export --format replay --since 168h -f sample.ndjson
set -euo pipefail
out=${1:?usage: sample-ledger.sh OUT.ndjson}
kavach=${KAVACH:-kavach}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="sqlite://$work/kavach.db"
run() { $kavach --database "$db" --audit-signing-key-file "$work/audit.key" "$@"; }

agent() { # NAME PERMISSION… → id
  local name=$1; shift
  local perms=()
  for p in "$@"; do perms+=(--permission "$p"); done
  run agent create --owner alice --name "$name" "${perms[@]}" -o json | sed -n 's/^  "id": "\(.*\)",$/\1/p'
}
deployer=$(agent deployer 'db:prod:*=read,write,delete' 'db:staging:*=read,write' 'tool:fetch:*=call')
payer=$(agent payer 'bank:acct:*=transfer,read')
reader=$(agent reader 'db:*=read')

call() { # AGENT ACTION RESOURCE [ARGS-JSON]; a denial is an answer, not a failure
  run authorize --agent "$1" --action "$2" --resource "$3" ${4:+--args-json "$4"} >/dev/null || [ $? -eq 2 ]
}
for i in 1 2 3; do
  call "$deployer" write db:prod:orders
  call "$deployer" delete db:prod:cache
  call "$deployer" write db:staging:orders
  call "$deployer" read db:prod:orders
  call "$deployer" call tool:fetch:page '{"url": "https://github.com/kavachos"}'
  call "$deployer" call tool:fetch:page '{"url": "https://pastebin.example.net/raw/1"}'
  call "$payer" transfer bank:acct:ops '{"amount": 120}'
  call "$payer" transfer bank:acct:ops "{\"amount\": $((i * 2500))}"
  call "$reader" read db:prod:customers
  call "$reader" write db:prod:customers
done
run audit export --format replay -f "$out"
echo "wrote $out ($(grep -c '"event"' "$out") decisions)" >&2
