package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors from the generators")

// rawMember is one tar member to write verbatim.
type rawMember struct {
	name string
	data []byte
}

// payloadMembers returns the payload members of a valid bundle.
func payloadMembers(t testing.TB, data []byte) (*Manifest, []rawMember) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var ms []rawMember
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(e)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, rawMember{e.Member, b})
	}
	return r.Manifest(), ms
}

// assemble writes manifest bytes and members as a tar with our header encoding.
func assemble(t testing.TB, manifest []byte, members []rawMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tarWriter{w: &buf}
	if err := tw.member(ManifestMember, manifest); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if err := tw.member(m.name, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withManifest re-encodes a mutated copy of m (without validating it) in front of members.
func withManifest(t testing.TB, m *Manifest, mutate func(*Manifest), members []rawMember) []byte {
	t.Helper()
	var c Manifest
	b, _ := encodeCanonical(m)
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	mutate(&c)
	mb, err := encodeCanonical(&c)
	if err != nil {
		t.Fatal(err)
	}
	return assemble(t, mb, members)
}

func memberOffset(t testing.TB, data []byte, name string) int {
	t.Helper()
	i := bytes.Index(data, []byte(name[max(0, len(name)-90):]+"\x00"))
	if i < 0 {
		t.Fatalf("member %s not found", name)
	}
	return i - i%blockSize
}

// vectors returns every test vector: name → (bytes, expected outcome: "ok" or an error
// substring).
func vectors(t testing.TB) map[string][2]string {
	data, _, _ := testBundle(t)
	m, members := payloadMembers(t, data)
	first := memberOffset(t, data, members[0].name)
	last := memberOffset(t, data, members[len(members)-1].name)
	flip := func(off int) []byte {
		b := bytes.Clone(data)
		b[off] ^= 0x20
		return b
	}
	setPath := func(p string) func(*Manifest) {
		return func(m *Manifest) { m.Files[1].Path = p }
	}
	v := map[string][2]string{
		"ok":                   {string(data), "ok"},
		"truncated":            {string(data[:last+blockSize+10]), "file is truncated"},
		"truncated-in-header":  {string(data[:first+100]), "file is truncated"},
		"payload-byte-flipped": {string(flip(first + blockSize + 3)), "payload digest mismatch"},
		"header-byte-flipped":  {string(flip(first + 2)), "header is not in canonical form"},
		"header-size-flipped":  {string(flip(first + 130)), "bundle member"},
		"appended":             {string(append(bytes.Clone(data), 'x')), "trailing data after the end-of-archive marker"},
		"padded-block":         {string(append(bytes.Clone(data), make([]byte, blockSize)...)), "trailing data"},
		"padding-not-zero":     {string(flip(first + blockSize + len(members[0].data))), "padding is not zero"},
		"no-end-marker":        {string(data[:len(data)-2*blockSize]), "end of archive: file is truncated"},
		"half-end-marker":      {string(data[:len(data)-blockSize]), "end-of-archive marker: file is truncated"},
		"empty-file":           {"", "file is truncated"},
		"unknown-member":       {string(assemble(t, mustMarshal(t, m), append(append([]rawMember{}, members...), rawMember{"extra.txt", []byte("x")}))), `"extra.txt": unexpected member`},
		"two-manifests":        {string(assemble(t, mustMarshal(t, m), append([]rawMember{{ManifestMember, mustMarshal(t, m)}}, members...))), `"manifest.json": unexpected member`},
		"signature-out-of-order": {string(assemble(t, mustMarshal(t, m), append([]rawMember{{"signatures/02.sigstore.json", []byte("{}")}}, members...))),
			"unexpected signature member"},
		"payloads-reordered": {string(assemble(t, mustMarshal(t, m), append([]rawMember{members[1], members[0]}, members[2:]...))), "unexpected member, want"},
		"payload-missing":    {string(assemble(t, mustMarshal(t, m), members[1:])), "unexpected member, want"},
		"duplicate-path": {string(withManifest(t, m, func(m *Manifest) {
			m.Files = append(m.Files[:2], m.Files[1:]...)
		}, members)), "listed twice"},
		"unsorted-paths": {string(withManifest(t, m, func(m *Manifest) {
			m.Files[0], m.Files[1] = m.Files[1], m.Files[0]
		}, members)), "files are not sorted"},
		"absolute-path":    {string(withManifest(t, m, setPath("/etc/passwd"), members)), "is absolute"},
		"dotdot-path":      {string(withManifest(t, m, setPath("lib/../../etc/passwd"), members)), `".." component`},
		"empty-component":  {string(withManifest(t, m, setPath("lib//data.txt"), members)), "empty component"},
		"backslash-path":   {string(withManifest(t, m, setPath(`lib\data.txt`), members)), "backslash"},
		"unknown-format":   {string(withManifest(t, m, func(m *Manifest) { m.Format = "patchkit.bundle/v2" }, members)), "unsupported manifest format"},
		"unknown-codec":    {string(withManifest(t, m, func(m *Manifest) { m.Files[1].Payload.Codec = "lzma" }, members)), "unknown payload codec"},
		"unknown-op":       {string(withManifest(t, m, func(m *Manifest) { m.Files[1].Op = "chown" }, members)), "unknown op"},
		"symlink-escape":   {string(withManifest(t, m, symlinkTo("../../../etc/shadow"), members)), "ok"}, // link text is data
		"symlink-absolute": {string(withManifest(t, m, symlinkTo("/etc/shadow"), members)), "ok"},
		"manifest-unknown-field": {string(assemble(t, bytes.Replace(mustMarshal(t, m), []byte(`{"advisories"`), []byte(`{"aardvark":1,"advisories"`), 1), members)),
			"unknown field"},
		"manifest-not-canonical": {string(assemble(t, append(mustMarshal(t, m), ' '), members)), "canonical form"},
		"manifest-too-large":     {string(hugeManifestHeader(t)), "more than the limit"},
		"manifest-invalid-utf8":  {string(assemble(t, bytes.Replace(mustMarshal(t, m), []byte("1.1 (a)"), []byte("1.1 \xff(a)"), 1), members)), "UTF-8"},
		"decompression-bomb":     {string(bomb(t, m)), "more bytes than the manifest declares"},
		"not-a-tar":              {strings.Repeat("PK\x03\x04 this is a zip file", 40), "bad size field"},
	}
	return v
}

func symlinkTo(link string) func(*Manifest) {
	return func(m *Manifest) {
		for i := range m.Files {
			if m.Files[i].Op == OpLink {
				m.Files[i].Target.Link = link
			}
		}
	}
}

func mustMarshal(t testing.TB, m *Manifest) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hugeManifestHeader is a manifest header declaring more than maxManifestSize bytes.
func hugeManifestHeader(t testing.TB) []byte {
	h, err := encodeHeader(ManifestMember, maxManifestSize+1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return append(h, make([]byte, blockSize)...)
}

// bomb is a bundle whose one payload decompresses to far more than its declared size.
func bomb(t testing.TB, m *Manifest) []byte {
	payload := compressZstd(make([]byte, 8<<20))
	psum := sha256.Sum256(payload)
	small := sha256.Sum256(make([]byte, 10))
	bm := &Manifest{Format: FormatV1, ID: "bomb-1", Label: "bomb", Components: m.Components, Files: []File{{
		Component: m.Components[0].Name, Op: OpAdd, Path: "zeros",
		Target:  &Node{Type: TypeFile, Mode: "0644", Size: 10, SHA256: hex.EncodeToString(small[:])},
		Payload: &Payload{Codec: CodecZstd, Size: int64(len(payload)), SHA256: hex.EncodeToString(psum[:])},
	}}}
	return assemble(t, mustMarshal(t, bm), []rawMember{{"payloads/zeros.zst", payload}})
}

func TestVectors(t *testing.T) {
	dir := filepath.Join("testdata", "vectors")
	if *update {
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
		for name, v := range vectors(t) {
			os.WriteFile(filepath.Join(dir, name+".pkb"), []byte(v[0]), 0o644)
			os.WriteFile(filepath.Join(dir, name+".want"), []byte(v[1]+"\n"), 0o644)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.pkb"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors in %s (run go test -run TestVectors -update): %v", dir, err)
	}
	sort.Strings(files)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pkb")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			w, err := os.ReadFile(strings.TrimSuffix(f, ".pkb") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(w))
			err = readAll(data)
			switch {
			case want == "ok" && err != nil:
				t.Fatalf("want ok, got %v", err)
			case want != "ok" && err == nil:
				t.Fatalf("accepted; want error %q", want)
			case want != "ok" && !strings.Contains(err.Error(), want):
				t.Fatalf("got %q, want it to contain %q", err, want)
			}
		})
	}
}
