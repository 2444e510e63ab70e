package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/patchkit/patchkit/internal/atomicfile"
)

// ExtractResult counts what [Extract] wrote.
type ExtractResult struct {
	Files    int   `json:"files"`
	Dirs     int   `json:"dirs"`
	Symlinks int   `json:"symlinks"`
	Bytes    int64 `json:"bytes"`
	Deleted  int   `json:"deleted"` // paths the bundle deletes, not written
}

// NeedsBase reports whether producing m's target files needs the base tree: some file is
// a delta or keeps its base content with a new mode.
func (m *Manifest) NeedsBase() bool {
	for _, f := range m.Files {
		if f.Op == OpPatch || (f.Op == OpMode && f.Target.Type == TypeFile) {
			return true
		}
	}
	return false
}

// CheckBase checks every base node of m against the tree at root: type, symlink text,
// size and SHA-256 of regular files. It returns an error naming the first path that
// differs.
func CheckBase(m *Manifest, root string) error {
	for _, f := range m.Files {
		if f.Base == nil {
			continue
		}
		if err := checkNode(Path(root, f.Path), f.Base); err != nil {
			return &BaseError{Path: f.Path, Err: err}
		}
	}
	return nil
}

// BaseError reports that a tree is not the base a bundle applies to.
type BaseError struct {
	Path string
	Err  error
}

func (e *BaseError) Error() string { return fmt.Sprintf("base mismatch at %s: %v", e.Path, e.Err) }
func (e *BaseError) Unwrap() error { return e.Err }

func checkNode(p string, n *Node) error {
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("missing")
		}
		return err
	}
	switch n.Type {
	case TypeDir:
		if !fi.IsDir() {
			return fmt.Errorf("want a directory, found %v", fi.Mode().Type())
		}
	case TypeSymlink:
		if fi.Mode()&os.ModeSymlink == 0 {
			return fmt.Errorf("want a symlink, found %v", fi.Mode().Type())
		}
		link, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if link != n.Link {
			return fmt.Errorf("symlink points to %q, want %q", link, n.Link)
		}
	case TypeFile:
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("want a regular file, found %v", fi.Mode().Type())
		}
		if fi.Size() != n.Size {
			return fmt.Errorf("size %d, want %d", fi.Size(), n.Size)
		}
		sum, _, err := hashFile(p)
		if err != nil {
			return err
		}
		if sum != n.SHA256 {
			return errors.New("content digest differs")
		}
	}
	return nil
}

// ExtractOptions are the inputs of [Extract] besides the bundle and the output.
type ExtractOptions struct {
	// BaseDir is the base tree, needed when [Manifest.NeedsBase]; when given, every base
	// node is checked first.
	BaseDir string
	// Unauthenticated marks a bundle whose signatures were not verified, so its manifest
	// may lie: the total target size it declares must be at most MaxSize, and each
	// payload is read to a temporary file and checked by digest before a byte of it is
	// decoded, so a damaged payload stops the extract before any of its output is
	// written.
	Unauthenticated bool
	// MaxSize bounds the declared output of an unauthenticated bundle; 0 means
	// [DefaultExtractLimit] of BundleSize.
	MaxSize    int64
	BundleSize int64 // size of the bundle file, for the default limit
}

// ExtractLimitFactor is the multiple of the bundle size (and, for base files, of their
// size) an unauthenticated extract may write by default: generous for compressed
// binaries and text, small next to a decompression bomb.
const ExtractLimitFactor = 32

// DefaultExtractLimit is the default bound on the output of an unauthenticated bundle
// of bundleSize bytes whose checked base files hold baseSize bytes: ExtractLimitFactor
// times the bundle plus twice the base files (a delta's target is about its base's size).
func DefaultExtractLimit(bundleSize, baseSize int64) int64 {
	return ExtractLimitFactor*bundleSize + 2*baseSize
}

// ErrOutputTooLarge is matched (errors.Is) when an unauthenticated bundle declares more
// output than [ExtractOptions.MaxSize] allows.
var ErrOutputTooLarge = errors.New("declared output too large for an unauthenticated bundle")

// checkOutputSize applies the MaxSize rule of [ExtractOptions].
func checkOutputSize(m *Manifest, o *ExtractOptions) error {
	var out, base int64
	for _, f := range m.Files {
		if f.Target != nil && f.Target.Type == TypeFile && f.Op != OpPin {
			out += f.Target.Size
		}
		if f.Base != nil && f.Base.Type == TypeFile && o.BaseDir != "" {
			base += f.Base.Size // checked against the tree by CheckBase
		}
	}
	limit, how := o.MaxSize, "the limit"
	if limit <= 0 {
		limit = DefaultExtractLimit(o.BundleSize, base)
		how = fmt.Sprintf("the default limit (%d x the %d-byte bundle + 2 x %d bytes of base files)", ExtractLimitFactor, o.BundleSize, base)
	}
	if out > limit {
		return fmt.Errorf("%w: the manifest declares %d bytes of output, more than %s of %d bytes", ErrOutputTooLarge, out, how, limit)
	}
	return nil
}

// Extract reads the payloads of r and writes the target state of every path the bundle
// touches into a new directory out (which must not exist): regular files, directories and
// symlinks, with their modes. Deleted paths are counted, not written. Every payload and
// every produced file is checked against its digest; on any error nothing is left at out.
//
// No link is ever followed: out is filled through an [os.Root] (nothing can be created
// outside it), files are created O_EXCL|O_NOFOLLOW, a parent that is not a directory is
// refused, base files are opened O_NOFOLLOW below an os.Root of the base tree, and out
// appears by a rename that never replaces anything.
func Extract(ctx context.Context, r *Reader, out string, o *ExtractOptions) (*ExtractResult, error) {
	if o == nil {
		o = &ExtractOptions{}
	}
	m := r.Manifest()
	baseDir := o.BaseDir
	if baseDir == "" && m.NeedsBase() {
		return nil, errors.New("the bundle carries deltas or mode changes of base files: the base tree is needed")
	}
	var base *os.Root
	if baseDir != "" {
		if err := CheckBase(m, baseDir); err != nil {
			return nil, err
		}
		var err error
		if base, err = os.OpenRoot(baseDir); err != nil {
			return nil, err
		}
		defer base.Close()
	}
	if o.Unauthenticated {
		if err := checkOutputSize(m, o); err != nil {
			return nil, err
		}
	}
	d, err := atomicfile.CreateDir(out)
	if err != nil {
		return nil, err
	}
	defer d.Abort()
	root, err := os.OpenRoot(d.Path)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	x := &extractor{r: r, root: root, base: base}
	if o.Unauthenticated {
		x.spoolDir = filepath.Dir(filepath.Clean(out))
	}
	res := &ExtractResult{}
	var dirs []*File
	for i := range m.Files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f := &m.Files[i]
		t := f.Target
		if t == nil {
			res.Deleted++
			continue
		}
		if f.Op == OpPin {
			continue
		}
		dst := filepath.FromSlash(f.Path)
		if err := makeParents(root, f.Path); err != nil {
			return nil, err
		}
		switch t.Type {
		case TypeDir:
			if err := root.Mkdir(dst, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, err
			}
			if fi, err := root.Lstat(dst); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("%s: not a directory", f.Path)
			}
			dirs = append(dirs, f)
			res.Dirs++
		case TypeSymlink:
			if err := root.Symlink(t.Link, dst); err != nil {
				return nil, err
			}
			res.Symlinks++
		case TypeFile:
			if err := x.file(f, dst); err != nil {
				return nil, err
			}
			res.Files++
			res.Bytes += t.Size
		}
	}
	if _, err := r.Next(); err != io.EOF {
		if err == nil {
			err = errors.New("payload left over")
		}
		return nil, err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		mode, _ := ParseMode(dirs[i].Target.Mode)
		if err := root.Chmod(filepath.FromSlash(dirs[i].Path), osMode(mode)); err != nil {
			return nil, err
		}
	}
	if err := d.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// extractor writes the files of one [Extract].
type extractor struct {
	r        *Reader
	root     *os.Root // the output tree being filled
	base     *os.Root // the base tree, or nil
	spoolDir string   // unauthenticated: where payloads are checked before decoding
}

func (x *extractor) file(f *File, dst string) error {
	mode, _ := ParseMode(f.Target.Mode)
	out, err := x.root.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	var base *os.File
	if f.Base != nil && f.Base.Type == TypeFile && x.base != nil {
		if base, err = openRegularIn(x.base, filepath.FromSlash(f.Path)); err != nil {
			return &BaseError{Path: f.Path, Err: err}
		}
		defer base.Close()
	}
	if f.Payload == nil { // mode change: the base content with the new mode
		if base == nil {
			return fmt.Errorf("%s: the base file is needed", f.Path)
		}
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(out, h), base); err != nil {
			return err
		}
		if hex.EncodeToString(h.Sum(nil)) != f.Target.SHA256 {
			return &BaseError{Path: f.Path, Err: errors.New("content digest differs")}
		}
	} else {
		e, err := x.r.Next()
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("payload of %s is missing", f.Path)
			}
			return err
		}
		if e.File != f {
			return fmt.Errorf("payload order: got %s, want %s", e.File.Path, f.Path)
		}
		if x.spoolDir != "" {
			spool, err := os.CreateTemp(x.spoolDir, ".patchkit-payload-*")
			if err != nil {
				return err
			}
			os.Remove(spool.Name()) // unlinked: nothing is left behind whatever happens
			defer spool.Close()
			if err := e.spool(spool); err != nil {
				return err
			}
		}
		var ra io.ReaderAt
		if base != nil {
			ra = base
		}
		if err := e.Decode(out, ra); err != nil {
			return err
		}
	}
	if err := out.Chmod(osMode(mode)); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// makeParents creates the missing parent directories of p in root and refuses a parent
// that is not a real directory (such as a symlink made by an earlier entry).
func makeParents(root *os.Root, p string) error {
	parts := strings.Split(p, "/")
	cur := ""
	for _, c := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, c)
		fi, err := root.Lstat(cur)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := root.Mkdir(cur, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s: parent %s is not a directory", p, filepath.ToSlash(cur))
		}
	}
	return nil
}

// osMode converts manifest permission bits to an os.FileMode.
func osMode(perm uint32) os.FileMode {
	m := os.FileMode(perm & 0o777)
	if perm&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if perm&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if perm&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}
