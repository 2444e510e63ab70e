package bundle

import (
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/patchkit/patchkit/pkg/delta"
)

// Payload codecs.
const (
	// CodecZstd is the full target content as a sequence of independent zstd frames, each
	// holding at most zstdChunk bytes, so both cores compress and memory stays bounded.
	CodecZstd = "zstd"
	// CodecDelta is a binary delta against the base file (docs/delta.md).
	CodecDelta = delta.Codec
)

const zstdChunk = 8 << 20

type codec struct {
	ext   string // payload member name suffix
	delta bool   // needs the base file
}

var codecs = map[string]codec{
	CodecZstd:  {ext: "zst"},
	CodecDelta: {ext: "pkd", delta: true},
}

var (
	encOnce sync.Once
	encoder *zstd.Encoder
)

func zstdEncoder() *zstd.Encoder {
	encOnce.Do(func() {
		var err error
		encoder, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedBestCompression),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithWindowSize(zstdChunk),
			zstd.WithEncoderCRC(false), // the manifest's sha256 covers every byte
		)
		if err != nil {
			panic(err)
		}
	})
	return encoder
}

// compressZstd encodes data as CodecZstd. Chunks are compressed in parallel; the result
// depends only on data, never on the number of cores.
func compressZstd(data []byte) []byte {
	enc := zstdEncoder()
	n := (len(data) + zstdChunk - 1) / zstdChunk
	if n <= 1 {
		return enc.EncodeAll(data, nil)
	}
	parts := make([][]byte, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			end := min((i+1)*zstdChunk, len(data))
			parts[i] = enc.EncodeAll(data[i*zstdChunk:end], nil)
		}()
	}
	wg.Wait()
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var errTooLong = errors.New("payload decodes to more bytes than the manifest declares")

// decodeZstd writes the content of a CodecZstd payload to w, refusing to produce more
// than size bytes, frames of more than a chunk, or windows larger than a chunk
// (decodeZstdFrames, zstdframe.go).
func decodeZstd(w io.Writer, raw io.Reader, size int64) error {
	return decodeZstdFrames(w, raw, size)
}
