// Package gitops is gearshift's only door to git: it opens the state repo
// (a local checkout as-is, or a URL cloned shallowly into a cache and fetched
// on later runs), decides whether a ref may be deployed to an environment,
// lists the tags of remote repositories and picks the newest release among
// them (semver, or a unit's track.tagPattern, in state.CompareVersions
// order), commits edited files to a branch and pushes it, and keeps the
// status record on a branch of the state repo.
//
// Everything is done in-process with go-git; no shell is involved and the
// git binary is not started (except by go-git itself for file:// remotes).
// Commits are built from objects (blobs, trees, a commit) on top of a known
// commit, so committing never touches the user's working tree or index.
//
// Every function that talks to a remote takes a context and bounds the call
// with its own timeout when the context has none that is shorter.
//
// What this package must never do:
//   - print, log or return a token: Auth masks itself when formatted, tokens
//     are taken out of URLs before go-git sees them (so they are never
//     written to .git/config), and every error that may carry a URL or a
//     secret is redacted before it leaves the package;
//   - send a token over plain HTTP to anything but a loopback address;
//   - send a token to a host the state names: Auth's token goes to
//     Auth.Hosts only (the state repository's host, which Open adds and
//     Auth.ForRepo passes on, GitHub's, GEARSHIFT_GIT_TOKEN_HOSTS), a
//     token in a URL's userinfo to that URL only;
//   - push with another credential than the clone's: a URL checkout
//     pushes back with what it was cloned with;
//   - deploy from a ref an environment does not declare (RefAllowed);
//   - overwrite someone else's status commit: status pushes are
//     compare-and-swap and are retried on top of the new tip.
package gitops
