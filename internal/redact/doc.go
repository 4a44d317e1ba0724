// Package redact replaces secret values by "***" in what gearshift writes.
//
// A Redactor is built once per run (internal/cli) from every value gearshift
// holds as a secret: the tokens it reads from its environment, the password
// of a --repo URL, and anything a later step adds. It is applied at the
// sinks, where bytes leave gearshift: the command's stdout and stderr (a
// Writer that also catches a secret split across two writes), the journal,
// status records and their commits, GitHub API request bodies (Transport),
// the step summary, outputs and annotations. The sinks find it through the
// context (NewContext, FromContext) so that packages owned by others need
// one line each, not a new parameter threaded through every signature.
//
// Besides each secret verbatim, its common encodings are redacted: as it
// appears inside a JSON string, URL-escaped, and inside any base64 text
// (standard and URL alphabets, at each of the three byte alignments), which
// covers the "Authorization: Basic base64(x-access-token:TOKEN)" header git
// sends. Values shorter than MinLen bytes are ignored: masking "x" or "git"
// would destroy output and reveal nothing worth hiding.
//
// A nil *Redactor is valid and redacts nothing, so callers need not check.
//
// What this package must never do: log, print or return a secret (the
// Redactor's String method masks itself), or change bytes that hold no
// secret.
package redact
