package state

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/proc"
)

// Release is a tag an apply creates once, after it left its scope (the
// environment, or a unit) at the desired version, and never moves
// (internal/release, docs/notifications.md).
type Release struct {
	// Repository is ReleaseState or ReleaseSource.
	Repository    string         `json:"repository"`
	Tag           string         `json:"tag"`
	Ref           string         `json:"ref,omitempty"`
	GitHubRelease *GitHubRelease `json:"githubRelease,omitempty"`
}

// Where a release tag goes.
const (
	ReleaseState  = "state"
	ReleaseSource = "source"
)

// GitHubRelease publishes a GitHub release of a release tag.
type GitHubRelease struct {
	Repository string `json:"repository,omitempty"`
	Prerelease bool   `json:"prerelease"`
	Links      []Link `json:"links,omitempty"`
}

// Link is a named URL listed in a release's notes.
type Link struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Notification is one receiver of an environment's apply outcome
// (internal/notify): exactly one of Webhook, Slack and GitHubStatus.
type Notification struct {
	On           []string      `json:"on,omitempty"`
	Webhook      *Webhook      `json:"webhook,omitempty"`
	Slack        *Slack        `json:"slack,omitempty"`
	GitHubStatus *GitHubStatus `json:"githubStatus,omitempty"`
	Timeout      Duration      `json:"timeout"`
	Retries      int           `json:"retries"`
}

// Webhook posts the event as JSON. Secrets are variable names only.
type Webhook struct {
	URL       string `json:"url,omitempty"`
	URLEnv    string `json:"urlEnv,omitempty"`
	TokenEnv  string `json:"tokenEnv,omitempty"`
	SecretEnv string `json:"secretEnv,omitempty"`
}

// Slack posts a message to a Slack-compatible incoming webhook whose URL
// (a secret) is in the variable URLEnv.
type Slack struct {
	URLEnv string `json:"urlEnv"`
}

// GitHubStatus sets a commit status on the state commit applied.
type GitHubStatus struct {
	Context string `json:"context,omitempty"`
}

// GitHubView says how applies show on GitHub's Environments page.
type GitHubView struct {
	// Deployments is DeploymentsPerUnit (the default),
	// DeploymentsPerEnvironment or DeploymentsOff.
	Deployments    string `json:"deployments"`
	EnvironmentURL string `json:"environmentURL,omitempty"`
}

// Deployment modes.
const (
	DeploymentsPerUnit        = "unit"
	DeploymentsPerEnvironment = "environment"
	DeploymentsOff            = "off"
)

// Kind names the notification's provider.
func (n Notification) Kind() string {
	switch {
	case n.Webhook != nil:
		return "webhook"
	case n.Slack != nil:
		return "slack"
	case n.GitHubStatus != nil:
		return "githubStatus"
	}
	return ""
}

// placeholderRE finds the placeholders of a release tag template.
var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

// ReleasePlaceholders are the placeholders a release tag may use, and
// whether each needs a unit.
var ReleasePlaceholders = map[string]bool{"{version}": true, "{commit}": false, "{date}": false, "{env}": false, "{unit}": true}

// badRefRE finds what git refuses in a tag name (git check-ref-format).
var badRefRE = regexp.MustCompile(`[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|^[./-]|[./]$|\.lock(/|$)|(^|/)@(/|$)`)

// CheckTagName says why git would refuse name as a tag, or nil.
func CheckTagName(name string) error {
	if name == "" || badRefRE.MatchString(name) {
		return fmt.Errorf("%q is not a valid git tag name", name)
	}
	return nil
}

// integrationEnvPaths are the fields of an environment's integrations
// that messages cite.
func integrationEnvPaths(e *Environment) []string {
	ps := []string{"release", "release.tag", "release.repository", "release.ref", "release.githubRelease", "release.githubRelease.repository", "github", "github.deployments"}
	for i, n := range e.Notifications {
		p := "notifications." + strconv.Itoa(i)
		ps = append(ps, p, p+".webhook", p+".webhook.url", p+".webhook.urlEnv", p+".webhook.tokenEnv", p+".webhook.secretEnv", p+".slack", p+".slack.urlEnv", p+".githubStatus", p+".timeout")
		_ = n
	}
	return ps
}

// integrationUnitPaths are the fields of a unit's release that messages
// cite.
func integrationUnitPaths() []string {
	return []string{"release", "release.tag", "release.repository", "release.ref", "release.githubRelease", "release.githubRelease.repository", "environmentURL"}
}

// checkIntegrations checks an environment's release, notifications and
// its units' releases: what the schema cannot say.
func checkIntegrations(env *Environment) Diagnostics {
	var diags Diagnostics
	at := func(path string, format string, args ...any) {
		diags = append(diags, Diagnostic{Pos: env.Pos.Of(path), Path: join("environment", path), Msg: fmt.Sprintf(format, args...)})
	}
	if r := env.Release; r != nil {
		if r.Repository == ReleaseSource {
			at("release.repository", `an environment's release tag goes to the state repository: "source" is a unit's (set release in the unit)`)
		}
		if msg := checkReleaseTag(r.Tag, false); msg != "" {
			at("release.tag", "%s", msg)
		}
	}
	// A struct's position is the schema's once unified with it: cite the
	// first leaf the user wrote.
	leaf := func(p string, fields ...string) string {
		for _, f := range fields {
			if _, ok := env.Pos[p+"."+f]; ok {
				return p + "." + f
			}
		}
		return p
	}
	for i, n := range env.Notifications {
		p := "notifications." + strconv.Itoa(i)
		leaves := []string{"webhook.url", "webhook.urlEnv", "webhook.tokenEnv", "webhook.secretEnv", "slack.urlEnv", "githubStatus.context", "timeout"}
		count := 0
		for _, set := range []bool{n.Webhook != nil, n.Slack != nil, n.GitHubStatus != nil} {
			if set {
				count++
			}
		}
		if count != 1 {
			at(leaf(p, leaves...), "a notification takes exactly one of webhook, slack and githubStatus (found %d)", count)
		}
		if n.Timeout.Duration <= 0 {
			at(p+".timeout", "a notification's timeout must be positive")
		}
		vars := map[string]string{}
		if w := n.Webhook; w != nil {
			if (w.URL == "") == (w.URLEnv == "") {
				at(leaf(p, leaves...), "a webhook takes exactly one of url and urlEnv")
			}
			vars["webhook.urlEnv"], vars["webhook.tokenEnv"], vars["webhook.secretEnv"] = w.URLEnv, w.TokenEnv, w.SecretEnv
			if w.URL != "" {
				if u, err := url.Parse(w.URL); err == nil && (u.User != nil || u.RawQuery != "") {
					at(p+".webhook.url", "a webhook URL in the state may not carry a secret (userinfo or query): put the URL in a variable and name it in urlEnv")
				}
			}
		}
		if s := n.Slack; s != nil {
			vars["slack.urlEnv"] = s.URLEnv
		}
		for _, f := range sortedKeys(vars) {
			if v := vars[f]; v != "" && proc.Refused(v) {
				at(p+"."+f, "%s is one of gearshift's own tokens or settings: it is never sent to a notification", v)
			}
		}
	}
	for _, un := range env.UnitNames() {
		u := env.Units[un]
		r := u.Release
		if r == nil {
			continue
		}
		uat := func(path, format string, args ...any) {
			diags = append(diags, Diagnostic{Pos: u.Pos.Of(path), Path: "units." + un + "." + path, Msg: fmt.Sprintf(format, args...)})
		}
		if msg := checkReleaseTag(r.Tag, true); msg != "" {
			uat("release.tag", "%s", msg)
		}
		if r.Repository == ReleaseSource {
			if u.Track == nil || u.Track.Source == "" {
				uat("release.repository", `a release tag in the unit's "source" needs track.source: the repository to tag`)
			} else if g := r.GitHubRelease; g != nil && g.Repository == "" {
				if _, ok := RepositoryOfURL(u.Track.Source); !ok {
					uat("release.githubRelease", "cannot tell the GitHub repository of %s: set githubRelease.repository (owner/repo)", u.Track.Source)
				}
			}
		}
	}
	return diags
}

// checkReleaseTag says what is wrong with a tag template, or "".
func checkReleaseTag(tmpl string, inUnit bool) string {
	for _, p := range placeholderRE.FindAllString(tmpl, -1) {
		needsUnit, ok := ReleasePlaceholders[p]
		switch {
		case !ok:
			return fmt.Sprintf("unknown placeholder %s in a release tag (the placeholders are {version}, {commit}, {date}, {env} and, in a unit, {unit})", p)
		case needsUnit && !inUnit:
			return fmt.Sprintf("%s names a unit: an environment's release tag takes {commit}, {date} and {env} (declare release in the unit to tag its version)", p)
		}
	}
	switch {
	case !inUnit && !strings.Contains(tmpl, "{commit}"):
		return "an environment's release tag must contain {commit}: it names the state commit applied, and a tag is never moved to another"
	case inUnit && !strings.Contains(tmpl, "{commit}") && !strings.Contains(tmpl, "{version}"):
		return "a unit's release tag must contain {version} or {commit}: it names what was released, and a tag is never moved to another commit"
	}
	sample := strings.NewReplacer("{version}", "1.0.0", "{commit}", "0123abcd", "{date}", "20260101", "{env}", "env", "{unit}", "unit").Replace(tmpl)
	if err := CheckTagName(sample); err != nil {
		return fmt.Sprintf("the release tag would not be a valid git tag name: %v", err)
	}
	return ""
}

// RepositoryOfURL is owner/repo of a git URL on a forge
// (https://github.com/genenetwork/genenetwork3.git): its last two path
// segments, without .git.
func RepositoryOfURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return "", false
	}
	owner, repo := parts[len(parts)-2], strings.TrimSuffix(parts[len(parts)-1], ".git")
	if owner == "" || repo == "" {
		return "", false
	}
	return owner + "/" + repo, true
}
