package bundle

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// oneFrame encodes data as a single zstd frame with an 8 MiB window, as a hostile
// writer could.
func oneFrame(t *testing.T, data []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(zstdChunk), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

// TestCodecsRoundTrip: every codec in the table decodes what it encodes, to exactly the
// declared size, and refuses a smaller declared size.
func TestCodecsRoundTrip(t *testing.T) {
	t.Parallel()
	base := make([]byte, 300<<10)
	rand.Read(base)
	target := bytes.Clone(base)
	copy(target[1000:], "a fix")
	target = append(target, bytes.Repeat([]byte("x"), zstdChunk)...) // two frames for zstd
	for name, c := range codecs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var b []byte
			if c.delta {
				b = base
			}
			payload, err := c.encode(b, target, -1)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := c.decode(&out, bytes.NewReader(payload), bytes.NewReader(base), int64(len(base)), int64(len(target))); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), target) {
				t.Fatal("decoded content differs")
			}
			if err := c.decode(io.Discard, bytes.NewReader(payload), bytes.NewReader(base), int64(len(base)), int64(len(target)-1)); err == nil {
				t.Fatal("decoded more than the declared size without an error")
			}
		})
	}
}

// TestZstdLimit: the full content compressed within a limit is the same bytes as without
// one when it fits, and nil when it does not, whether it stops early or at the end.
func TestZstdLimit(t *testing.T) {
	t.Parallel()
	data := make([]byte, 5*zstdChunk/2) // three frames
	for i := 0; i < len(data); i += 4096 {
		rand.Read(data[i : i+64])
	}
	full := compressZstd(data, -1)
	for _, limit := range []int{len(full), len(full) + 1, 1 << 30} {
		if got := compressZstd(data, limit); !bytes.Equal(got, full) {
			t.Errorf("limit %d: %d bytes, want the %d unlimited", limit, len(got), len(full))
		}
	}
	for _, limit := range []int{len(full) - 1, len(full) / 2, 0} {
		if got := compressZstd(data, limit); got != nil {
			t.Errorf("limit %d: %d bytes, want nil", limit, len(got))
		}
	}
	one := data[:1000]
	if got := compressZstd(one, len(compressZstd(one, -1))-1); got != nil {
		t.Errorf("one frame over its limit: %d bytes, want nil", len(got))
	}
}

func TestZstdFrames(t *testing.T) {
	t.Parallel()
	exact := make([]byte, zstdChunk)
	rand.Read(exact[:1000])
	skippable := binary.LittleEndian.AppendUint32(nil, 0x184D2A50)
	skippable = binary.LittleEndian.AppendUint32(skippable, 0)
	frame := oneFrame(t, []byte("hello"))
	for _, tc := range []struct {
		name    string
		payload []byte
		size    int64
		want    string // "" for success
	}{
		{"empty", nil, 0, ""},
		{"exactly one chunk in one frame", oneFrame(t, exact), zstdChunk, ""},
		{"64 MiB frame", oneFrame(t, make([]byte, 64<<20)), 64 << 20, "holds more than 8388608 bytes"},
		{"chunk+1 frame", oneFrame(t, make([]byte, zstdChunk+1)), zstdChunk + 1, "holds more than 8388608 bytes"},
		{"bomb", oneFrame(t, make([]byte, 1<<20)), 10, "more bytes than the manifest declares"},
		{"short", frame, 6, "decodes to 5 bytes, the manifest declares 6"},
		{"skippable frame", append(skippable, frame...), 5, "skippable frame"},
		{"garbage after the frame", append(bytes.Clone(frame), 1, 2), 5, "truncated"},
		{"truncated frame", frame[:len(frame)-1], 5, "truncated"},
		{"not zstd", []byte("PK\x03\x04...."), 5, "bad magic"},
		{"dictionary", append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x07}, frame[5:]...), 5, "dictionaries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeZstd(io.Discard, bytes.NewReader(tc.payload), tc.size)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
