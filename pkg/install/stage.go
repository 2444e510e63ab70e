package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"sort"

	"github.com/patchkit/patchkit/pkg/bundle"
	"golang.org/x/sys/unix"
)

// Staging: every new file is decoded and digest-checked, and every new symlink made,
// in the state directory's staging area; every file the transition overwrites or
// deletes, and every base file of the new bundle, goes to the object store.

// contentSource opens a file with the given content digest, checked, from the object
// store or the tree.
type contentSource func(sha string) (*os.File, error)

// content opens the content sha: a kept object is re-hashed before it is used (the
// store is input); a tree file was hashed by the check and is hashed again by whoever
// copies or decodes it.
func (t *Target) content(sha string, inTree map[string]string) (*os.File, error) {
	obj := path.Join(objectsDir, sha)
	f, err := t.state.Open(obj)
	if err == nil {
		if err = checkDigest(f, sha); err == nil {
			return f, nil
		}
		f.Close()
		err = &StateError{File: obj, Err: err}
	}
	if p, ok := inTree[sha]; ok {
		return t.root.Open(p) // a damaged object is not needed: the tree has the content
	}
	if _, isState := err.(*StateError); isState {
		return nil, err
	}
	return nil, &StateError{File: objectsDir, Err: fmt.Errorf("content %s is neither kept in %s nor in the tree", short(sha), path.Join(t.stateDir, objectsDir))}
}

// checkDigest hashes f and rewinds it.
func checkDigest(f *os.File, sha string) error {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != sha {
		return fmt.Errorf("content digest differs from its name")
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// keepObjects copies every listed content into the object store if it is not there.
func (t *Target) keepObjects(ctx context.Context, keep map[string]bool, src contentSource) error {
	shas := make([]string, 0, len(keep))
	for s := range keep {
		shas = append(shas, s)
	}
	sort.Strings(shas)
	for _, sha := range shas {
		if err := ctx.Err(); err != nil {
			return err
		}
		obj := path.Join(objectsDir, sha)
		if f, err := t.state.Open(obj); err == nil {
			err = checkDigest(f, sha)
			f.Close()
			if err == nil {
				continue
			}
		}
		// Absent, or damaged or planted (a link, a directory, other content): replaced.
		if err := t.state.RemoveAll(obj); err != nil {
			return err
		}
		in, err := src(sha)
		if err != nil {
			return err
		}
		tmp := path.Join(objectsDir, ".tmp-"+sha)
		t.state.Remove(tmp, false)
		err = t.copyChecked(tmp, in, sha, 0o400, nil)
		in.Close()
		if err != nil {
			return fmt.Errorf("keeping base content: %w", err)
		}
		if err := rename(t.state, tmp, t.state, obj); err != nil {
			return err
		}
		t.step("object kept")
	}
	return t.state.SyncDir(objectsDir)
}

// copyChecked writes in to the new file p of the state directory (O_EXCL), checks its
// digest, gives it owner and perm (in that order: chown clears setuid) and syncs it.
func (t *Target) copyChecked(p string, in io.Reader, sha string, perm uint32, owner *Owner) error {
	out, err := t.state.Create(p)
	if err != nil {
		return err
	}
	defer out.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(limitWriter(out), h), in); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != sha {
		return fmt.Errorf("content of %s changed while it was copied", short(sha))
	}
	return finishFile(out, perm, owner)
}

func finishFile(f *os.File, perm uint32, owner *Owner) error {
	if owner != nil {
		if err := unix.Fchown(int(f.Fd()), int(owner.UID), int(owner.GID)); err != nil {
			return fmt.Errorf("keeping the owner of %s: %w", f.Name(), err)
		}
	}
	if err := unix.Fchmod(int(f.Fd()), perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// stageEntry decodes a payload into the staged file name for step s.
func (t *Target) stageEntry(e *bundle.Entry, s *step, name string, src contentSource) error {
	var base io.ReaderAt
	if b := e.File.Base; b != nil && b.Type == bundle.TypeFile && e.File.Op == bundle.OpPatch {
		bf, err := src(b.SHA256)
		if err != nil {
			return err
		}
		defer bf.Close()
		base = bf
	}
	out, err := t.state.Create(name)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := e.Decode(limitWriter(out), base); err != nil {
		return err
	}
	mode, _ := bundle.ParseMode(s.To.Mode)
	if err := finishFile(out, mode, s.Owner); err != nil {
		return err
	}
	t.step("staged " + s.Path)
	return nil
}

// stageNode makes the staged file or symlink p holding n, file contents from src.
func (t *Target) stageNode(p string, n *bundle.Node, owner *Owner, src contentSource) error {
	t.state.Remove(p, false)
	if n.Type == bundle.TypeSymlink {
		if err := t.state.Symlink(n.Link, p); err != nil {
			return err
		}
		if owner != nil {
			if err := t.state.Lchown(p, int(owner.UID), int(owner.GID)); err != nil {
				return err
			}
		}
		t.step("staged symlink")
		return nil
	}
	in, err := src(n.SHA256)
	if err != nil {
		return err
	}
	defer in.Close()
	mode, _ := bundle.ParseMode(n.Mode)
	if err := t.copyChecked(p, in, n.SHA256, mode, owner); err != nil {
		return err
	}
	t.step("staged file")
	return nil
}

// stage fills the staging directory of transaction tx for steps: the payloads of r,
// then copies of kept or present content; and keeps what a rollback or a later remove
// needs in the object store.
func (t *Target) stage(ctx context.Context, tx string, steps []step, next *Install, r *bundle.Reader, inTree map[string]string) error {
	src := contentSource(func(sha string) (*os.File, error) { return t.content(sha, inTree) })
	if r != nil {
		if err := t.keepManifest(r.ManifestBytes()); err != nil {
			return err
		}
	}
	// Every file this transition overwrites or deletes, and every base file of next.
	keep := map[string]bool{}
	for _, s := range steps {
		if s.From != nil && s.From.Type == bundle.TypeFile {
			keep[s.From.SHA256] = true
		}
	}
	if next != nil {
		for _, c := range next.Paths {
			if c.Base != nil && c.Base.Type == bundle.TypeFile {
				keep[c.Base.SHA256] = true
			}
		}
	}
	if err := t.keepObjects(ctx, keep, src); err != nil {
		return err
	}
	stageIdx := map[string]int{}
	for i := range steps {
		stageIdx[steps[i].Path] = i
	}
	staged := make([]bool, len(steps))
	// Payloads come in manifest order; decode each into its staged file.
	for r != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		i, ok := stageIdx[e.File.Path]
		if !ok || !sameNode(steps[i].To, e.File.Target) {
			// Not switched (same as now): the payload is still read and checked.
			if _, err := io.Copy(io.Discard, e); err != nil {
				return err
			}
			continue
		}
		if err := t.stageEntry(e, &steps[i], stageName(tx, i, false), src); err != nil {
			return err
		}
		staged[i] = true
	}
	for i := range steps {
		s := &steps[i]
		if s.To == nil || s.To.Type == bundle.TypeDir || staged[i] {
			continue
		}
		if err := t.stageNode(stageName(tx, i, false), s.To, s.Owner, src); err != nil {
			return fmt.Errorf("staging %s: %w", s.Path, err)
		}
	}
	return t.state.SyncDir(path.Join(stagingDir, tx))
}
