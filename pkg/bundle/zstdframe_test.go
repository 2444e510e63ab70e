package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdBundle is a bundle adding one file with content, stored as the given zstd payload.
func zstdBundle(t *testing.T, content, payload []byte) []byte {
	t.Helper()
	data, _, _ := testBundle(t)
	m, _ := payloadMembers(t, data)
	sum, psum := sha256.Sum256(content), sha256.Sum256(payload)
	zm := &Manifest{Format: FormatV1, ID: "frames-1", Label: "frames", Components: m.Components, Files: []File{{
		Component: m.Components[0].Name, Op: OpAdd, Path: "big",
		Target:  &Node{Type: TypeFile, Mode: "0644", Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])},
		Payload: &Payload{Codec: CodecZstd, Size: int64(len(payload)), SHA256: hex.EncodeToString(psum[:])},
	}}}
	return assemble(t, mustMarshal(t, zm), []rawMember{{"payloads/big.zst", payload}})
}

// The 8 MiB frame limit of docs/format.md is enforced on read (issue 13 item 12): a
// single 64 MiB frame was accepted, with the right size and digest.
func TestZstdFrameLimit(t *testing.T) {
	t.Parallel()
	content := make([]byte, 64<<20)
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(zstdChunk))
	if err != nil {
		t.Fatal(err)
	}
	one := enc.EncodeAll(content, nil) // one frame, content size 64 MiB in its header
	err = readAll(zstdBundle(t, content, one))
	if err == nil || !strings.Contains(err.Error(), "zstd frame 0: frame declares 67108864 bytes of content, more than the 8388608-byte frame limit") {
		t.Fatalf("64 MiB frame: %v", err)
	}
	// The same without a content size in the header (a streaming encoder's frame).
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf, zstd.WithWindowSize(zstdChunk), zstd.WithEncoderConcurrency(1))
	io.Copy(w, bytes.NewReader(content[:16<<20]))
	w.Close()
	err = readAll(zstdBundle(t, content[:16<<20], buf.Bytes()))
	if err == nil || !strings.Contains(err.Error(), "zstd frame 0: frame without a declared content size can decode to more than the 8388608-byte frame limit") {
		t.Fatalf("16 MiB frame without a content size: %v", err)
	}
	// What the writer makes (frames of 8 MiB) is read back.
	if err := readAll(zstdBundle(t, content[:20<<20], compressZstd(content[:20<<20]))); err != nil {
		t.Fatalf("8 MiB frames: %v", err)
	}
	// Skippable frames and garbage after a frame are refused.
	skip := append([]byte{0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0}, compressZstd([]byte("x"))...)
	if err := readAll(zstdBundle(t, []byte("x"), skip)); err == nil || !strings.Contains(err.Error(), "bad magic") {
		t.Fatalf("skippable frame: %v", err)
	}
}
