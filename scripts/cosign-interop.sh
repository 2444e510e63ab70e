#!/bin/sh
# cosign-interop.sh: check that cosign (a real client, not patchkit code) accepts
# patchkit signatures, and that patchkit accepts cosign's keys.
#
#   scripts/cosign-interop.sh            build cosign from the Go module proxy if missing
#   COSIGN=/path/to/cosign scripts/cosign-interop.sh
#
# cosign is built once into $(go env GOPATH)/bin (go install, pinned below; v3.1.3 builds
# with Go 1.26), where scripts/test.sh and the pipeline test find it again.
#
# Checks, offline (no Rekor, no Fulcio):
#   1. patchkit key generate -> sign --signature-out -> extract --manifest ->
#      cosign verify-blob --key PUB --bundle SIG --insecure-ignore-tlog MANIFEST   accepts
#   2. the same over a modified manifest                                           refuses
#   3. the same for an ed25519 key (Ed25519ph) and an rsa-3072 key                  accepts
#   4. a key from "cosign generate-key-pair" signs with patchkit; patchkit verify and
#      cosign verify-blob both accept it
#   5. a signature made by "cosign sign-blob" over the manifest, attached with
#      "patchkit sign --attach", is accepted by patchkit verify
set -eu

COSIGN_VERSION=${COSIGN_VERSION:-v3.1.3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cosign=${COSIGN:-}
if [ -z "$cosign" ]; then
	cosign=$(command -v cosign || true)
fi
if [ -z "$cosign" ]; then
	gobin=$(go env GOPATH)/bin
	echo "cosign-interop: building cosign $COSIGN_VERSION from the Go module proxy into $gobin (several minutes)" >&2
	GOBIN="$gobin" go install "github.com/sigstore/cosign/v3/cmd/cosign@$COSIGN_VERSION"
	cosign="$gobin/cosign"
fi
"$cosign" version 2>/dev/null | grep -i gitversion || true

pk="$work/patchkit"
(cd "$root" && go build -o "$pk" ./cmd/patchkit)

cd "$work"
mkdir -p base/lib target/lib
echo "old library" > base/lib/libfoo.so
echo "new library, patched" > target/lib/libfoo.so
echo "added" > target/lib/extra
"$pk" create --base base --target target --component foo --base-version 1.0 \
	--label '1.1 (a)' --sequence 1 -o foo.pkb 2>/dev/null

export PATCHKIT_PASSWORD=interop COSIGN_PASSWORD=interop
fail=0
check() { # check NAME expect(accept|refuse) cosign-args...
	name=$1 expect=$2
	shift 2
	if "$cosign" verify-blob "$@" >"$work/out" 2>&1; then got=accept; else got=refuse; fi
	if [ "$got" = "$expect" ]; then
		echo "ok   $name: cosign ${got}s"
	else
		echo "FAIL $name: cosign ${got}s, want $expect"
		sed 's/^/     /' "$work/out"
		fail=1
	fi
}

for alg in ecdsa-p256 ed25519 rsa-3072; do
	"$pk" key generate --output-key-prefix "k-$alg" --algorithm "$alg" 2>/dev/null
	"$pk" sign foo.pkb --key "k-$alg.key" -o "foo-$alg.pkb" --signature-out "sig-$alg.json" 2>/dev/null
	"$pk" extract "foo-$alg.pkb" --manifest > manifest.json
	check "$alg patchkit signature" accept --key "k-$alg.pub" --bundle "sig-$alg.json" --insecure-ignore-tlog manifest.json
	sed 's/1.1 (a)/1.1 (b)/' manifest.json > modified.json
	check "$alg modified manifest" refuse --key "k-$alg.pub" --bundle "sig-$alg.json" --insecure-ignore-tlog modified.json
done

# A cosign-generated key signs with patchkit.
"$cosign" generate-key-pair --output-key-prefix cosign >/dev/null 2>&1
"$pk" sign foo.pkb --key cosign.key -o foo-cosign.pkb --signature-out sig-cosign.json 2>/dev/null
"$pk" extract foo-cosign.pkb --manifest > manifest.json
check "cosign key, patchkit signature" accept --key cosign.pub --bundle sig-cosign.json --insecure-ignore-tlog manifest.json
if "$pk" verify foo-cosign.pkb --key cosign.pub >/dev/null 2>&1; then
	echo "ok   cosign key: patchkit verify accepts"
else
	echo "FAIL cosign key: patchkit verify refuses"
	fail=1
fi

# A signature made by cosign over the manifest is attached with patchkit and accepted
# by patchkit verify.
"$pk" extract foo.pkb --manifest > manifest.json
if "$cosign" sign-blob --key cosign.key --bundle cosign-made.json --use-signing-config=false --tlog-upload=false --yes manifest.json >"$work/out" 2>&1 &&
	"$pk" sign foo.pkb --attach cosign-made.json -o foo-attached.pkb 2>/dev/null &&
	"$pk" verify foo-attached.pkb --key cosign.pub >/dev/null 2>&1; then
	echo "ok   cosign sign-blob signature: attached and accepted by patchkit verify"
else
	echo "FAIL cosign sign-blob signature not accepted by patchkit"
	sed 's/^/     /' "$work/out"
	fail=1
fi

exit $fail
