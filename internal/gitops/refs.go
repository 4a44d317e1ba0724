package gitops

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrRefNotAllowed is matched by RefAllowed's error.
var ErrRefNotAllowed = errors.New("ref not allowed")

// RefAllowed is the check apply makes before deploying: an environment takes
// only its declared branch, or a tag that matches its tag pattern (a Go
// regular expression, unanchored unless it says ^ and $, like CUE's =~).
// Either may be empty, meaning the environment does not deploy from that
// kind of ref. ref may be short ("main") or full ("refs/heads/main").
func RefAllowed(ref string, isTag bool, branch, tagPattern string) error {
	name := ref
	switch {
	case strings.HasPrefix(ref, "refs/heads/") && !isTag:
		name = strings.TrimPrefix(ref, "refs/heads/")
	case strings.HasPrefix(ref, "refs/tags/") && isTag:
		name = strings.TrimPrefix(ref, "refs/tags/")
	}
	if name == "" {
		return fmt.Errorf("%w: the checkout is on no branch or tag (detached HEAD): give the ref to deploy from", ErrRefNotAllowed)
	}
	if isTag {
		if tagPattern == "" {
			if branch != "" {
				return fmt.Errorf("%w: tag %s: the environment deploys only from branch %s", ErrRefNotAllowed, name, branch)
			}
			return fmt.Errorf("%w: tag %s: the environment declares no tag pattern", ErrRefNotAllowed, name)
		}
		re, err := regexp.Compile(tagPattern)
		if err != nil {
			return fmt.Errorf("tag pattern %q: %w", tagPattern, err)
		}
		if !re.MatchString(name) {
			return fmt.Errorf("%w: tag %s does not match the environment's tag pattern %s", ErrRefNotAllowed, name, tagPattern)
		}
		return nil
	}
	if branch == "" {
		if tagPattern != "" {
			return fmt.Errorf("%w: branch %s: the environment deploys only from tags matching %s", ErrRefNotAllowed, name, tagPattern)
		}
		return fmt.Errorf("%w: branch %s: the environment declares no branch", ErrRefNotAllowed, name)
	}
	if name != branch && strings.TrimPrefix(branch, "refs/heads/") != name {
		return fmt.Errorf("%w: branch %s: the environment deploys only from branch %s", ErrRefNotAllowed, name, branch)
	}
	return nil
}
