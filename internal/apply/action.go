package apply

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/artifact"
	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// act runs one action and journals its start and end. A started action is
// carried to its end even when the run is interrupted (its context is
// detached from the run's, bounded by ActionTimeout): stopping a deploy
// half-way would leave the unit in a worse state than either end.
func (r *runner) act(runCtx context.Context, a *plan.Action) UnitResult {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), r.o.ActionTimeout)
	defer cancel()
	start := r.o.Now()
	res := UnitResult{Unit: a.Unit, Action: a.Type, Wave: a.Wave, From: a.From, To: a.To, Started: start.UTC()}
	verb := map[plan.ActionType]string{plan.Deploy: "deploying", plan.Redeploy: "redeploying", plan.Prune: "pruning"}[a.Type]
	r.o.Progress.Event(Event{Env: r.env.Name, Unit: a.Unit, Kind: "start", Msg: strings.TrimSpace(verb + " " + versions(a))})
	finish := func() UnitResult {
		res.Seconds = r.o.Now().Sub(start).Seconds()
		end := Entry{Event: EventActionEnd, Unit: a.Unit, Type: string(a.Type), From: a.From, To: a.To,
			Release: res.Release, Result: string(res.Outcome), Error: res.Error}
		if err := r.ended(ctx, end); err != nil {
			res.Error = joinMsg(res.Error, err.Error())
			if !res.Outcome.Failure() {
				res.Outcome = Failed
			}
		}
		if res.Outcome != Deployed && res.Outcome != Redeployed && res.Outcome != Pruned {
			r.setNotOK(a.Unit, map[Outcome]string{RolledBack: "failed and was rolled back", Failed: "failed"}[res.Outcome])
		}
		msg := res.Error
		if res.Outcome == RolledBack && res.RolledBackTo != "" {
			msg += "; rolled back to " + res.RolledBackTo
		}
		r.o.Progress.Event(Event{Env: r.env.Name, Unit: a.Unit, Kind: "end", Outcome: res.Outcome, Seconds: res.Seconds, Msg: msg})
		return res
	}
	d, err := r.resolve(r.env, a.Target)
	if err != nil {
		res.Outcome, res.Error = Failed, err.Error()
		return finish()
	}
	if err := r.journal.Append(ctx, Entry{Event: EventActionStart, Unit: a.Unit, Type: string(a.Type), From: a.From, To: a.To}); err != nil {
		// Without a journal line an interruption would go unnoticed:
		// do not start.
		res.Outcome, res.Error = Failed, err.Error()
		return finish()
	}
	if a.Type == plan.Prune {
		if err := d.Prune(ctx, r.env, a.Target, a.Unit); err != nil {
			res.Outcome, res.Error = Failed, err.Error()
		} else {
			res.Outcome = Pruned
		}
		return finish()
	}
	r.deploy(ctx, d, a, &res)
	return finish()
}

func versions(a *plan.Action) string {
	switch {
	case a.Type == plan.Prune:
		return a.From
	case a.From != "" && a.From != a.To:
		return a.From + " -> " + a.To
	}
	return a.To
}

func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// deploy is one unit's deploy: fetch -> test -> Deploy (health inside) ->
// verify, and on a failed deploy or verify: Rollback -> notify. A failure
// before Deploy changed nothing on the target and needs no rollback.
func (r *runner) deploy(ctx context.Context, d driver.Deployer, a *plan.Action, res *UnitResult) {
	u := r.env.Units[a.Unit]
	if u == nil {
		res.Outcome, res.Error = Failed, fmt.Sprintf("unit %s is not declared in %s", a.Unit, r.env.Name)
		return
	}
	req := driver.DeployRequest{Env: r.env, Unit: u, Now: r.o.Now().UTC(),
		Event: func(msg string) { r.step(u.Name, msg) }}
	if u.Artifact != nil {
		r.step(u.Name, "fetching artifact")
		dir, archive, sum, err := r.fetch(ctx, u)
		if err != nil {
			res.Outcome, res.Error = Failed, err.Error()
			r.notify(ctx, u, res)
			return
		}
		req.ArtifactDir, req.ArchiveFile, req.Checksum = dir, archive, sum
	}
	if err := r.builtAgainst(u, req.ArtifactDir); err != nil {
		res.Outcome, res.Error = Failed, err.Error()
		r.notify(ctx, u, res)
		return
	}
	if u.Test != nil {
		r.step(u.Name, "testing")
		dir := req.ArtifactDir
		if dir == "" {
			dir = r.root
		}
		if err := r.check(u, u.Test, dir, nil).run(ctx); err != nil {
			res.Outcome, res.Error = Failed, "test: "+err.Error()
			r.notify(ctx, u, res)
			return
		}
	}
	if req.ArtifactDir != "" || u.Test != nil {
		r.step(u.Name, verbOf(a)+" "+versions(a))
	}
	dr, err := d.Deploy(ctx, req)
	res.Hosts = HostResults(dr.PerHost, nil, false)
	if err == nil && u.Verify != nil {
		r.step(u.Name, "verifying")
		vu := u
		if dr.Port > 0 && dr.Port != u.Port {
			// A blue/green release is verified on its slot's port.
			c := *u
			c.Port = dr.Port
			vu = &c
		}
		if verr := r.check(vu, u.Verify, r.root, r.env.Variables).run(ctx); verr != nil {
			err = fmt.Errorf("verify: %w", verr)
		}
	}
	if err == nil {
		res.Outcome, res.Release = Deployed, dr.ReleaseID
		if a.Type == plan.Redeploy {
			res.Outcome = Redeployed
		}
		return
	}
	res.Error = err.Error()
	// Roll back to the version that ran before. A redeploy leaves the
	// driver to pick the previous release of the same version.
	to := a.From
	if a.Type == plan.Redeploy {
		to = ""
	}
	if a.Type == plan.Deploy && a.From == "" {
		r.undoFirst(ctx, d, u, res)
		return
	}
	r.step(u.Name, "rolling back")
	// The rollback reports host by host, as the deploy did.
	rb, rerr := d.Rollback(driver.WithEvents(ctx, req.Event), r.env, u, to)
	res.Hosts = HostResults(dr.PerHost, rb.PerHost, true)
	if rerr != nil {
		res.Outcome, res.RollbackError = Failed, rerr.Error()
	} else {
		res.Outcome, res.Release, res.RolledBackTo = RolledBack, rb.ReleaseID, rb.Version
		if res.RolledBackTo == "" {
			res.RolledBackTo = to
		}
	}
	r.notify(ctx, u, res)
}

// undoFirst takes back a unit's first deploy that failed: there is no
// earlier release to return to, so the failed one is stopped and removed
// (the driver's Rollback of a first release) and the unit is not deployed,
// as before. A driver that cannot do that leaves the unit failed.
func (r *runner) undoFirst(ctx context.Context, d driver.Deployer, u *state.Unit, res *UnitResult) {
	r.step(u.Name, "stopping the failed first release")
	rb, err := d.Rollback(driver.WithEvents(ctx, func(msg string) { r.step(u.Name, msg) }), r.env, u, "")
	res.Hosts = HostResults(res.Hosts, rb.PerHost, true)
	switch {
	case err != nil:
		res.Outcome = Failed
		res.Error += "; nothing to roll back to: it was not deployed before"
		r.note(fmt.Sprintf("%s: the failed first release could not be taken back: %v", u.Name, err))
	case rb.Version == "":
		res.Outcome, res.Release = RolledBack, ""
		res.Error += "; it was not deployed before: the failed release was stopped and removed, and the unit is not deployed"
	default:
		res.Outcome, res.Release, res.RolledBackTo = RolledBack, rb.ReleaseID, rb.Version
	}
	r.notify(ctx, u, res)
}

func verbOf(a *plan.Action) string {
	if a.Type == plan.Redeploy {
		return "redeploying"
	}
	return "deploying"
}

// check makes a test or verify command: the unit's argv with {unit},
// {port} and {version} replaced, its own env and GEARSHIFT_* naming what
// is checked. The environment's variables (TEST_MODE=blackbox_dev) are for
// the black-box checks after the deploy (verify), under the check's own
// env: the tests before the deploy never get them.
func (r *runner) check(u *state.Unit, c *state.Check, dir string, variables map[string]string) command {
	argv := make([]string, len(c.Command))
	for i, s := range c.Command {
		argv[i] = strings.ReplaceAll(driver.Expand(s, u.Name, u.Port), "{version}", u.Version)
	}
	env := maps.Clone(variables)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, c.Env)
	env["GEARSHIFT_ENVIRONMENT"] = r.env.Name
	env["GEARSHIFT_UNIT"] = u.Name
	env["GEARSHIFT_VERSION"] = u.Version
	if u.Port > 0 {
		env["GEARSHIFT_PORT"] = strconv.Itoa(u.Port)
	}
	return command{argv: argv, dir: dir, env: env, timeout: c.Timeout.Duration}
}

// notify runs the environment's notify command after a failure
// (GeneNetwork's "notification on failure"). Its own failure is reported
// but does not change the unit's outcome.
func (r *runner) notify(ctx context.Context, u *state.Unit, res *UnitResult) {
	n := r.env.Notify
	if n == nil || len(n.Command) == 0 {
		return
	}
	env := map[string]string{}
	for k, v := range n.Env {
		env[k] = v
	}
	env["GEARSHIFT_ENVIRONMENT"] = r.env.Name
	env["GEARSHIFT_UNIT"] = u.Name
	env["GEARSHIFT_VERSION"] = u.Version
	env["GEARSHIFT_OUTCOME"] = string(res.Outcome)
	// The error may quote a command that printed a secret; notify often
	// posts it to a chat.
	env["GEARSHIFT_ERROR"] = redact.FromContext(ctx).String(res.Error)
	env["GEARSHIFT_ROLLED_BACK_TO"] = res.RolledBackTo
	c := command{argv: n.Command, dir: r.root, env: env, timeout: time.Minute}
	if err := c.run(ctx); err != nil {
		r.note(fmt.Sprintf("notify for %s failed: %v", u.Name, err))
	}
}

// fetch downloads u's artifact, verified, into the run's scratch directory
// and unpacks it. The archive is downloaded once: the unpacking reads the
// verified local copy. A source that is a relative path names a file in the
// state repository, allowed only when the unit's host target sets
// allowLocalArtifacts (the demo's dist/ tarballs).
func (r *runner) fetch(ctx context.Context, u *state.Unit) (dir, archive, sum string, err error) {
	src := strings.ReplaceAll(u.Artifact.Source, "{version}", u.Version)
	t := r.env.Targets[u.Target]
	allowLocal := t.Host != nil && t.Host.AllowLocalArtifacts
	if isRelativePath(src) {
		if !allowLocal {
			return "", "", "", fmt.Errorf("artifact %s is a local path: target %s does not set allowLocalArtifacts", src, u.Target)
		}
		src = filepath.Join(r.root, filepath.FromSlash(src))
	}
	if r.work == "" {
		return "", "", "", errors.New("no scratch directory for artifacts")
	}
	work, err := os.MkdirTemp(r.work, u.Name+".")
	if err != nil {
		return "", "", "", err
	}
	var maxUnpacked int64 // "" (a state decoded without the schema's default): artifact's default
	if s := u.Artifact.MaxUnpackedSize; s != "" {
		if maxUnpacked, err = artifact.ParseSize(s); err != nil {
			return "", "", "", fmt.Errorf("artifact.maxUnpackedSize: %w", err)
		}
	}
	f := artifact.New(artifact.Options{CacheDir: r.cacheDir(), AllowLocal: allowLocal, RequireChecksum: r.env.Policies.RequireChecksum, MaxUnpackedBytes: maxUnpacked})
	archive = filepath.Join(work, "archive"+archiveExt(src))
	dir = filepath.Join(work, "release")
	if u.Artifact.Checksum != "" && r.cacheDir() != "" {
		// Both come from the cache, verified: the archive is downloaded
		// once, and unpacked straight from the cache.
		got, err := f.Fetch(ctx, src, u.Artifact.Checksum, dir)
		if err != nil {
			return "", "", "", err
		}
		if _, err := f.Download(ctx, src, u.Artifact.Checksum, archive); err != nil {
			return "", "", "", err
		}
		return dir, archive, got.Checksum(), nil
	}
	// Without a checksum nothing is cached: download once, then unpack
	// the verified local copy.
	got, err := f.Download(ctx, src, u.Artifact.Checksum, archive)
	if err != nil {
		return "", "", "", err
	}
	local := artifact.New(artifact.Options{AllowLocal: true, MaxUnpackedBytes: maxUnpacked})
	if _, err := local.Fetch(ctx, archive, got.Checksum(), dir); err != nil {
		return "", "", "", err
	}
	return dir, archive, got.Checksum(), nil
}

func (r *runner) cacheDir() string {
	if r.o.CacheDir == "" {
		return ""
	}
	return filepath.Join(r.o.CacheDir, "artifacts")
}

// isRelativePath reports whether src is neither a URL nor an absolute
// path nor a go-getter forced source ("git::...").
func isRelativePath(src string) bool {
	if src == "" || filepath.IsAbs(src) || strings.Contains(src, "::") {
		return false
	}
	if u, err := url.Parse(src); err == nil && u.Scheme != "" {
		return false
	}
	return true
}

// archiveExt keeps the archive's extension, so that a kept archive still
// says what it is.
func archiveExt(src string) string {
	if u, err := url.Parse(src); err == nil && u.Path != "" {
		src = u.Path
	}
	for _, ext := range []string{".tar.gz", ".tgz", ".tar", ".zip"} {
		if strings.HasSuffix(src, ext) {
			return ext
		}
	}
	return ""
}
