package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addVectorSeeds(f *testing.F, manifestOnly bool) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "vectors", "*.pkb"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if manifestOnly {
			if r, err := NewReader(bytes.NewReader(data)); err == nil {
				f.Add(r.ManifestBytes())
			}
			continue
		}
		if len(data) < 1<<20 {
			f.Add(data)
		}
	}
}

// FuzzReader: no input makes the reader panic or accept a payload whose digest differs
// from the manifest's. What it accepts whole round-trips (the Writer, given the
// manifest, signatures and payloads read, writes the same bytes), and flipping a byte of
// one of its payloads makes the reader refuse it with a digest mismatch.
func FuzzReader(f *testing.F) {
	addVectorSeeds(f, false)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := readBundle(t, data)
		if err != nil {
			return
		}
		var out bytes.Buffer
		w, err := NewWriter(&out, b.manifest, b.sigs)
		if err != nil {
			t.Fatalf("accepted bundle does not re-encode: %v", err)
		}
		for _, p := range b.payloads {
			if err := w.WritePayload(bytes.NewReader(p)); err != nil {
				t.Fatalf("accepted payload does not re-encode: %v", err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("accepted bundle is not the canonical encoding of what was read")
		}
		for i, off := range b.offsets {
			if len(b.payloads[i]) == 0 {
				continue
			}
			bad := bytes.Clone(data)
			bad[off+len(b.payloads[i])/2] ^= 0x01
			if _, err := readBundle(t, bad); err == nil || !strings.Contains(err.Error(), "payload digest mismatch") {
				t.Fatalf("payload %d with a flipped byte: got %v, want a digest mismatch", i, err)
			}
			break
		}
	})
}

// readResult is what the reader yields from a bundle.
type readResult struct {
	manifest []byte
	sigs     [][]byte
	payloads [][]byte
	offsets  []int // where each payload's bytes start in the file
}

// readBundle reads a whole bundle, decoding its zstd payloads, and fails t when the
// reader hands out a payload that does not match the manifest's size and digest.
func readBundle(t *testing.T, data []byte) (*readResult, error) {
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	res := &readResult{manifest: r.ManifestBytes()}
	off := blockSize + padded(len(res.manifest))
	for _, s := range r.Signatures() {
		res.sigs = append(res.sigs, s.Data)
		off += blockSize + padded(len(s.Data))
	}
	for {
		e, err := r.Next()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return nil, err
		}
		p, err := io.ReadAll(e)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(p)
		if int64(len(p)) != e.File.Payload.Size || hex.EncodeToString(sum[:]) != e.File.Payload.SHA256 {
			t.Fatalf("%s: the reader accepted a payload that does not match the manifest", e.Member)
		}
		if c := codecs[e.File.Payload.Codec]; !c.delta {
			if err := c.decode(io.Discard, bytes.NewReader(p), nil, 0, e.File.Target.Size); err != nil {
				return nil, err
			}
		}
		res.payloads = append(res.payloads, p)
		res.offsets = append(res.offsets, off+blockSize)
		off += blockSize + padded(len(p))
	}
}

func padded(n int) int { return (n + blockSize - 1) / blockSize * blockSize }

// FuzzManifest: whatever ParseManifest accepts is valid and re-encodes to the same bytes.
func FuzzManifest(f *testing.F) {
	addVectorSeeds(f, true)
	f.Add([]byte(`{"components":[],"files":[],"format":"patchkit.bundle/v1","id":"a","label":"b","sequence":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		again, err := m.Marshal()
		if err != nil {
			t.Fatalf("accepted manifest does not re-encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted manifest is not canonical:\n%q\n%q", data, again)
		}
	})
}
