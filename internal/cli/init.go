package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/pflag"

	gearshift "github.com/gearshift-dev/gearshift"
	"github.com/gearshift-dev/gearshift/internal/durable"
)

func initCmd() *command {
	var force bool
	var envName, root string
	return &command{
		name:    "init",
		usage:   "init [DIR]",
		summary: "Create a new state repository in DIR: one environment on this machine, an example unit, the workflows.",
		example: "  gearshift init my-state\n" +
			"  gearshift init my-state --env dev --root /var/tmp/my-state\n" +
			"  cd my-state && gearshift validate && gearshift plan",
		noState: true,
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&force, "force", false, "write into a directory that is not empty (an existing file is still never overwritten)")
			fs.StringVar(&envName, "env", "dev", "the name of the environment to create")
			fs.StringVar(&root, "root", "", "the directory on this machine the environment deploys into (default $XDG_STATE_HOME/gearshift/local/<DIR's name>)")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("takes one directory, not %d arguments", len(args))
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return e.initRepo(dir, envName, root, force)
		},
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

// initRepo writes a new state repository into dir: every file is written
// whole (a temporary file linked into place), and none replaces a file
// that is there; nothing is written when one would.
func (e *env) initRepo(dir, envName, root string, force bool) error {
	if !nameRE.MatchString(envName) {
		return fmt.Errorf("--env %q is not a name (lower-case letters, digits, '.', '_' and '-')", envName)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0 && !force:
		return fmt.Errorf("%s is not empty: init writes a new state repository into an empty directory (--force writes beside what is there, never over it)", dir)
	}
	base := moduleName(filepath.Base(abs))
	if root == "" {
		stateHome := e.getenv("XDG_STATE_HOME")
		if stateHome == "" {
			home := e.getenv("HOME")
			if home == "" {
				return errors.New("neither XDG_STATE_HOME nor HOME is set: say where the environment deploys with --root")
			}
			stateHome = filepath.Join(home, ".local", "state")
		}
		root = filepath.Join(stateHome, "gearshift", "local", base)
	}
	if !filepath.IsAbs(root) {
		if root, err = filepath.Abs(root); err != nil {
			return err
		}
	}
	files, err := initFiles(base, envName, root, releaseTag(Version))
	if err != nil {
		return err
	}
	// Every file is checked before any is written.
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(abs, f.path)); err == nil {
			return fmt.Errorf("%s exists: init never overwrites a file", filepath.Join(dir, f.path))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, f := range files {
		if err := writeNew(filepath.Join(abs, f.path), f.data); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "  created %s\n", filepath.ToSlash(f.path))
	}
	fmt.Fprintf(e.stdout, "Initialized a state repository in %s: environment %s deploys on this machine into %s.\n", dir, envName, root)
	fmt.Fprintf(e.stdout, "Next: cd %s && gearshift validate && gearshift plan (docs/tutorial.md walks on from there).\n", dir)
	return nil
}

// writeNew writes path whole or not at all, and never over a file: the
// data goes to a temporary file that is linked to path, which fails when
// path exists.
func writeNew(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := durable.TempFile(dir, ".gearshift-init-*", data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists: init never overwrites a file", path)
		}
		return err
	}
	return nil
}

// moduleName makes a CUE module path element of a directory's name.
func moduleName(s string) string {
	s = strings.ToLower(s)
	s = regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(s, "-")
	s = strings.Trim(s, "-")
	if s == "" {
		return "state"
	}
	return s
}

type initFile struct {
	path string
	data []byte
}

// releaseVersionRE is a release tag, as the action's version input takes it.
var releaseVersionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// releaseTag is v when this binary is a release (its ldflags version is a
// release tag), else "": a build from source pins nothing.
func releaseTag(v string) string {
	if releaseVersionRE.MatchString(v) {
		return v
	}
	return ""
}

// versionVar is how the workflows name the gearshift the action runs.
const versionVar = "${{ vars.GEARSHIFT_VERSION }}"

// initFiles lists the files of a new state repository. With release (the
// tag of this binary), the workflows run that release unless the
// repository variable GEARSHIFT_VERSION names another; without it they are
// this repository's, byte for byte.
func initFiles(base, envName, root, release string) ([]initFile, error) {
	files := []initFile{
		{"cue.mod/module.cue", fmt.Appendf(nil, "module: %q\nlanguage: {\n\tversion: \"v0.17.0\"\n}\n", "gearshift.example/"+base+"@v0")},
		{"environments/frameworks.cue", []byte(initFrameworks)},
		{filepath.Join("environments", envName, "environment.cue"), fmt.Appendf(nil, initEnvironment, envName, envName, root)},
		{filepath.Join("environments", envName, "units.cue"), []byte(initUnits)},
		{"README.md", fmt.Appendf(nil, initReadme, base, envName, root, envName, envName, envName, envName)},
		{".gitignore", []byte("# gearshift keeps nothing in the state repository; this is yours.\n")},
	}
	for _, p := range gearshift.WorkflowFiles {
		b, err := gearshift.Workflows.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if release != "" {
			b = bytes.ReplaceAll(b, []byte(versionVar), []byte("${{ vars.GEARSHIFT_VERSION || '"+release+"' }}"))
		}
		files = append(files, initFile{p, b})
	}
	return files, nil
}

const initFrameworks = `package gearshift

// Files directly in environments/ are shared by every environment.
//
// frameworks are what every unit must be built against; a unit names the
// versions it is built with, and the environment's latestFramework policy
// judges them. For example:
//
//   frameworks: gearframe: {latest: "1.4.0", releases: "https://github.com/acme/gearframe.git", grace: "7d"}
`

const initEnvironment = `package gearshift

// %s deploys on this machine: the host driver keeps each unit's releases
// under root (<root>/<unit>/releases/<id>/, <unit>/current), and the lock
// and journal of an apply in <root>/.gearshift. Nothing here needs root.
environment: {
	name: %q
	// apply refuses any other branch of the state repository.
	deployFrom: branch: "main"
	policies: {
		// Every unit is redeployed at least this often.
		maxAge: "30d"
		// Units that run but are no longer declared here are removed.
		prune: true
	}
	targets: local: host: {
		// This machine. Other machines: hosts: [...] and ssh: {...}.
		local: true
		root:  %q
	}
}
`

const initUnits = `package gearshift

// hello is an example unit: a gear on the target "local". Change its
// version and run gearshift plan, then gearshift apply: each version is a
// release directory, started with run.command by the process service
// manager; the releases before it are kept for gearshift rollback.
units: hello: {
	kind: "gear"
	// version is the desired version.
	version: "1.0.0"
	target:  "local"
	// A real unit names its release archive; {version} is replaced and the
	// checksum is verified before anything is deployed:
	//   artifact: {source: "https://releases.example/hello-{version}.tar.gz", checksum: "sha256:..."}
	// Without one, each release is an empty directory ("config only").
	run: {
		// Runs in the release directory, never through a shell; the
		// process is stopped when another release takes its place.
		command: ["sleep", "infinity"]
		env: HELLO_VERSION: version
	}
	// A unit that serves HTTP says how to tell it is healthy:
	//   port:   8080
	//   health: http: {url: "http://127.0.0.1:8080/healthz", body: "ok"}
	//
	// gearshift bump proposes newer releases from the tags of a git
	// repository (docs/tutorial.md):
	//   track: {source: "https://github.com/acme/hello.git", level: "minor"}
}
`

const initReadme = "# %s: a gearshift state repository\n\n" +
	"The desired version of every unit, in every environment, as CUE.\n" +
	"[gearshift](https://github.com/gearshift-dev/gearshift) validates it,\n" +
	"plans what must change and applies it.\n\n" +
	"- `cue.mod/module.cue`: this is a CUE module.\n" +
	"- `environments/*.cue`: shared by every environment (frameworks).\n" +
	"- `environments/%s/`: the environment, deploying on this machine into\n" +
	"  `%s`, and its units (`units.cue`: the example unit `hello`).\n" +
	"- `.github/workflows/`: `plan` comments the plan on each pull request,\n" +
	"  `reconcile` applies the merged state, `bump` opens pull requests for new\n" +
	"  releases; `.github/actions/gearshift` runs gearshift in them.\n\n" +
	"## Use it\n\n" +
	"    gearshift validate          # every mistake with file:line:column\n" +
	"    gearshift plan %s           # what would change and why\n" +
	"    gearshift apply %s          # make it so\n" +
	"    gearshift status %s         # what runs, and its health\n" +
	"    gearshift rollback %s hello # back to the release before\n\n" +
	"Change a unit's `version`, plan, apply. A new environment is a new\n" +
	"directory under `environments/`. `gearshift schema` prints the schema\n" +
	"these files are checked against; the tutorial is gearshift's\n" +
	"`docs/tutorial.md`.\n"
