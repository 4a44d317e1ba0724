// Package artifact fetches the release artifacts that units are deployed from
// (the tarballs of the tsd-import story, the archived releases GeneNetwork
// rolls back to) and unpacks them for a driver to install.
//
// An artifact source comes from the state repo, and an archive comes from
// whatever server that source names: both are untrusted input. The package
// therefore downloads through a go-getter client that only knows the getters
// gearshift means to use (HTTP(S), git, and local files only when the caller
// allows them), verifies the archive's sha256 itself, and unpacks .tar,
// .tar.gz/.tgz and .zip archives with its own code rather than go-getter's
// decompressors, which were seen to turn a hostile symlink entry silently
// into an empty file.
//
// What the package must never do:
//
//   - write outside the destination it was given: entries that are absolute,
//     contain "..", or would land outside the destination after cleaning are
//     refused, and all writes go through an os.Root of a private staging
//     directory that is renamed into place only when everything succeeded;
//   - create or follow symlinks, hard links or device files from an archive:
//     such entries are refused, not skipped or flattened;
//   - run anything from an artifact (the git getter runs the git binary to
//     clone, nothing else is ever executed), or keep setuid, setgid or sticky
//     bits on what it unpacks;
//   - accept more than the configured bytes downloaded, files unpacked or bytes
//     unpacked (1 GiB by default), or unpack more than the free space of the
//     destination's filesystem less a reserve, so that a decompression bomb
//     fails early and cleanly and never fills a disk;
//   - print a credential: sources are shown with their userinfo and secret
//     query parameters (token=, access_token=, ...) masked, and the same values
//     are masked in errors that come from the libraries underneath.
package artifact
