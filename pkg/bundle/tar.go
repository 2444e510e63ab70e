package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The container is a strict subset of POSIX ustar that this file writes and reads itself:
// every header is produced by [encodeHeader] from (name, size, mtime) alone, and the
// reader re-encodes the header it expects and compares all 512 bytes, so there is exactly
// one valid encoding of each member and no room for PAX records, GNU extensions, links,
// owners or modes that other tar readers would interpret differently.

const (
	blockSize     = 512
	maxMemberName = 255 // ustar prefix (155) + "/" + name (100), when split at a slash
)

var zeroBlock [blockSize]byte

// splitName splits a member name into the ustar prefix and name fields.
func splitName(name string) (prefix, base string, ok bool) {
	if len(name) <= 100 {
		return "", name, true
	}
	if len(name) > maxMemberName {
		return "", "", false
	}
	// The prefix takes as much as fits; the rest must fit in name.
	for i := min(len(name)-1, 155); i > 0; i-- {
		if name[i] == '/' && len(name)-i-1 <= 100 && len(name)-i-1 > 0 {
			return name[:i], name[i+1:], true
		}
	}
	return "", "", false
}

func putOctal(b []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	pad := len(b) - 1 - len(s)
	for i := 0; i < pad; i++ {
		b[i] = '0'
	}
	copy(b[pad:], s)
	b[len(b)-1] = 0
}

// encodeHeader returns the one header patchkit writes for a regular-file member.
func encodeHeader(name string, size, mtime int64) ([]byte, error) {
	prefix, base, ok := splitName(name)
	if !ok {
		return nil, fmt.Errorf("member name %q does not fit a ustar header", name)
	}
	if size < 0 || size >= 1<<33 {
		return nil, fmt.Errorf("member %q: size %d does not fit a ustar header", name, size)
	}
	if mtime < 0 || mtime >= 1<<33 {
		return nil, fmt.Errorf("member %q: mtime %d does not fit a ustar header", name, mtime)
	}
	h := make([]byte, blockSize)
	copy(h[0:100], base)
	putOctal(h[100:108], 0o644) // mode
	putOctal(h[108:116], 0)     // uid
	putOctal(h[116:124], 0)     // gid
	putOctal(h[124:136], size)
	putOctal(h[136:148], mtime)
	h[156] = '0' // regular file
	copy(h[257:263], "ustar\x00")
	copy(h[263:265], "00")
	copy(h[265:297], "root")
	copy(h[297:329], "root")
	putOctal(h[329:337], 0) // devmajor
	putOctal(h[337:345], 0) // devminor
	copy(h[345:500], prefix)
	// Checksum: the sum of all bytes with the checksum field as spaces.
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	putOctal(h[148:155], sum)
	h[155] = ' '
	return h, nil
}

// parseHeader extracts name, size and mtime from a header well enough to re-encode it;
// validity is decided by comparing the re-encoding with the original bytes.
func parseHeader(h []byte) (name string, size, mtime int64, err error) {
	cstr := func(b []byte) string {
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return string(b)
	}
	num := func(b []byte) (int64, error) {
		s := strings.TrimRight(cstr(b), " ")
		return strconv.ParseInt(s, 8, 64)
	}
	name = cstr(h[0:100])
	if p := cstr(h[345:500]); p != "" {
		name = p + "/" + name
	}
	if size, err = num(h[124:136]); err != nil {
		return "", 0, 0, errors.New("bad size field")
	}
	if mtime, err = num(h[136:148]); err != nil {
		return "", 0, 0, errors.New("bad mtime field")
	}
	want, err := encodeHeader(name, size, mtime)
	if err != nil {
		return "", 0, 0, err
	}
	if !bytes.Equal(want, h) {
		return "", 0, 0, errors.New("header is not in canonical form (or is damaged)")
	}
	return name, size, mtime, nil
}

// tarWriter writes members and the end-of-archive marker.
type tarWriter struct {
	w     io.Writer
	mtime int64
}

func (t *tarWriter) header(name string, size int64) error {
	h, err := encodeHeader(name, size, t.mtime)
	if err != nil {
		return err
	}
	_, err = t.w.Write(h)
	return err
}

func (t *tarWriter) pad(size int64) error {
	if n := size % blockSize; n != 0 {
		_, err := t.w.Write(zeroBlock[:blockSize-n])
		return err
	}
	return nil
}

func (t *tarWriter) member(name string, data []byte) error {
	if err := t.header(name, int64(len(data))); err != nil {
		return err
	}
	if _, err := t.w.Write(data); err != nil {
		return err
	}
	return t.pad(int64(len(data)))
}

func (t *tarWriter) close() error {
	_, err := t.w.Write(append(zeroBlock[:], zeroBlock[:]...))
	return err
}

// tarReader reads the members written by tarWriter, refusing anything else.
type tarReader struct {
	r         io.Reader
	remaining int64 // unread bytes of the current member
	padding   int64
	member    string
}

// next reads the next header. It returns io.EOF at a valid end-of-archive marker (two
// zero blocks followed by the end of the input).
func (t *tarReader) next() (name string, size, mtime int64, err error) {
	if t.remaining > 0 {
		return "", 0, 0, fmt.Errorf("member %q not fully read", t.member)
	}
	if err := t.skipPadding(); err != nil {
		return "", 0, 0, err
	}
	h := make([]byte, blockSize)
	if _, err := io.ReadFull(t.r, h); err != nil {
		return "", 0, 0, truncated(err)
	}
	if bytes.Equal(h, zeroBlock[:]) {
		if _, err := io.ReadFull(t.r, h); err != nil {
			return "", 0, 0, fmt.Errorf("end-of-archive marker: %w", truncated(err))
		}
		if !bytes.Equal(h, zeroBlock[:]) {
			return "", 0, 0, errors.New("end-of-archive marker is damaged")
		}
		var one [1]byte
		if n, _ := io.ReadFull(t.r, one[:]); n != 0 {
			return "", 0, 0, errors.New("trailing data after the end-of-archive marker")
		}
		return "", 0, 0, io.EOF
	}
	name, size, mtime, err = parseHeader(h)
	if err != nil {
		return "", 0, 0, err
	}
	t.member, t.remaining = name, size
	t.padding = (blockSize - size%blockSize) % blockSize
	return name, size, mtime, nil
}

func (t *tarReader) skipPadding() error {
	if t.padding == 0 {
		return nil
	}
	buf := make([]byte, t.padding)
	if _, err := io.ReadFull(t.r, buf); err != nil {
		return &Error{Member: t.member, Err: fmt.Errorf("padding: %w", truncated(err))}
	}
	t.padding = 0
	if !bytes.Equal(buf, zeroBlock[:len(buf)]) {
		return &Error{Member: t.member, Err: errors.New("padding is not zero")}
	}
	return nil
}

// Read reads the current member's data.
func (t *tarReader) Read(p []byte) (int, error) {
	if t.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > t.remaining {
		p = p[:t.remaining]
	}
	n, err := t.r.Read(p)
	t.remaining -= int64(n)
	if err == io.EOF && t.remaining > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("file is truncated")
	}
	return err
}
