package forge

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxBodyLength is the longest body GitHub accepts for a pull request or an
// issue comment. GitHub counts characters; Truncate counts bytes, which are
// never fewer, so a truncated body fits however GitHub counts.
const MaxBodyLength = 65536

// MaxTitleLength is the longest title GitHub accepts for a pull request or
// an issue, in characters (422 beyond).
const MaxTitleLength = 256

// TruncateTitle returns title unchanged if it has at most MaxTitleLength
// characters, and otherwise cut to fit with an ellipsis.
func TruncateTitle(title string) string {
	if utf8.RuneCountInString(title) <= MaxTitleLength {
		return title
	}
	r := []rune(title)
	return string(r[:MaxTitleLength-1]) + "…"
}

// PullRequest is a pull request as gearshift sees it: the branch it merges
// from, the base it merges into, and the words a reviewer reads. Number and
// URL are set by the forge.
type PullRequest struct {
	Number int
	URL    string
	Branch string
	Base   string
	Title  string
	Body   string
}

// Forge is the part of a code forge that gearshift needs. It is an interface
// so that the forge's client library can change without touching callers.
type Forge interface {
	// EnsurePullRequest opens a PR from branch into base, or updates the
	// title and body of the one already open for that branch: never a
	// duplicate. The bool reports whether a new PR was created.
	EnsurePullRequest(ctx context.Context, pr PullRequest) (PullRequest, bool, error)
	// UpsertComment keeps exactly one comment carrying marker on issue/PR
	// number: found by the hidden marker (an HTML comment), edited in
	// place, or created.
	UpsertComment(ctx context.Context, number int, marker, body string) error
	// OpenPullRequests lists the open PRs whose branches are in this
	// repository, with their bodies.
	OpenPullRequests(ctx context.Context) ([]PullRequest, error)
	// ClosePullRequest posts comment on PR number, then closes it.
	ClosePullRequest(ctx context.Context, number int, comment string) error
}

var (
	ownerRE  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	repoRE   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	markerRE = regexp.MustCompile(`^[A-Za-z0-9._:/@+=-]{1,200}$`)
)

// ParseRepository splits "owner/repo" (the form of GITHUB_REPOSITORY) into
// its parts. It refuses anything else rather than guess, because a wrong
// owner would send a token to another account's repository.
func ParseRepository(s string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || !ownerRE.MatchString(owner) || !repoRE.MatchString(repo) ||
		repo == "." || repo == ".." || strings.HasSuffix(repo, ".git") {
		return "", "", fmt.Errorf("invalid repository %q: want owner/repo", s)
	}
	return owner, repo, nil
}

// MarkerComment is the hidden HTML comment that identifies a sticky comment.
// It is the first line of every body UpsertComment writes, so a reader of
// the rendered comment never sees it. The marker must be a short token of
// letters, digits and ._:/@+=- (so it can never close the HTML comment).
func MarkerComment(marker string) (string, error) {
	if !markerRE.MatchString(marker) {
		return "", fmt.Errorf("invalid comment marker %q: want 1 to 200 of A-Z a-z 0-9 . _ : / @ + = -", marker)
	}
	return "<!-- gearshift:" + marker + " -->", nil
}

// Truncate returns body unchanged if it fits in limit bytes, and otherwise
// cuts it at the last line boundary that leaves room for a note saying that
// it was truncated and, when hint is not empty, where the full text is (for
// example the URL of the workflow run). A code fence left open by the cut is
// closed so the note renders as text. The result never exceeds limit bytes
// and never splits a UTF-8 sequence.
func Truncate(body string, limit int, hint string) string {
	if len(body) <= limit {
		return body
	}
	total := strings.Count(strings.TrimSuffix(body, "\n"), "\n") + 1
	// The note is longest when it counts every line: reserve that much.
	budget := limit - len(truncationNote(total, total, hint))
	if budget <= 0 {
		return cutRunes(body, limit)
	}
	kept := dropLastLine(body[:budget+1], 0)
	for {
		closing := ""
		if fence := openFence(kept); fence != "" {
			closing = "\n" + fence
		}
		out := kept + closing + truncationNote(strings.Count(kept, "\n")+1, total, hint)
		if len(out) <= limit {
			return out
		}
		kept = dropLastLine(kept, len(out)-limit)
	}
}

// dropLastLine removes the last (possibly partial) line of s; a single line
// loses excess bytes instead, cut on a rune boundary.
func dropLastLine(s string, excess int) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return cutRunes(s, len(s)-max(excess, 1))
}

func truncationNote(kept, total int, hint string) string {
	note := fmt.Sprintf("\n\n---\n:warning: **Truncated**: %d of %d lines shown, because GitHub accepts at most %d characters here.",
		kept, total, MaxBodyLength)
	if hint = strings.TrimSpace(hint); hint != "" {
		note += " " + hint
	}
	return note + "\n"
}

// cutRunes returns the longest prefix of s of at most n bytes that does not
// split a UTF-8 sequence.
func cutRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// openFence returns the fence that closes the fenced code block s ends in,
// or "" if s ends outside one.
func openFence(s string) string {
	fence := ""
	for line := range strings.SplitSeq(s, "\n") {
		t := strings.TrimLeft(line, " ")
		run := len(t) - len(strings.TrimLeft(t, "`"))
		if run < 3 {
			run = len(t) - len(strings.TrimLeft(t, "~"))
		}
		if run < 3 {
			continue
		}
		switch {
		case fence == "":
			fence = t[:run]
		case t[0] == fence[0] && run >= len(fence) && strings.TrimSpace(t[run:]) == "":
			fence = ""
		}
	}
	return fence
}
