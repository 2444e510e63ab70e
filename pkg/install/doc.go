// Package install applies, removes and audits patchkit bundles on a target tree.
//
// # Transitions
//
// Every change to the tree is a transition from one recorded state to another: apply
// (base → target), supersede (installed (a)'s target → (b)'s target, one transition,
// only within one component and base version), remove (target → base). A transition
// runs in this order, one file per phase:
//
//  1. verify (apply.go): the caller's [VerifyFunc] checks signatures, policy, expiry,
//     recall and the sequence floor recorded in the state; nothing happens before it
//     passes, also when the bundle is already installed;
//  2. check (plan.go): every path the transition touches is compared with what it must
//     be now (type, mode, symlink text, size and SHA-256); parents must be real
//     directories, never symlinks (see [PathError]); paths of the installed bundle that
//     no longer hold what it installed are refused together ([DriftError]);
//  3. stage (stage.go): every new file is decoded and digest-checked, and every new
//     symlink made, in the state directory's staging area on the same filesystem, with
//     the owner of the path it replaces; the content of every file the transition
//     overwrites or deletes goes to the object store, the signed manifest beside it;
//  4. journal, switch (switch.go): the list of steps and the state to commit are
//     written and synced; then renames and removals, children before parents when
//     deleting, parents before children when creating, directory modes last; then
//     every path is proven by digest and owner;
//  5. commit: the new state is written atomically (the commit point), the journal is
//     removed and unneeded staging and objects are deleted.
//
// [Target.Retire] drops a bundle's state without touching the tree, for a tree a full
// release was laid over; [Target.Check] reports drift and classifies it.
//
// # Recovery
//
// [Open] (open.go) takes the lock and looks for a journal. With none, leftovers of an
// interrupted staging are deleted: the tree was never touched. With one whose
// transition the state already records, only the cleanup is redone. Otherwise the
// switch is completed (each step is idempotent: a staged file still present has not
// been renamed yet), or, if completing fails or a rollback had begun, rolled back to
// the recorded state from the object store. Either way the tree ends exactly at the
// old or the new state, proven by digest, and the state says which.
//
// # The state directory is input
//
// The tree and its state directory may have been changed by anyone since patchkit
// wrote them (validate.go). Documents are parsed strictly and bounded; every installed
// bundle must agree with its kept signed manifest; a journal must describe exactly
// the transition from the committed state to its own; kept objects are re-hashed
// before use and staged files are checked before they are renamed; nothing under the
// root or the state directory is reached through a symlink (internal/safefs). A state
// that breaks a rule is refused with a [StateError] and nothing is touched.
package install
