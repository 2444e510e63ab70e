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

	"github.com/patchkit/patchkit/internal/atomicfile"
	"github.com/patchkit/patchkit/internal/safefs"
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

// CheckBase checks every base node of m against the tree at root: type, mode, symlink
// text, size and SHA-256 of regular files, with the checker apply uses
// (internal/safefs): a symlinked parent is refused, a FIFO or device is never opened.
// It returns an error naming the first path that differs.
func CheckBase(m *Manifest, root string) error {
	d, err := safefs.Open(root)
	if err != nil {
		return err
	}
	defer d.Close()
	for _, f := range m.Files {
		if f.Base == nil {
			continue
		}
		if err := d.Check(f.Path, (*safefs.Node)(f.Base)); err != nil {
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

// Extract reads the payloads of r and writes the target state of every path the bundle
// touches into a new directory out (which must not exist): regular files, directories and
// symlinks, with their modes. Deleted paths are counted, not written. baseDir is the base
// tree, needed when [Manifest.NeedsBase]; when given, every base node is checked first.
// Every payload and every produced file is checked against its digest; on any error
// nothing is left at out.
func Extract(ctx context.Context, r *Reader, baseDir, out string) (*ExtractResult, error) {
	m := r.Manifest()
	if baseDir == "" && m.NeedsBase() {
		return nil, errors.New("the bundle carries deltas or mode changes of base files: the base tree is needed")
	}
	if baseDir != "" {
		if err := CheckBase(m, baseDir); err != nil {
			return nil, err
		}
	}
	d, err := atomicfile.CreateDir(out)
	if err != nil {
		return nil, err
	}
	defer d.Abort()
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
		dst := Path(d.Path, f.Path)
		if err := makeParents(d.Path, f.Path); err != nil {
			return nil, err
		}
		switch t.Type {
		case TypeDir:
			if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, err
			}
			dirs = append(dirs, f)
			res.Dirs++
		case TypeSymlink:
			if err := os.Symlink(t.Link, dst); err != nil {
				return nil, err
			}
			res.Symlinks++
		case TypeFile:
			if err := extractFile(r, f, baseDir, dst); err != nil {
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
		if err := os.Chmod(Path(d.Path, dirs[i].Path), osMode(mode)); err != nil {
			return nil, err
		}
	}
	if err := d.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

func extractFile(r *Reader, f *File, baseDir, dst string) error {
	mode, _ := ParseMode(f.Target.Mode)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	var base *os.File
	if f.Base != nil && f.Base.Type == TypeFile && baseDir != "" {
		if base, err = safefs.OpenFile(baseDir, f.Path); err != nil {
			return err
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
		e, err := r.Next()
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("payload of %s is missing", f.Path)
			}
			return err
		}
		if e.File != f {
			return fmt.Errorf("payload order: got %s, want %s", e.File.Path, f.Path)
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

// makeParents creates the missing parent directories of p below root and refuses a
// parent that is not a real directory (such as a symlink made by an earlier entry).
func makeParents(root, p string) error {
	parts := strings.Split(p, "/")
	cur := root
	for _, c := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, c)
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s: parent %s is not a directory", p, strings.TrimPrefix(cur, root+string(filepath.Separator)))
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
