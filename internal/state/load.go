package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/token"

	"github.com/gearshift-dev/gearshift/schema"
)

// EnvironmentsDir is the directory of a state repository whose
// subdirectories are environments and whose own files are shared by all.
const EnvironmentsDir = "environments"

// schemaFile is the name the embedded schema's positions carry.
const schemaFile = "gearshift:schema/schema.cue"

// Options tune Load.
type Options struct {
	// Now is the clock waivers are judged by; time.Now when nil.
	Now func() time.Time
	// Parallelism bounds how many environments are evaluated at once.
	Parallelism int
	// KeepExpiredWaivers loads waivers whose date has passed instead of
	// reporting them as mistakes: plan reports them as violations.
	KeepExpiredWaivers bool
	// Limits bound each environment's evaluation (bounded.go).
	Limits Limits
	// InProcess evaluates in this process, with no time or memory bound:
	// only for states that are trusted not to exhaust the machine (the
	// fuzz target, which runs too many loads for a process each).
	InProcess bool
}

// Load reads the state repository at root and returns the named
// environments, or all of them when names is empty. Mistakes in the state
// are returned together as Diagnostics; any other error means the state
// could not be read at all.
func Load(ctx context.Context, root string, names []string, opts Options) (*State, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Parallelism <= 0 {
		// One environment per core: more only adds to peak memory, as each
		// evaluation allocates heavily and is CPU-bound.
		opts.Parallelism = runtime.GOMAXPROCS(0)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	all, err := Discover(root)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = all
	}
	var diags Diagnostics
	known := map[string]bool{}
	for _, n := range all {
		known[n] = true
	}
	var todo []string
	for _, n := range names {
		if !known[n] {
			diags = append(diags, Diagnostic{Pos: Pos{File: EnvironmentsDir + "/" + n}, Msg: fmt.Sprintf("no environment %q (have %s)", n, strings.Join(all, ", "))})
			continue
		}
		todo = append(todo, n)
	}

	st := &State{Root: root, Environments: map[string]*Environment{}}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, opts.Parallelism)
	for _, name := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			env, ds, err := loadOne(ctx, root, name, opts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			diags = append(diags, ds...)
			if env != nil {
				st.Environments[name] = env
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if len(diags) == 0 {
		diags = append(diags, checkState(st, opts)...)
	}
	if len(diags) > 0 {
		return st, diags.sorted().grouped()
	}
	return st, nil
}

// Discover lists the environments of the state repository at root: the
// directories under environments/ that hold CUE files. A symbolic link
// (environments/ itself or an environment) that leaves the repository is
// not followed: it is returned as Diagnostics.
func Discover(root string) ([]string, error) {
	if fi, err := os.Stat(root); err != nil {
		return nil, noDirectory(root, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a gearshift state repository: not a directory", root)
	}
	g, err := newGuard(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a gearshift state repository: no %s/ directory", root, EnvironmentsDir)
		}
		return nil, err
	}
	if d := g.check(EnvironmentsDir); d != nil {
		return nil, Diagnostics{*d}
	}
	dir := filepath.Join(root, EnvironmentsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a gearshift state repository: no %s/ directory", root, EnvironmentsDir)
		}
		return nil, err
	}
	var names []string
	var diags Diagnostics
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink != 0 {
			if d := g.checkEntry(EnvironmentsDir+"/"+e.Name(), e.Type()); d != nil {
				diags = append(diags, *d)
				continue
			}
			// A link inside the repository: an environment if it is a directory.
			if fi, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || !fi.IsDir() {
				continue
			}
		} else if !e.IsDir() {
			continue
		}
		files, err := readDir(filepath.Join(dir, e.Name()))
		if err != nil {
			// Skipping it would validate the other environments as all.
			diags = append(diags, *unreadable(EnvironmentsDir+"/"+e.Name(), "directory", err))
			continue
		}
		if slices.ContainsFunc(files, func(f fs.DirEntry) bool { return strings.HasSuffix(f.Name(), ".cue") }) {
			names = append(names, e.Name())
		}
	}
	if len(diags) > 0 {
		return nil, diags
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s declares no environments: %s/ has no directory with .cue files", root, EnvironmentsDir)
	}
	return names, nil
}

// loadOne checks the paths environment name is loaded from, then
// evaluates it: in a bounded child process unless opts.InProcess.
func loadOne(ctx context.Context, root, name string, opts Options) (*Environment, Diagnostics, error) {
	ds, err := checkPaths(root, name)
	if err != nil || len(ds) > 0 {
		return nil, ds, err
	}
	if opts.InProcess {
		env, ds := loadEnvironment(root, name)
		return env, ds, nil
	}
	return loadBounded(ctx, root, name, opts.Limits)
}

// loadEnvironment evaluates one environment against the schema in a CUE
// context of its own, so environments can be evaluated in parallel.
func loadEnvironment(root, name string) (*Environment, Diagnostics) {
	cctx := cuecontext.New()
	sch := cctx.CompileBytes(schema.CUE, cue.Filename(schemaFile))
	if err := sch.Err(); err != nil {
		// The embedded schema is tested; this is a build defect.
		panic(fmt.Sprintf("embedded schema does not compile: %v", err))
	}
	// The loader reads the repository through repoFS only: no link out
	// of the repository, nothing of .git (guard.go).
	rfs, osRoot, err := newRepoFS(root)
	if err != nil {
		return nil, Diagnostics{{Pos: Pos{File: EnvironmentsDir + "/" + name}, Msg: err.Error()}}
	}
	defer osRoot.Close()
	cfg := &load.Config{
		FS:       rfs,
		Registry: noRegistry{},
		Dir:      "/",
		FromFSPath: func(p string) string {
			return filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(p, "/")))
		},
	}
	if _, err := os.Stat(filepath.Join(root, "cue.mod")); err != nil {
		// A state repository without cue.mod/ still loads: its root is
		// the module root for our purposes.
		cfg.ModuleRoot = "/"
	}
	if ds := checkPackages(rfs, name); len(ds) > 0 {
		return nil, ds
	}
	insts := load.Instances([]string{"./" + EnvironmentsDir + "/" + name}, cfg)
	inst := insts[0]
	if inst.Err != nil {
		return nil, fromCUE(root, cue.Value{}, inst.Err)
	}
	// Nothing is evaluated before embedding is refused.
	if ds := checkEmbeds(root, inst); len(ds) > 0 {
		return nil, ds
	}
	if env, ok := loadPerFile(cctx, sch, root, name, inst); ok {
		return env, nil
	}
	v := cctx.BuildInstance(inst)
	if err := v.Err(); err != nil {
		return nil, fromCUE(root, v, err)
	}
	u := sch.Unify(v)
	// One walk both checks and exports the value: MarshalJSON fails on any
	// error or incomplete value. Only then is the slower Validate run, for
	// diagnostics at the user's positions.
	b, err := u.MarshalJSON()
	if err != nil {
		if verr := u.Validate(cue.Concrete(true), cue.All()); verr != nil {
			return nil, validateParts(root, sch, v, u, verr)
		}
		return nil, fromCUE(root, u, err)
	}
	env, diags := decodeEnvironment(root, name, u, b)
	return env, diags
}

func decodeEnvironment(root, name string, u cue.Value, exported []byte) (*Environment, Diagnostics) {
	var doc struct {
		Environment *Environment          `json:"environment"`
		Frameworks  map[string]*Framework `json:"frameworks"`
		Units       map[string]*Unit      `json:"units"`
	}
	if err := json.Unmarshal(exported, &doc); err != nil {
		// The schema and the Go types disagree, or a value (a duration)
		// is out of range: report it at the environment.
		return nil, Diagnostics{{Pos: userPos(root, u.LookupPath(cue.ParsePath("environment.name")).Pos()), Msg: err.Error()}}
	}
	env := doc.Environment
	if env == nil {
		env = &Environment{}
	}
	env.Dir = EnvironmentsDir + "/" + name
	env.Frameworks = doc.Frameworks
	env.Units = doc.Units
	env.Pos = positions(root, u.LookupPath(cue.ParsePath("environment")), environmentPaths(env))
	for n, f := range env.Frameworks {
		f.Pos = positions(root, u.LookupPath(cue.MakePath(cue.Str("frameworks"), cue.Str(n))), []string{"latest", "released", "grace"})
		f.Pos[""] = f.Pos["latest"]
	}
	for n, unit := range env.Units {
		unit.Pos = positions(root, u.LookupPath(cue.MakePath(cue.Str("units"), cue.Str(n))), unitPaths(unit))
		unit.Pos[""] = unit.Pos["version"]
	}
	var diags Diagnostics
	if env.Name != name {
		diags = append(diags, Diagnostic{Pos: env.Pos.Of("name"), Path: "environment.name",
			Msg: fmt.Sprintf("environment name %q must match its directory %s", env.Name, env.Dir)})
	}
	return env, diags
}

// unitPaths are the fields of a unit whose positions messages may cite.
func unitPaths(u *Unit) []string {
	ps := []string{"version", "kind", "target", "strategy", "maxAge", "artifact", "artifact.checksum", "bluegreen.ports", "track", "track.tagPattern", "track.level", "dependsOn", "health", "health.http.url", "health.command"}
	for f := range u.Frameworks {
		ps = append(ps, "frameworks."+f)
	}
	ps = append(ps, frameworkUnitPaths...)
	ps = append(ps, integrationUnitPaths()...)
	for i := range u.DependsOn {
		ps = append(ps, "dependsOn."+strconv.Itoa(i))
	}
	for i := range u.Waivers {
		w := "waivers." + strconv.Itoa(i)
		ps = append(ps, w, w+".until", w+".reason", w+".rule")
	}
	return ps
}

// environmentPaths are the fields of an environment messages may cite.
func environmentPaths(e *Environment) []string {
	ps := []string{"name", "deployFrom", "deployFrom.branch", "deployFrom.tag", "promotion", "promotion.from",
		"policies", "policies.versionPattern", "policies.windows", "policies.maxAge", "policies.latestFramework"}
	for i := range e.Policies.Windows {
		w := "policies.windows." + strconv.Itoa(i)
		ps = append(ps, w, w+".hours", w+".timeZone", w+".days")
	}
	for t, tv := range e.Targets {
		p := "targets." + t
		ps = append(ps, p, p+".host", p+".host.hosts", p+".host.service", p+".host.systemd.unit", p+".host.proxy", p+".host.proxy.kind", p+".exec", p+".kubernetes", p+".kubernetes.image")
		_ = tv
	}
	ps = append(ps, integrationEnvPaths(e)...)
	return ps
}

// positions records where the given fields below v were written, by path
// relative to v. Positions inside the embedded schema (defaults) are left
// out. Looking up a few known paths is much cheaper than walking the value.
func positions(root string, v cue.Value, paths []string) Positions {
	ps := make(Positions, len(paths)+1)
	if p := userPos(root, v.Pos()); p.IsValid() {
		ps[""] = p
	}
	for _, path := range paths {
		f := v.LookupPath(makePath(strings.Split(path, ".")))
		if !f.Exists() {
			continue
		}
		p := userPos(root, f.Pos())
		if !p.IsValid() {
			// A struct or a list unified with the schema may carry the
			// schema's position: look at what the user wrote.
			p = writtenPos(root, f)
		}
		if p.IsValid() {
			ps[path] = p
		}
	}
	return ps
}

func join(prefix, s string) string {
	if prefix == "" {
		return s
	}
	return prefix + "." + s
}

// userPos converts a CUE position, dropping positions inside the schema.
func userPos(root string, p token.Pos) Pos {
	if !p.IsValid() || p.Filename() == "" || p.Filename() == schemaFile {
		return Pos{}
	}
	return Pos{File: relFile(root, p.Filename()), Line: p.Line(), Col: p.Column()}
}

// fromCUE turns CUE errors into diagnostics at the user's positions: a
// value that breaks a schema constraint is reported where the user wrote it
// (an input position), and a missing field at its closest written parent.
func fromCUE(root string, v cue.Value, err error) Diagnostics {
	var diags Diagnostics
	for _, e := range cueerrors.Errors(err) {
		var pos Pos
		for _, p := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
			if pos = userPos(root, p); pos.IsValid() {
				break
			}
		}
		path := e.Path()
		if !pos.IsValid() && v.Exists() {
			for i := len(path); i >= 0 && !pos.IsValid(); i-- {
				pos = userPos(root, v.LookupPath(makePath(path[:i])).Pos())
			}
		}
		if !pos.IsValid() {
			pos = Pos{File: EnvironmentsDir}
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		var inner cueerrors.Error
		switch {
		case format == "":
			// A wrapped error (the loader's file system refusing a path)
			// carries its message in the error it wraps.
			msg = e.Error()
		case errors.As(errors.Unwrap(e), &inner):
			// "import failed" says why in the error it wraps.
			if f, a := inner.Msg(); f != "" {
				msg += ": " + fmt.Sprintf(f, a...)
			}
		}
		diags = append(diags, Diagnostic{Pos: pos, Path: strings.Join(path, "."), Msg: friendly(msg), format: format, args: args})
	}
	return diags
}

func makePath(sels []string) cue.Path {
	ss := make([]cue.Selector, 0, len(sels))
	for _, s := range sels {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			ss = append(ss, cue.Index(n))
			continue
		}
		if strings.HasPrefix(s, "#") {
			ss = append(ss, cue.Def(s))
			continue
		}
		ss = append(ss, cue.Str(s))
	}
	return cue.MakePath(ss...)
}

// validateParts collects the errors of an invalid environment. CUE may
// report only some of the problems of a large value, so each unit and the
// environment are validated on their own too, and the union is reported.
func validateParts(root string, sch, user, u cue.Value, err error) Diagnostics {
	diags := fromCUE(root, u, err)
	parts := []cue.Value{u.LookupPath(cue.ParsePath("environment")), u.LookupPath(cue.ParsePath("frameworks"))}
	if it, ferr := u.LookupPath(cue.ParsePath("units")).Fields(); ferr == nil {
		for it.Next() {
			parts = append(parts, it.Value())
		}
	}
	for _, p := range parts {
		if !p.Exists() {
			continue
		}
		if perr := p.Validate(cue.Concrete(true), cue.All()); perr != nil {
			diags = append(diags, fromCUE(root, u, perr)...)
		}
	}
	return mergeDisjunctions(explain(root, sch, user, diags.sorted()).sorted())
}

// mergeDisjunctions turns CUE's report of a value that matches none of a
// disjunction's alternatives ("conflicting values "gear" and "gaer"" once per
// alternative, then "2 errors in empty disjunction") into one diagnostic:
// invalid value "gaer" (want one of "gear", "stack").
func mergeDisjunctions(diags Diagnostics) Diagnostics {
	type group struct {
		idx   int
		value string
		want  []string
	}
	groups := map[string]*group{}
	var out Diagnostics
	for _, d := range diags {
		var want, got string
		if n, _ := fmt.Sscanf(d.Msg, "conflicting values %s and %s", &want, &got); n == 2 {
			key := d.Path + "@" + d.Pos.String()
			if g, ok := groups[key]; ok {
				g.want = append(g.want, want)
				continue
			}
			groups[key] = &group{idx: len(out), value: got, want: []string{want}}
			out = append(out, d)
			continue
		}
		out = append(out, d)
	}
	for _, g := range groups {
		if len(g.want) > 1 {
			out[g.idx].Msg = fmt.Sprintf("invalid value %s (want one of %s)", g.value, strings.Join(g.want, ", "))
		}
	}
	// Drop the summary line of a disjunction whose alternatives were listed.
	final := out[:0]
	for _, d := range out {
		if strings.Contains(d.Msg, "errors in empty disjunction") && hasPath(out, d) {
			continue
		}
		// A value that breaks a constraint with a default also conflicts
		// with the default; the constraint's message is the one to read.
		if strings.HasPrefix(d.Msg, "conflicting values ") && hasOther(out, d) {
			continue
		}
		final = append(final, d)
	}
	return final
}

func hasPath(ds Diagnostics, d Diagnostic) bool {
	for _, o := range ds {
		if o.Path == d.Path && o.Msg != d.Msg {
			return true
		}
	}
	return false
}

// friendly rewrites CUE's messages about the schema's well-known
// constraints into words an engineer editing an environment file reads.
func friendly(msg string) string {
	value, bound, ok := strings.Cut(strings.TrimPrefix(msg, "invalid value "), " (out of bound ")
	if !ok || !strings.HasPrefix(msg, "invalid value ") {
		return msg
	}
	bound = strings.TrimSuffix(bound, ")")
	switch {
	case strings.Contains(bound, "(ms|s|m|h|d|w)"):
		return fmt.Sprintf("invalid duration %s: write a number and a unit (ms, s, m, h, d, w) such as 30d, 36h or 1h30m", value)
	case bound == `!=""`:
		return "must not be empty"
	case strings.Contains(bound, "[0-9]{4}-[0-9]{2}-[0-9]{2}"):
		return fmt.Sprintf("invalid date %s: want YYYY-MM-DD", value)
	case strings.Contains(bound, "[a-z0-9]([a-z0-9._-]{0,62}"):
		return fmt.Sprintf("invalid name %s: lower-case letters, digits, '.', '_' and '-', at most 64", value)
	}
	return msg
}

func hasOther(ds Diagnostics, d Diagnostic) bool {
	for _, o := range ds {
		if o.Path == d.Path && !strings.HasPrefix(o.Msg, "conflicting values ") && !strings.Contains(o.Msg, "errors in empty disjunction") {
			return true
		}
	}
	return false
}
