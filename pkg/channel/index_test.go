package channel

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

func testKey(t testing.TB) (*sign.Key, *verify.Policy) {
	t.Helper()
	priv, err := sign.GenerateKey("ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	k, err := sign.NewKey("k", priv)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := sign.Fingerprint(k.Public())
	return k, &verify.Policy{Keys: []verify.TrustedKey{{Name: "k", Public: k.Public(), Fingerprint: fp}}}
}

func sampleIndex() *Index {
	h := "sha256:" + strings.Repeat("ab", 32)
	return &Index{
		Channel: "patchkit/libfoo:stable", Sequence: 3,
		Issued: "2026-12-01T00:00:00Z", Expires: "2026-12-02T00:00:00Z",
		Bundles: []Entry{{BaseVersion: "1.0-1", Blob: Blob{Digest: h, MediaType: MediaTypeBundle, Size: 10},
			Component: "libfoo", Digest: h, ID: "libfoo-1", Label: "(a)", Sequence: 1, Status: StatusCurrent}},
		Releases: []Release{{Component: "libfoo", Version: "1.0-1", Files: []PathNode{{Path: "usr/lib/libfoo.so.1", Node: &bundle.Node{Type: "file", Mode: "0644", SHA256: strings.Repeat("cd", 32), Size: 3}}}}},
	}
}

func signIndex(t testing.TB, k *sign.Key, doc []byte) []byte {
	t.Helper()
	sigs, err := sign.Signatures(context.Background(), doc, nil, []sign.Signer{k})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := MarshalSignedIndex(doc, sigs)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseIndex(t *testing.T) {
	t.Parallel()
	k, p := testKey(t)
	other, _ := testKey(t)
	doc, err := MarshalIndex(sampleIndex())
	if err != nil {
		t.Fatal(err)
	}
	good := signIndex(t, k, doc)
	if v, err := ParseIndex(good, p); err != nil || v.Sequence != 3 || v.Tag() != "stable" {
		t.Fatalf("good index: %v %+v", err, v)
	}
	mutate := func(f func(ix *Index)) []byte {
		ix := sampleIndex()
		f(ix)
		b, err := json.Marshal(ix) // not validated: what a hostile publisher could sign
		if err != nil {
			t.Fatal(err)
		}
		return signIndex(t, k, b)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		kind string
		msg  string
	}{
		{"untrusted signer", signIndex(t, other, doc), KindUntrusted, "0 distinct trusted signer"},
		{"no signature", func() []byte { b, _ := MarshalSignedIndex(doc, nil); return b }(), KindUntrusted, "0 distinct trusted signer"},
		{"unknown field", []byte(strings.Replace(string(good), `"type": "patchkit.signed-channel-index/v1"`, `"type": "patchkit.signed-channel-index/v1", "x": 1`, 1)), KindIntegrity, "unknown field"},
		{"trailing data", append(append([]byte{}, good...), "{}"...), KindIntegrity, "data after"},
		{"not canonical", signIndex(t, k, append([]byte(" "), doc...)), KindIntegrity, "canonical"},
		{"unsorted", mutate(func(ix *Index) {
			e := ix.Bundles[0]
			e.Digest, e.Sequence, e.Status = "sha256:"+strings.Repeat("01", 32), 2, StatusSuperseded
			ix.Bundles = append([]Entry{e}, ix.Bundles...)
			ix.Type = IndexType
		}), KindIntegrity, "canonical"},
		{"two current", mutate(func(ix *Index) {
			e := ix.Bundles[0]
			e.Digest, e.Sequence = "sha256:"+strings.Repeat("ff", 32), 2
			ix.Bundles = append(ix.Bundles, e)
			ix.Type = IndexType
		}), KindIntegrity, "two current"},
		{"no base identity", mutate(func(ix *Index) { ix.Releases = []Release{}; ix.Type = IndexType }), KindIntegrity, "no release identity"},
		{"bad blob type", mutate(func(ix *Index) { ix.Bundles[0].Blob.MediaType = "text/html"; ix.Type = IndexType }), KindIntegrity, "media type"},
		{"huge blob", mutate(func(ix *Index) { ix.Bundles[0].Blob.Size = 1 << 40; ix.Type = IndexType }), KindIntegrity, "out of range"},
		{"path traversal", mutate(func(ix *Index) { ix.Releases[0].Files[0].Path = "../etc/passwd"; ix.Type = IndexType }), KindIntegrity, "release 0"},
		{"expires before issued", mutate(func(ix *Index) { ix.Expires = "2026-11-01T00:00:00Z"; ix.Type = IndexType }), KindIntegrity, "expires before"},
		{"bad channel", mutate(func(ix *Index) { ix.Channel = "Stable"; ix.Type = IndexType }), KindIntegrity, "REPOSITORY:TAG"},
		{"wrong type", mutate(func(ix *Index) { ix.Type = "patchkit.recall/v1" }), KindIntegrity, "index type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIndex(tc.raw, p)
			var ce *Error
			if !errors.As(err, &ce) || ce.Kind != tc.kind || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want kind %s with %q", err, tc.kind, tc.msg)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	v := &Verified{Index: sampleIndex(), Digest: "sha256:" + strings.Repeat("11", 32)}
	ref := Ref{Repo: "r.example/patchkit/libfoo", Tag: "stable"}
	at, _ := time.Parse(time.RFC3339, "2026-12-01T12:00:00Z")
	for _, tc := range []struct {
		name string
		ref  Ref
		at   time.Time
		seen *Seen
		kind string
	}{
		{"fresh", ref, at, nil, ""},
		{"same again", ref, at, &Seen{Sequence: 3, Digest: v.Digest}, ""},
		{"newer", ref, at, &Seen{Sequence: 2, Digest: "x"}, ""},
		{"expired", ref, at.Add(24 * time.Hour), nil, KindStale},
		{"at expiry", ref, at.Add(12 * time.Hour), nil, KindStale},
		{"rolled back", ref, at, &Seen{Sequence: 4, Digest: "x"}, KindRollback},
		{"same sequence, other index", ref, at, &Seen{Sequence: 3, Digest: "x"}, KindRollback},
		{"other channel", Ref{Repo: ref.Repo, Tag: "beta"}, at, nil, KindIntegrity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(v, tc.ref, tc.at, tc.seen)
			var ce *Error
			switch {
			case tc.kind == "" && err != nil:
				t.Fatal(err)
			case tc.kind != "" && (!errors.As(err, &ce) || ce.Kind != tc.kind):
				t.Fatalf("got %v, want kind %s", err, tc.kind)
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, name string
		bad            bool
	}{
		{in: "127.0.0.1:5000/patchkit/libssl3:stable", want: "127.0.0.1:5000/patchkit/libssl3:stable", name: "patchkit/libssl3:stable"},
		{in: "ghcr.io/acme/fixes@sha256:" + strings.Repeat("a", 64), want: "ghcr.io/acme/fixes@sha256:" + strings.Repeat("a", 64)},
		{in: "oci:/srv/Mirror:stable", want: "oci:/srv/Mirror:stable", name: "mirror:stable"},
		{in: "oci:rel/dir@sha256:" + strings.Repeat("b", 64), want: "oci:rel/dir@sha256:" + strings.Repeat("b", 64)},
		{in: "ghcr.io/acme/fixes", bad: true},
		{in: "oci:/srv/mirror", bad: true},
		{in: "oci::stable", bad: true},
		{in: "ghcr.io/acme/fixes:bad tag", bad: true},
	} {
		r, err := ParseRef(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: accepted as %+v", tc.in, r)
			}
			continue
		}
		if err != nil || r.String() != tc.want || (tc.name != "" && r.name() != tc.name) {
			t.Errorf("%s: %+v %v (name %q)", tc.in, r, err, r.name())
		}
	}
}

func FuzzParseIndex(f *testing.F) {
	k, p := testKey(f)
	doc, err := MarshalIndex(sampleIndex())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signIndex(f, k, doc))
	f.Add([]byte(`{"document":"{}","signatures":[],"type":"patchkit.signed-channel-index/v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseIndex(b, p)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the document it came from.
		again, err := MarshalIndex(v.Index)
		if err != nil || bundle.Digest(again) != v.Digest {
			t.Fatalf("accepted index does not round-trip: %v", err)
		}
	})
}
