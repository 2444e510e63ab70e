package bundle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// The zstd codec stores content as frames of at most zstdChunk bytes each (docs/format.md
// §4). The reader enforces that per frame: it splits the payload into frames by their
// headers and block headers and refuses a frame that declares more than zstdChunk bytes
// of content (the decoder checks it decodes to exactly what it declares), one without a
// declared size whose blocks could decode to more (each compressed block counts as
// zstd's 128 KiB maximum), and one stored in more than maxZstdFrame bytes. Memory is
// bounded by one stored frame and the decoder's window.

const (
	zstdMagic       = 0xFD2FB528
	maxZstdBlock    = 128 << 10 // zstd's Block_Maximum_Size
	maxZstdFrame    = zstdChunk + zstdChunk/64
	zstdBlockHeader = 3
)

// decodeZstdFrames writes the content of a CodecZstd payload to w, refusing to produce
// more than size bytes in all. Every frame must declare its content size, at most
// zstdChunk bytes ([readZstdFrame]); the decoder checks that each frame decodes to
// exactly what it declares.
func decodeZstdFrames(w io.Writer, raw io.Reader, size int64) error {
	dec, err := zstd.NewReader(&frameSource{r: raw},
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdChunk),
		zstd.WithDecoderMaxMemory(zstdChunk*2),
	)
	if err != nil {
		return err
	}
	defer dec.Close()
	n, err := io.Copy(w, io.LimitReader(dec, size))
	if err != nil {
		return fmt.Errorf("decompressing: %w", err)
	}
	if n < size {
		return fmt.Errorf("payload decodes to %d bytes, the manifest declares %d", n, size)
	}
	var one [1]byte
	if m, err := dec.Read(one[:]); m > 0 {
		return errTooLong
	} else if err != nil && err != io.EOF {
		return fmt.Errorf("decompressing: %w", err)
	}
	return nil
}

// frameSource yields the bytes of r one checked frame at a time ([readZstdFrame]).
type frameSource struct {
	r     io.Reader
	frame []byte
	off   int
	n     int
	err   error
}

func (s *frameSource) Read(p []byte) (int, error) {
	for s.off == len(s.frame) {
		if s.err != nil {
			return 0, s.err
		}
		s.frame, s.err = readZstdFrame(s.r, s.frame[:0])
		if s.err != nil && s.err != io.EOF {
			s.err = fmt.Errorf("zstd frame %d: %w", s.n, s.err)
		}
		s.off = 0
		s.n++
	}
	n := copy(p, s.frame[s.off:])
	s.off += n
	return n, nil
}

// readZstdFrame appends the next whole zstd frame of r to buf; io.EOF when r ends
// between frames. Skippable frames, reserved bits and block types, a declared content
// size over zstdChunk and a stored frame over maxZstdFrame are refused.
func readZstdFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("truncated frame header: %w", err)
	}
	if binary.LittleEndian.Uint32(hdr[:4]) != zstdMagic {
		return nil, errors.New("not a zstd frame (bad magic number)")
	}
	if _, err := io.ReadFull(r, hdr[4:5]); err != nil {
		return nil, fmt.Errorf("truncated frame header: %w", err)
	}
	fhd := hdr[4]
	if fhd&0x08 != 0 {
		return nil, errors.New("reserved frame header bit set")
	}
	single := fhd&0x20 != 0
	fcsLen := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcsLen == 0 && single {
		fcsLen = 1
	}
	rest := [4]int{0, 1, 2, 4}[fhd&3] + fcsLen
	if !single {
		rest++ // window descriptor
	}
	buf = append(buf, hdr[:]...)
	start := len(buf)
	buf = append(buf, make([]byte, rest)...)
	if _, err := io.ReadFull(r, buf[start:]); err != nil {
		return nil, fmt.Errorf("truncated frame header: %w", unexpected(err))
	}
	if fcsLen > 0 {
		var b [8]byte
		copy(b[:], buf[len(buf)-fcsLen:])
		fcs := binary.LittleEndian.Uint64(b[:])
		if fcsLen == 2 {
			fcs += 256
		}
		if fcs > zstdChunk {
			return nil, fmt.Errorf("frame declares %d bytes of content, more than the %d-byte frame limit", fcs, zstdChunk)
		}
	}
	var bound int // without a content size: the most the blocks can decode to
	for {
		var bh [zstdBlockHeader]byte
		if _, err := io.ReadFull(r, bh[:]); err != nil {
			return nil, fmt.Errorf("truncated block header: %w", unexpected(err))
		}
		v := uint32(bh[0]) | uint32(bh[1])<<8 | uint32(bh[2])<<16
		last, typ, bsize := v&1 != 0, (v>>1)&3, int(v>>3)
		stored := bsize
		switch {
		case typ == 3:
			return nil, errors.New("reserved block type")
		case bsize > maxZstdBlock:
			return nil, fmt.Errorf("block of %d bytes, more than %d", bsize, maxZstdBlock)
		case typ == 1: // RLE: one byte repeated bsize times
			stored = 1
		}
		if typ == 2 {
			bound += maxZstdBlock
		} else {
			bound += bsize
		}
		if fcsLen == 0 && bound > zstdChunk {
			return nil, fmt.Errorf("frame without a declared content size can decode to more than the %d-byte frame limit", zstdChunk)
		}
		if len(buf)+zstdBlockHeader+stored > maxZstdFrame {
			return nil, fmt.Errorf("stored frame larger than %d bytes", maxZstdFrame)
		}
		buf = append(buf, bh[:]...)
		start := len(buf)
		buf = append(buf, make([]byte, stored)...)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return nil, fmt.Errorf("truncated block: %w", unexpected(err))
		}
		if last {
			break
		}
	}
	if fhd&0x04 != 0 { // content checksum
		start := len(buf)
		buf = append(buf, 0, 0, 0, 0)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return nil, fmt.Errorf("truncated checksum: %w", unexpected(err))
		}
	}
	return buf, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
