package gitops

import (
	"errors"
	"testing"
)

func TestRefAllowed(t *testing.T) {
	const relPattern = `^v[0-9]+\.[0-9]+\.[0-9]+-rel$`
	tests := []struct {
		name       string
		ref        string
		isTag      bool
		branch     string
		tagPattern string
		want       bool
	}{
		{"declared branch", "master", false, "master", "", true},
		{"declared branch full name", "refs/heads/master", false, "master", "", true},
		{"declared branch given full", "master", false, "refs/heads/master", "", true},
		{"other branch", "feature", false, "master", "", false},
		{"branch prefix is not the branch", "master2", false, "master", "", false},
		{"branch when only tags", "master", false, "", relPattern, false},
		{"tag matching", "v1.2.3-rel", true, "", relPattern, true},
		{"tag full name matching", "refs/tags/v1.2.3-rel", true, "", relPattern, true},
		{"tag not matching", "v1.2.3", true, "", relPattern, false},
		{"tag when only a branch", "v1.2.3-rel", true, "release", "", false},
		{"tag named like the branch", "master", true, "master", "", false},
		{"branch named like a tag", "v1.2.3-rel", false, "", relPattern, false},
		{"both declared, branch", "release", false, "release", relPattern, true},
		{"both declared, tag", "v2.0.0-rel", true, "release", relPattern, true},
		{"unanchored pattern", "xv1", true, "", "v1", true},
		{"detached", "", false, "master", relPattern, false},
		{"nothing declared", "master", false, "", "", false},
		{"pull request ref", "refs/pull/7/merge", false, "master", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := RefAllowed(tc.ref, tc.isTag, tc.branch, tc.tagPattern)
			if got := err == nil; got != tc.want {
				t.Fatalf("RefAllowed(%q, %v, %q, %q) = %v, want allowed=%v", tc.ref, tc.isTag, tc.branch, tc.tagPattern, err, tc.want)
			}
			if err != nil && !errors.Is(err, ErrRefNotAllowed) {
				t.Errorf("error %v does not match ErrRefNotAllowed", err)
			}
		})
	}
}

func TestRefAllowedBadPattern(t *testing.T) {
	err := RefAllowed("v1", true, "", "v[")
	if err == nil || errors.Is(err, ErrRefNotAllowed) {
		t.Fatalf("RefAllowed with an invalid pattern = %v, want a pattern error", err)
	}
}
