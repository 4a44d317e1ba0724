package state

import (
	"sort"
	"time"
)

// State is the desired state of one state repository: every environment it
// declares, loaded and validated.
type State struct {
	// Root is the directory of the state repository (it holds cue.mod/).
	Root         string
	Environments map[string]*Environment
}

// Names returns the environment names in order.
func (s *State) Names() []string {
	names := make([]string, 0, len(s.Environments))
	for n := range s.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Environment is one directory environments/<name>: its settings, targets,
// units and the frameworks shared by all environments.
type Environment struct {
	Name       string            `json:"name"`
	DeployFrom DeployFrom        `json:"deployFrom"`
	Promotion  *Promotion        `json:"promotion,omitempty"`
	Policies   Policies          `json:"policies"`
	Variables  map[string]string `json:"variables,omitempty"`
	Targets    map[string]Target `json:"targets"`
	Notify     *Command          `json:"notify,omitempty"`
	// Release, Notifications and GitHub are what an apply publishes
	// (integrations.go).
	Release       *Release       `json:"release,omitempty"`
	Notifications []Notification `json:"notifications,omitempty"`
	GitHub        *GitHubView    `json:"github,omitempty"`

	Units      map[string]*Unit      `json:"-"`
	Frameworks map[string]*Framework `json:"-"`

	// Dir is the environment's directory relative to the state root.
	Dir string `json:"-"`
	// Pos holds the positions of the environment's fields, by CUE path
	// relative to `environment` ("policies.maxAge").
	Pos Positions `json:"-"`
}

// UnitNames returns the unit names in order.
func (e *Environment) UnitNames() []string {
	names := make([]string, 0, len(e.Units))
	for n := range e.Units {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DeployFrom is the git branch, or the pattern of tags, an environment
// deploys from.
type DeployFrom struct {
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
}

// Promotion makes an environment take the versions another one has soaked.
type Promotion struct {
	From string   `json:"from"`
	Soak Duration `json:"soak"`
}

// Policies are the rules an environment's plans are judged by.
type Policies struct {
	LatestFramework string   `json:"latestFramework"`
	MaxAge          Duration `json:"maxAge"`
	VersionPattern  string   `json:"versionPattern,omitempty"`
	Prune           bool     `json:"prune"`
	RequireChecksum bool     `json:"requireChecksum"`
	Windows         []Window `json:"windows,omitempty"`
}

// Policy modes of the latest-framework rule.
const (
	FrameworkDeny = "deny"
	FrameworkWarn = "warn"
	FrameworkBump = "bump"
	FrameworkOff  = "off"
)

// Window is a time when changes may be applied.
type Window struct {
	Days     []string `json:"days"`
	Hours    string   `json:"hours"`
	TimeZone string   `json:"timeZone"`
}

// Target is where units run. Exactly one of its drivers is set.
type Target struct {
	Host       *HostTarget       `json:"host,omitempty"`
	Exec       *ExecTarget       `json:"exec,omitempty"`
	Kubernetes *KubernetesTarget `json:"kubernetes,omitempty"`
}

// Driver names the driver that handles the target.
func (t Target) Driver() string {
	switch {
	case t.Host != nil:
		return "host"
	case t.Exec != nil:
		return "exec"
	case t.Kubernetes != nil:
		return "kubernetes"
	}
	return ""
}

// HostTarget deploys release directories on this machine or over SSH.
type HostTarget struct {
	Local               bool         `json:"local"`
	Hosts               []string     `json:"hosts,omitempty"`
	SSH                 *SSH         `json:"ssh,omitempty"`
	Root                string       `json:"root"`
	Service             string       `json:"service"`
	Systemd             *Systemd     `json:"systemd,omitempty"`
	Command             *ServiceArgv `json:"command,omitempty"`
	KeepReleases        int          `json:"keepReleases"`
	Proxy               *Proxy       `json:"proxy,omitempty"`
	AllowLocalArtifacts bool         `json:"allowLocalArtifacts"`

	// Archive is the target's shared archive directory (nil: each
	// unit's <root>/<unit>/archive).
	Archive *HostArchive `json:"archive,omitempty"`
}

// HostArchive is a host target's archive directory, shared by its units,
// with its own retention (Keep archives per unit).
type HostArchive struct {
	Dir  string `json:"dir"`
	Keep int    `json:"keep"`
}

// SSH is how the host driver reaches remote hosts. Host keys are always
// verified against KnownHosts.
type SSH struct {
	User       string   `json:"user"`
	Port       int      `json:"port"`
	KnownHosts string   `json:"knownHosts"`
	Identity   string   `json:"identity,omitempty"`
	Timeout    Duration `json:"timeout"`
}

// Systemd names the systemd unit of a gearshift unit.
type Systemd struct {
	Unit string `json:"unit"`
}

// ServiceArgv are the commands of the "command" service manager.
type ServiceArgv struct {
	Start  []string `json:"start"`
	Stop   []string `json:"stop"`
	Status []string `json:"status,omitempty"`
}

// Proxy is switched between the slots of a blue/green unit, and takes each
// host out and back in during a rolling deploy (docs/host-layout.md).
type Proxy struct {
	Kind         string   `json:"kind"`
	UpstreamFile string   `json:"upstreamFile,omitempty"`
	Test         []string `json:"test"`
	Reload       []string `json:"reload"`
	PidFile      string   `json:"pidFile,omitempty"`
	// Socket, Backend, Server, StateFile and Host: kind haproxy.
	Socket    string `json:"socket,omitempty"`
	Backend   string `json:"backend,omitempty"`
	Server    string `json:"server,omitempty"`
	StateFile string `json:"stateFile,omitempty"`
	Host      string `json:"host,omitempty"`
	// Switch, Drain and Ready: kind command.
	Switch       []string      `json:"switch,omitempty"`
	Drain        []string      `json:"drain,omitempty"`
	Ready        []string      `json:"ready,omitempty"`
	Confirm      *ProxyConfirm `json:"confirm,omitempty"`
	DrainTimeout Duration      `json:"drainTimeout"`
}

// ProxyConfirm is how a switch is confirmed from outside: Count
// consecutive responses of URL (each on a new connection) whose body
// contains Body.
type ProxyConfirm struct {
	URL     string   `json:"url"`
	Body    string   `json:"body"`
	Count   int      `json:"count"`
	Timeout Duration `json:"timeout"`
}

// ExecTarget delegates to the user's own commands (docs/exec-driver.md).
type ExecTarget struct {
	Status  []string          `json:"status"`
	Deploy  []string          `json:"deploy"`
	Timeout Duration          `json:"timeout"`
	Env     map[string]string `json:"env,omitempty"`
}

// KubernetesTarget is a Deployment, StatefulSet or DaemonSet.
type KubernetesTarget struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
	Namespace  string `json:"namespace"`
	Workload   string `json:"workload"`
	Name       string `json:"name,omitempty"`
	Container  string `json:"container,omitempty"`
	Image      string `json:"image,omitempty"`
	// RolloutTimeout bounds a rollout of a unit that declares no health
	// check (whose health.timeout bounds it otherwise).
	RolloutTimeout Duration `json:"rolloutTimeout"`
}

// Framework is a dependency every unit must be built against.
type Framework struct {
	Name      string   `json:"name"`
	Latest    string   `json:"latest"`
	Releases  string   `json:"releases,omitempty"`
	TagPrefix string   `json:"tagPrefix,omitempty"`
	Released  string   `json:"released,omitempty"`
	Grace     Duration `json:"grace"`

	Pos Positions `json:"-"`
}

// Unit is a gear or a stack in one environment.
type Unit struct {
	Name       string            `json:"name"`
	Kind       string            `json:"kind"`
	Version    string            `json:"version"`
	Artifact   *Artifact         `json:"artifact,omitempty"`
	Frameworks map[string]string `json:"frameworks,omitempty"`
	Target     string            `json:"target"`
	Strategy   string            `json:"strategy"`
	Rolling    *Rolling          `json:"rolling,omitempty"`
	Port       int               `json:"port,omitempty"`
	BlueGreen  *BlueGreen        `json:"bluegreen,omitempty"`
	Run        *Command          `json:"run,omitempty"`
	Health     *Health           `json:"health,omitempty"`
	Test       *Check            `json:"test,omitempty"`
	Verify     *Check            `json:"verify,omitempty"`
	Smoke      *Check            `json:"smoke,omitempty"`
	DependsOn  []string          `json:"dependsOn,omitempty"`
	MaxAge     *Duration         `json:"maxAge,omitempty"`
	Track      *Track            `json:"track,omitempty"`
	Waivers    []Waiver          `json:"waivers,omitempty"`
	// Release and EnvironmentURL: integrations.go.
	Release        *Release `json:"release,omitempty"`
	EnvironmentURL string   `json:"environmentURL,omitempty"`

	// BuiltAgainst and Rebuild: the framework a unit was really built
	// against, and how bump rebuilds it (framework.go).
	BuiltAgainst *BuiltAgainst `json:"builtAgainst,omitempty"`
	Rebuild      *Rebuild      `json:"rebuild,omitempty"`

	// Pos holds the positions of the unit's fields, by CUE path relative to
	// the unit ("version", "frameworks.gearframe", "waivers.0.until").
	Pos Positions `json:"-"`
}

// Strategies.
const (
	StrategyRecreate  = "recreate"
	StrategyRolling   = "rolling"
	StrategyBlueGreen = "bluegreen"
)

// Artifact is where a unit's release comes from.
type Artifact struct {
	Source   string `json:"source"`
	Checksum string `json:"checksum,omitempty"`
	// MaxUnpackedSize bounds what the archive unpacks to ("1GiB" by
	// default; artifact.ParseSize reads it).
	MaxUnpackedSize string `json:"maxUnpackedSize,omitempty"`
}

// Rolling configures a rolling deploy across a target's hosts.
type Rolling struct {
	MaxUnavailable int `json:"maxUnavailable"`
}

// BlueGreen are the ports of the two slots.
type BlueGreen struct {
	Ports [2]int `json:"ports"`
}

// Command is an argv with its environment.
type Command struct {
	Command []string          `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
}

// Health is how a unit is known to be healthy.
type Health struct {
	HTTP     *HTTPCheck `json:"http,omitempty"`
	Command  []string   `json:"command,omitempty"`
	Timeout  Duration   `json:"timeout"`
	Interval Duration   `json:"interval"`
}

// HTTPCheck expects a status and optionally a body substring.
type HTTPCheck struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
	Body   string `json:"body,omitempty"`
}

// Check is a test or verify command.
type Check struct {
	Command []string          `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	Timeout Duration          `json:"timeout"`
}

// Track says which new releases of a unit bump proposes.
type Track struct {
	Source    string `json:"source"`
	TagPrefix string `json:"tagPrefix,omitempty"`
	// TagPattern says which tags are releases and which part of one
	// orders them (CompileTagPattern).
	TagPattern string `json:"tagPattern,omitempty"`
	Level      string `json:"level"`
}

// Waiver accepts a rule's violation for a unit until a date.
type Waiver struct {
	Rule   string `json:"rule"`
	Until  string `json:"until"`
	Reason string `json:"reason"`
}

// Expiry is the end of the waiver's last day, in UTC.
func (w Waiver) Expiry() time.Time {
	t, err := time.Parse(time.DateOnly, w.Until)
	if err != nil {
		return time.Time{}
	}
	return t.Add(24 * time.Hour)
}
