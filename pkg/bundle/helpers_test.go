package bundle

// Helpers that build hostile bundles for the tests of this package. The threat-model
// vectors themselves are testdata/vectors at the top of the repository
// (internal/vectorgen).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
)

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
	payload := compressZstd(make([]byte, 8<<20), -1)
	psum := sha256.Sum256(payload)
	small := sha256.Sum256(make([]byte, 10))
	bm := &Manifest{Format: FormatV1, ID: "bomb-1", Label: "bomb", Components: m.Components, Files: []File{{
		Component: m.Components[0].Name, Op: OpAdd, Path: "zeros",
		Target:  &Node{Type: TypeFile, Mode: "0644", Size: 10, SHA256: hex.EncodeToString(small[:])},
		Payload: &Payload{Codec: CodecZstd, Size: int64(len(payload)), SHA256: hex.EncodeToString(psum[:])},
	}}}
	return assemble(t, mustMarshal(t, bm), []rawMember{{"payloads/zeros.zst", payload}})
}
