// Package exec is the driver for targets that are the user's own deploy
// commands. Each command is an argv list run by proc: without a shell, with
// a minimal environment (never gearshift's, so never its tokens); gearshift
// and the command speak the small JSON contract of docs/exec-driver.md.
package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/proc"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// FormatVersion is the version of the JSON contract with status commands.
const FormatVersion = "1"

// maxOutput bounds what is read from a command's stdout.
const maxOutput = 1 << 20

// Driver runs an exec target's commands.
type Driver struct {
	Target *state.ExecTarget
	// Dir is where commands run: the state repository's root, so that
	// commands may be scripts kept beside the state.
	Dir string
}

// Status is the document a status command prints on stdout.
type Status struct {
	FormatVersion string            `json:"format_version"`
	Deployed      bool              `json:"deployed"`
	Version       string            `json:"version"`
	DeployedAt    *time.Time        `json:"deployed_at"`
	Health        string            `json:"health"`
	Message       string            `json:"message"`
	Frameworks    map[string]string `json:"frameworks"`
	Checksum      string            `json:"checksum"`
	Previous      *driver.Release   `json:"previous"`
}

// Inventory is the document a status command prints for
// GEARSHIFT_ACTION=inventory.
type Inventory struct {
	FormatVersion string   `json:"format_version"`
	Units         []string `json:"units"`
}

// Observe runs the status command for u.
func (d *Driver) Observe(ctx context.Context, env *state.Environment, u *state.Unit) driver.Observation {
	obs := driver.Observation{Unit: u.Name, Health: driver.HealthUnknown}
	out, err := d.run(ctx, d.Target.Status, d.vars(env, u.Name, u.Version, "status"))
	if err != nil {
		obs.Error = err.Error()
		return obs
	}
	var st Status
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		obs.Error = fmt.Sprintf("status command printed invalid JSON: %v (docs/exec-driver.md)", err)
		return obs
	}
	if st.FormatVersion != FormatVersion {
		obs.Error = fmt.Sprintf("status command printed format_version %q, want %q", st.FormatVersion, FormatVersion)
		return obs
	}
	health := driver.Health(st.Health)
	switch health {
	case "":
		health = driver.HealthUnknown
	case driver.HealthHealthy, driver.HealthUnhealthy, driver.HealthDegraded, driver.HealthUnknown, driver.HealthMissing:
	default:
		obs.Error = fmt.Sprintf("status command printed unknown health %q", st.Health)
		return obs
	}
	if st.Deployed && st.Version == "" {
		obs.Error = "status command says deployed but gives no version"
		return obs
	}
	obs.Deployed = st.Deployed
	obs.Version = st.Version
	if st.DeployedAt != nil {
		obs.DeployedAt = *st.DeployedAt
	}
	obs.Health = health
	if !st.Deployed {
		obs.Health = driver.HealthMissing
	}
	obs.HealthDetail = st.Message
	obs.Frameworks = st.Frameworks
	obs.Checksum = st.Checksum
	obs.Previous = st.Previous
	return obs
}

// Inventory runs the status command with GEARSHIFT_ACTION=inventory.
func (d *Driver) Inventory(ctx context.Context, env *state.Environment, target string) ([]string, error) {
	out, err := d.run(ctx, d.Target.Status, d.vars(env, "", "", "inventory"))
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	var inv Inventory
	if err := json.Unmarshal(out, &inv); err != nil {
		return nil, fmt.Errorf("inventory: status command printed invalid JSON: %w", err)
	}
	sort.Strings(inv.Units)
	return inv.Units, nil
}

// vars is a command's environment on top of proc's minimal one: the
// target's env, then the GEARSHIFT_ variables, which the state cannot fake.
func (d *Driver) vars(env *state.Environment, unit, version, action string) map[string]string {
	v := maps.Clone(d.Target.Env)
	if v == nil {
		v = map[string]string{}
	}
	v["GEARSHIFT_ENVIRONMENT"] = env.Name
	v["GEARSHIFT_ACTION"] = action
	v["GEARSHIFT_UNIT"] = unit
	v["GEARSHIFT_VERSION"] = version
	return v
}

// run runs argv through proc (no shell, the minimal environment plus vars)
// with the target's timeout, and returns its stdout. A non-zero exit is an
// error carrying the last line of stderr.
func (d *Driver) run(ctx context.Context, argv []string, vars map[string]string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	timeout := d.Target.Timeout.Duration
	if timeout <= 0 {
		timeout = time.Minute
	}
	res, err := proc.Run(ctx, proc.Cmd{Argv: argv, Dir: d.Dir, Env: vars, Timeout: timeout, MaxOutput: maxOutput})
	if err != nil {
		return nil, err
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	if res.StdoutTruncated {
		return nil, fmt.Errorf("%s printed more than %d bytes", argv[0], maxOutput)
	}
	return res.Stdout, nil
}
