// Package forge is gearshift's door to the code forge: it opens or updates
// the pull requests that bump and promote versions, and keeps one sticky
// comment per plan on a pull request.
//
// GitHub is reached through go-github, which ships a new major version
// nearly every month; only github.go imports it, and the rest of gearshift
// sees the small Forge interface, so a major bump touches one file.
//
// The package must never edit a comment that gearshift's own identity did
// not write (GitHub.Identity), whatever marker it starts with.
//
// The package must never print, log or return a token: tokens go into the
// Authorization header and nowhere else, errors are scrubbed of the token
// before they are returned, redirects to another host are refused so the
// header is never replayed to a stranger, and a base URL carrying
// credentials is rejected. Every request runs under a timeout derived from
// the caller's context. Bodies longer than GitHub accepts are truncated at
// a line boundary, with a note, instead of being refused.
//
// The package githubtest holds the one fake of this project: an in-process
// HTTP server that answers the REST endpoints used here the way GitHub does.
package forge
