# shellcheck shell=bash
# Trust material for the demo and the soak (scripts/demo.sh, bench/soak.sh):
# signing keys, a trust policy and a signed bundle of the example migrations in
# docs/demo/migrations, as an organisation's CI would publish it.
# Source it; it defines functions only.

# make_keys DDLGATE KEYDIR NAME...: KEYDIR/NAME.key and KEYDIR/NAME.pub for each
# NAME (`ddlgate keygen`), kept when they exist.
make_keys() {
  local ddlgate="$1" dir="$2" name
  shift 2
  mkdir -p "$dir"
  for name in "$@"; do
    [ -f "$dir/$name.key" ] || "$ddlgate" keygen --out "$dir/$name" >/dev/null
  done
}

# demo_signed_bundle DDLGATE ROOT DIR ENVIRONMENT: in DIR, the keys
# keys/registry and keys/approver, trust.toml (one registry and one approver
# signature), and bundles/shop-v1: ROOT/docs/demo/migrations (dbmate layout)
# built for ENVIRONMENT and signed by both. Existing keys and bundle are kept;
# trust.toml is written anew.
demo_signed_bundle() {
  local ddlgate="$1" root="$2" dir="$3" environment="$4"
  make_keys "$ddlgate" "$dir/keys" registry approver
  cat >"$dir/trust.toml" <<TOML
# Demo trust policy: one registry signature and one approver signature.
[roles.registry]
threshold = 1
keys = ["$dir/keys/registry.pub"]
[roles.approver]
threshold = 1
keys = ["$dir/keys/approver.pub"]
TOML
  mkdir -p "$dir/bundles"
  [ ! -d "$dir/bundles/shop-v1" ] || return 0
  rm -rf "$dir/bundle-staging"
  "$ddlgate" bundle build "$root/docs/demo/migrations" --tool dbmate --app shop --version 1 --database postgres \
    --environment "$environment" --out "$dir/bundle-staging" --repository "file://$root" >/dev/null
  "$ddlgate" bundle sign "$dir/bundle-staging" --key "$dir/keys/registry.key" --role registry >/dev/null
  "$ddlgate" bundle sign "$dir/bundle-staging" --key "$dir/keys/approver.key" --role approver >/dev/null
  mv "$dir/bundle-staging" "$dir/bundles/shop-v1"
}
