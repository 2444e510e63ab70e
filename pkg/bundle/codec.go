package bundle

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

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

// zstdChunk is the most content one zstd frame holds, and its largest window. Writers
// cut larger files into frames of this size; the reader refuses bigger frames.
const zstdChunk = 8 << 20

// A payloadCodec turns a file's target content into a payload and back. Adding a codec
// means implementing this and adding it to [codecs]: the manifest check, member names,
// [Create] and [Entry.Decode] all go through that one table, and refuse names not in it.
type payloadCodec interface {
	// encode returns the payload of target; base is the base file's content for a delta
	// codec and nil otherwise. It may return nil, having stopped early, when the payload
	// would be longer than limit bytes (limit < 0: no limit).
	encode(base, target []byte, limit int) ([]byte, error)
	// decode writes the target content, which the manifest says is size bytes, from
	// payload to w; base (of baseSize bytes) is the base file for a delta codec. It must
	// fail rather than write more than size bytes, and hold bounded memory whatever the
	// payload says.
	decode(w io.Writer, payload io.Reader, base io.ReaderAt, baseSize, size int64) error
}

// codecSpec is one row of the codec table.
type codecSpec struct {
	ext   string // payload member name suffix
	delta bool   // the payload is relative to the base file (op patch)
	payloadCodec
}

// codecs is every payload codec of the format, by the name the manifest uses.
var codecs = map[string]codecSpec{
	CodecZstd:  {"zst", false, zstdCodec{}},
	CodecDelta: {"pkd", true, deltaCodec{}},
}

// The codecs Create writes: the full content, and a delta when it is smaller.
const (
	createFull  = CodecZstd
	createDelta = CodecDelta
)

// deltaCodec is CodecDelta: package delta's patches.
type deltaCodec struct{}

func (deltaCodec) encode(base, target []byte, _ int) ([]byte, error) { return delta.Diff(base, target) }

func (deltaCodec) decode(w io.Writer, payload io.Reader, base io.ReaderAt, baseSize, size int64) error {
	return delta.Apply(w, base, baseSize, payload, size)
}

// zstdCodec is CodecZstd.
type zstdCodec struct{}

func (zstdCodec) encode(_, target []byte, limit int) ([]byte, error) {
	return compressZstd(target, limit), nil
}

func (zstdCodec) decode(w io.Writer, payload io.Reader, _ io.ReaderAt, _, size int64) error {
	return decodeZstd(w, payload, size)
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

// compressZstd encodes data as CodecZstd, or returns nil if that is longer than limit
// bytes (limit < 0: no limit). Chunks are compressed in parallel, in order, and none is
// started once those done exceed limit: Create compares a browser's full content with
// its delta, and stops about halfway. The result depends only on data and limit, never
// on the number of cores.
func compressZstd(data []byte, limit int) []byte {
	fits := func(size int64) bool { return limit < 0 || size <= int64(limit) }
	enc := zstdEncoder()
	n := (len(data) + zstdChunk - 1) / zstdChunk
	if n <= 1 {
		out := enc.EncodeAll(data, nil)
		if !fits(int64(len(out))) {
			return nil
		}
		return out
	}
	parts := make([][]byte, n)
	var done atomic.Int64 // bytes of the parts compressed
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range parts {
		sem <- struct{}{}
		if !fits(done.Load()) {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			end := min((i+1)*zstdChunk, len(data))
			parts[i] = enc.EncodeAll(data[i*zstdChunk:end], nil)
			done.Add(int64(len(parts[i])))
		})
	}
	wg.Wait()
	if !fits(done.Load()) {
		return nil
	}
	out := make([]byte, 0, done.Load())
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var errTooLong = errors.New("payload decodes to more bytes than the manifest declares")

// decodeZstd writes the content of a CodecZstd payload to w, refusing to produce more
// than size bytes, frames of more than zstdChunk bytes (content or window), dictionaries
// and skippable frames. Each frame is decoded whole, so memory stays below two chunks.
func decodeZstd(w io.Writer, raw io.Reader, size int64) error {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(zstdChunk),
		zstd.WithDecoderMaxMemory(zstdChunk),
	)
	if err != nil {
		return err
	}
	defer dec.Close()
	br := bufio.NewReaderSize(raw, 64<<10)
	var frame, out []byte
	var n int64
	for i := 0; ; i++ {
		frame, err = readZstdFrame(br, frame[:0])
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("zstd frame %d: %w", i, err)
		}
		out, err = dec.DecodeAll(frame, out[:0])
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return fmt.Errorf("zstd frame %d holds more than %d bytes", i, zstdChunk)
		}
		if err != nil {
			return fmt.Errorf("decompressing: %w", err)
		}
		if len(out) > zstdChunk {
			return fmt.Errorf("zstd frame %d holds more than %d bytes", i, zstdChunk)
		}
		if n+int64(len(out)) > size {
			return errTooLong
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
		n += int64(len(out))
	}
	if n < size {
		return fmt.Errorf("payload decodes to %d bytes, the manifest declares %d", n, size)
	}
	return nil
}

// maxZstdFrame bounds the compressed size of one frame: a chunk stored raw, plus block
// headers and slack. Only a hostile frame (say, of empty blocks) is longer.
const maxZstdFrame = zstdChunk + 1<<16

// readZstdFrame appends the next zstd frame of r to buf (RFC 8878, section 3.1.1),
// walking its block headers to find where it ends. It returns io.EOF at the clean end
// of the input.
func readZstdFrame(r io.Reader, buf []byte) ([]byte, error) {
	start := len(buf)
	read := func(n int) ([]byte, error) {
		if len(buf)-start+n > maxZstdFrame {
			return nil, fmt.Errorf("more than %d bytes compressed", maxZstdFrame)
		}
		buf = append(buf, make([]byte, n)...)
		if _, err := io.ReadFull(r, buf[len(buf)-n:]); err != nil {
			return nil, err
		}
		return buf[len(buf)-n:], nil
	}
	magic, err := read(4)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, truncatedFrame(err)
	}
	switch m := binary.LittleEndian.Uint32(magic); {
	case m&0xFFFFFFF0 == 0x184D2A50:
		return nil, errors.New("skippable frame")
	case m != 0xFD2FB528:
		return nil, fmt.Errorf("bad magic %#08x", m)
	}
	fhd, err := read(1)
	if err != nil {
		return nil, truncatedFrame(err)
	}
	d := fhd[0]
	single, checksum, dictFlag := d>>5&1 == 1, d>>2&1 == 1, d&3
	if dictFlag != 0 {
		return nil, errors.New("dictionaries are not allowed")
	}
	hdr := []int{0, 2, 4, 8}[d>>6]
	if hdr == 0 && single {
		hdr = 1
	}
	if !single {
		hdr++ // window descriptor
	}
	if _, err := read(hdr); err != nil {
		return nil, truncatedFrame(err)
	}
	for {
		bh, err := read(3)
		if err != nil {
			return nil, truncatedFrame(err)
		}
		h := uint32(bh[0]) | uint32(bh[1])<<8 | uint32(bh[2])<<16
		size := int(h >> 3)
		switch h >> 1 & 3 {
		case 1: // RLE: one byte, repeated size times
			size = 1
		case 3:
			return nil, errors.New("reserved block type")
		}
		if _, err := read(size); err != nil {
			return nil, truncatedFrame(err)
		}
		if h&1 == 1 {
			break
		}
	}
	if checksum {
		if _, err := read(4); err != nil {
			return nil, truncatedFrame(err)
		}
	}
	return buf, nil
}

func truncatedFrame(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("truncated")
	}
	return err
}
