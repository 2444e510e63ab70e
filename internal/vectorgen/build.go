package vectorgen

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/patchkit/patchkit/internal/canonjson"
	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

// keyNames are the committed keys: two release keys the policies trust, one untrusted
// key, and an Ed25519 and an RSA key for the key-confusion vectors.
var keyNames = []struct{ name, alg string }{
	{"release1", sign.ECDSAP256},
	{"release2", sign.ECDSAP256},
	{"untrusted", sign.ECDSAP256},
	{"confusion-" + sign.Ed25519, sign.Ed25519},
	{"confusion-" + sign.RSA3072, sign.RSA3072},
}

// gen holds what the vectors are built from. Its methods panic on errors of the
// generator itself (never on the hostile content they build); Generate recovers them.
type gen struct {
	dir                 string
	tmp                 string
	base, target, other string
	keys                map[string]*sign.Key

	valid    []byte // the unsigned valid bundle
	manifest []byte // its manifest
	m        *bundle.Manifest
	payloads [][]byte // its raw payload members, in order
}

func newGen(dir string) (*gen, error) {
	tmp, err := os.MkdirTemp("", "vectorgen-")
	if err != nil {
		return nil, err
	}
	g := &gen{dir: dir, tmp: tmp, keys: map[string]*sign.Key{}}
	if g.base, g.target, g.other, err = Trees(tmp); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := g.loadKeys(); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return g, nil
}

func pass(bool) ([]byte, error) { return []byte(Password), nil }

// loadKeys loads the committed keys, creating the missing ones.
func (g *gen) loadKeys() error {
	if err := os.MkdirAll(filepath.Join(g.dir, "keys"), 0o755); err != nil {
		return err
	}
	for _, k := range keyNames {
		path := filepath.Join(g.dir, "keys", k.name+".key")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if _, err := sign.WriteKeyPair(filepath.Join(g.dir, "keys", k.name), k.alg, pass); err != nil {
				return err
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		priv, err := sign.ParsePrivateKey(data, pass)
		if err != nil {
			return fmt.Errorf("key %s: %w", path, err)
		}
		if ec, ok := priv.(*ecdsa.PrivateKey); ok {
			priv = rfc6979{ec}
		}
		if g.keys[k.name], err = sign.NewKey(k.name, priv); err != nil {
			return err
		}
	}
	return nil
}

// rfc6979 signs deterministically (Ed25519 and PKCS #1 v1.5 RSA already do), so that
// generating the vectors twice gives the same bytes.
type rfc6979 struct{ *ecdsa.PrivateKey }

func (k rfc6979) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.PrivateKey.Sign(nil, digest, opts)
}

func check(err error) {
	if err != nil {
		panic(genError{err})
	}
}

type genError struct{ err error }

// create makes a bundle of baseDir and the target tree with options changed by mutate.
func (g *gen) create(baseDir string, mutate func(*bundle.CreateOptions)) []byte {
	o := &bundle.CreateOptions{
		Label: "1.0 (a)", Sequence: 7, Created: created, Advisories: []string{"CVE-2026-0001"},
		Components: []bundle.Source{{Name: "demo", BaseVersion: "1.0-1", BaseDir: baseDir, TargetDir: g.target}},
	}
	if mutate != nil {
		mutate(o)
	}
	var buf bytes.Buffer
	_, err := bundle.Create(context.Background(), &buf, o)
	check(err)
	return buf.Bytes()
}

// parts splits a valid bundle into its manifest and raw payloads.
func parts(data []byte) ([]byte, [][]byte) {
	r, err := bundle.NewReader(bytes.NewReader(data))
	check(err)
	var payloads [][]byte
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		check(err)
		b, err := io.ReadAll(e)
		check(err)
		payloads = append(payloads, b)
	}
	return r.ManifestBytes(), payloads
}

// sign returns one signature over data by each named key.
func (g *gen) sign(data []byte, keys ...string) [][]byte {
	var out [][]byte
	for _, k := range keys {
		s, err := g.keys[k].Sign(context.Background(), data)
		check(err)
		out = append(out, s)
	}
	return out
}

// member is one raw archive member.
type member struct {
	name string
	data []byte
}

// assemble writes members in the canonical encoding, with the end marker.
func assemble(members []member) []byte {
	var buf bytes.Buffer
	for _, m := range members {
		check(bundle.WriteMember(&buf, m.name, m.data, created))
	}
	check(bundle.WriteEnd(&buf))
	return buf.Bytes()
}

// offset returns where member i starts in assemble(members).
func offset(members []member, i int) int {
	off := 0
	for _, m := range members[:i] {
		off += 512 + (len(m.data)+511)/512*512
	}
	return off
}

// layout returns the members of a bundle with this manifest, signatures and payloads;
// payload members are named after the manifest's files when it parses.
func layout(manifest []byte, sigs, payloads [][]byte) []member {
	var names []string
	if m, err := bundle.ParseManifest(manifest); err == nil {
		for i := range m.Files {
			if m.Files[i].Payload != nil {
				names = append(names, bundle.PayloadMember(&m.Files[i]))
			}
		}
	}
	ms := []member{{bundle.ManifestMember, manifest}}
	for i, s := range sigs {
		ms = append(ms, member{bundle.SignatureMember(i), s})
	}
	for i, p := range payloads {
		name := fmt.Sprintf("payloads/%d", i)
		if i < len(names) {
			name = names[i]
		}
		ms = append(ms, member{name, p})
	}
	return ms
}

// signedBy assembles manifest, signed by release1, with payloads.
func (g *gen) signedBy(manifest []byte, payloads [][]byte) []byte {
	return assemble(layout(manifest, g.sign(manifest, "release1"), payloads))
}

// mutateJSON edits manifest JSON generically (without validating the result) and
// re-encodes it canonically: encoding/json sorts map keys, as the manifest's declared
// field order does.
func mutateJSON(mb []byte, mutate func(map[string]any)) []byte {
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(mb))
	d.UseNumber()
	check(d.Decode(&v))
	mutate(v)
	out, err := canonjson.Marshal(v)
	check(err)
	return out
}

// files returns the manifest's file entries of a decoded manifest.
func files(v map[string]any) []any { return v["files"].([]any) }

func fileEntry(v map[string]any, i int) map[string]any { return files(v)[i].(map[string]any) }

// replaceOnce replaces the first from in b, failing when from is not there.
func replaceOnce(b []byte, from, to string) []byte {
	out := bytes.Replace(b, []byte(from), []byte(to), 1)
	if bytes.Equal(out, b) {
		check(fmt.Errorf("mutation %q did not apply", from))
	}
	return out
}

// policies writes policy.yaml (1 of release1, release2), policy-2of2.yaml and the
// recall list signed by both keys that names recalled.
func (g *gen) policies(recalled string) {
	doc, err := verify.MarshalRecallDocument(&verify.RecallDocument{
		Sequence: 1, Issued: "2026-05-01T00:00:00Z", NotAfter: "2027-05-01T00:00:00Z",
		Entries: []verify.RecallEntry{{Digest: recalled, Reason: "breaks logins"}},
	})
	check(err)
	list, err := verify.MarshalSignedRecall(doc, g.sign(doc, "release1", "release2"))
	check(err)
	check(os.WriteFile(filepath.Join(g.dir, "recall.json"), list, 0o644))
	policy := func(threshold int) string {
		return fmt.Sprintf(`# Trust policy of the threat-model vectors.
type: patchkit.policy/v1
keys:
  - {name: release1, path: keys/release1.pub}
  - {name: release2, path: keys/release2.pub}
threshold: %d
components: [demo]
base_versions: {demo: ["1.0-1"]}
min_sequence: {demo: 5}
recall_lists: [recall.json]
`, threshold)
	}
	check(os.WriteFile(filepath.Join(g.dir, "policy.yaml"), []byte(policy(1)), 0o644))
	check(os.WriteFile(filepath.Join(g.dir, "policy-2of2.yaml"), []byte(policy(2)), 0o644))
}
