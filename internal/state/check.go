package state

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// checkState runs the checks the schema cannot express: references between
// units, targets and environments, dependency cycles, regular expressions,
// time zones, semantic versions, tag patterns, waivers, and what a host
// target's driver needs of a unit.
func checkState(st *State, opts Options) Diagnostics {
	var diags Diagnostics
	all, _ := Discover(st.Root)
	envs := map[string]bool{}
	for _, n := range all {
		envs[n] = true
	}
	for _, name := range st.Names() {
		diags = append(diags, checkEnvironment(st.Environments[name], envs, opts)...)
	}
	return diags
}

func checkEnvironment(env *Environment, envs map[string]bool, opts Options) Diagnostics {
	var diags Diagnostics
	at := func(path string, format string, args ...any) {
		diags = append(diags, Diagnostic{Pos: env.Pos.Of(path), Path: join("environment", path), Msg: fmt.Sprintf(format, args...)})
	}
	df := env.DeployFrom
	switch {
	case df.Branch == "" && df.Tag == "":
		at("deployFrom", "deployFrom needs a branch or a tag pattern")
	case df.Branch != "" && df.Tag != "":
		at("deployFrom.tag", "deployFrom takes a branch or a tag pattern, not both")
	}
	if df.Tag != "" {
		if _, err := regexp.Compile(df.Tag); err != nil {
			at("deployFrom.tag", "invalid tag pattern: %v", err)
		}
	}
	if p := env.Promotion; p != nil {
		switch {
		case p.From == env.Name:
			at("promotion.from", "an environment cannot be promoted from itself")
		case !envs[p.From]:
			at("promotion.from", "promotion source %q is not an environment of this repository", p.From)
		}
	}
	if vp := env.Policies.VersionPattern; vp != "" {
		if _, err := regexp.Compile(vp); err != nil {
			at("policies.versionPattern", "invalid version pattern: %v", err)
		}
	}
	for i, w := range env.Policies.Windows {
		if _, err := ParseWindow(w); err != nil {
			field := "hours"
			switch msg := err.Error(); {
			case strings.Contains(msg, "time zone"):
				field = "timeZone"
			case strings.Contains(msg, "day "):
				field = "days"
			}
			at(fmt.Sprintf("policies.windows.%d.%s", i, field), "invalid deploy window: %v", err)
		}
	}
	for _, tn := range sortedKeys(env.Targets) {
		diags = append(diags, checkTarget(env, tn, env.Targets[tn])...)
	}
	for _, fn := range sortedKeys(env.Frameworks) {
		f := env.Frameworks[fn]
		if _, err := ParseVersion(f.Latest); err != nil {
			diags = append(diags, Diagnostic{Pos: f.Pos.Of("latest"), Path: "frameworks." + fn + ".latest", Msg: err.Error()})
		}
	}
	for _, un := range env.UnitNames() {
		diags = append(diags, checkUnit(env, env.Units[un], opts)...)
	}
	diags = append(diags, checkCycles(env)...)
	diags = append(diags, checkIntegrations(env)...)
	return diags
}

func checkTarget(env *Environment, name string, t Target) Diagnostics {
	var diags Diagnostics
	at := func(path string, format string, args ...any) {
		p := join("targets."+name, path)
		diags = append(diags, Diagnostic{Pos: env.Pos.Of(p), Path: "environment." + p, Msg: fmt.Sprintf(format, args...)})
	}
	n := 0
	for _, set := range []bool{t.Host != nil, t.Exec != nil, t.Kubernetes != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		at("", "target %q must set exactly one of host, exec and kubernetes", name)
		return diags
	}
	if k := t.Kubernetes; k != nil && k.Image != "" && !strings.Contains(k.Image, "{version}") {
		at("kubernetes.image", "the image of kubernetes target %q must contain {version}: it is the image of each version (it is %q)", name, k.Image)
	}
	if h := t.Host; h != nil {
		switch {
		case h.Local && len(h.Hosts) > 0:
			at("host.hosts", "a local host target takes no hosts")
		case !h.Local && len(h.Hosts) == 0:
			at("host", "a host target needs hosts (over SSH) or local: true")
		case !h.Local && h.SSH == nil:
			at("host.hosts", "remote hosts need an ssh block with user and knownHosts")
		}
		switch h.Service {
		case "systemd":
			if h.Systemd == nil {
				h.Systemd = &Systemd{Unit: "{unit}.service"}
			}
		case "command":
			if h.Command == nil {
				at("host.service", "service \"command\" needs a command block with start and stop")
			}
		}
		if p := h.Proxy; p != nil {
			switch p.Kind {
			case "", "nginx":
				if p.UpstreamFile == "" {
					at("host.proxy.kind", "proxy kind nginx needs upstreamFile")
				}
			case "haproxy":
				if p.Socket == "" {
					at("host.proxy.kind", "proxy kind haproxy needs socket (its stats socket, level admin)")
				}
			case "command":
				if len(p.Switch) == 0 && len(p.Drain) == 0 {
					at("host.proxy.kind", "proxy kind command needs switch (blue/green) or drain and ready (rolling)")
				}
				if (len(p.Drain) == 0) != (len(p.Ready) == 0) {
					at("host.proxy.kind", "proxy kind command needs both drain and ready, or neither")
				}
			}
		}
	}
	return diags
}

func checkUnit(env *Environment, u *Unit, opts Options) Diagnostics {
	var diags Diagnostics
	at := func(path string, format string, args ...any) {
		diags = append(diags, Diagnostic{Pos: u.Pos.Of(path), Path: join("units."+u.Name, path), Msg: fmt.Sprintf(format, args...)})
	}
	t, ok := env.Targets[u.Target]
	if !ok {
		at("target", "unit %q names target %q, which environment %s does not declare (targets: %s)",
			u.Name, u.Target, env.Name, strings.Join(sortedKeys(env.Targets), ", "))
	}
	for i, d := range u.DependsOn {
		switch {
		case d == u.Name:
			at(fmt.Sprintf("dependsOn.%d", i), "unit %q depends on itself", u.Name)
		case env.Units[d] == nil:
			at(fmt.Sprintf("dependsOn.%d", i), "dependsOn names unit %q, which environment %s does not declare%s", d, env.Name, didYouMean(d, env.UnitNames()))
		}
	}
	for _, fn := range sortedKeys(u.Frameworks) {
		if env.Frameworks[fn] == nil {
			at("frameworks."+fn, "unknown framework %q (declare it under frameworks)", fn)
			continue
		}
		if _, err := ParseVersion(u.Frameworks[fn]); err != nil {
			at("frameworks."+fn, "%v", err)
		}
	}
	if u.Track != nil {
		diags = append(diags, checkTrack(u)...)
	}
	diags = append(diags, checkFramework(u)...)
	if ok && t.Host != nil {
		diags = append(diags, checkHostUnit(env, u, t.Host)...)
	}
	if ok && t.Kubernetes != nil && u.Health != nil && len(u.Health.Command) > 0 {
		// It would run nowhere: the driver has no host to run it on, and
		// a check that silently never runs is worse than none.
		at("health.command", "unit %s runs on kubernetes target %s, where health.command has no host to run on: "+
			"use health.http (probed from where gearshift runs), the workload's readinessProbe, or verify", u.Name, u.Target)
	}
	switch u.Strategy {
	case StrategyBlueGreen:
		if u.BlueGreen == nil {
			at("strategy", "strategy bluegreen needs bluegreen: ports: [BLUE, GREEN]")
		} else if u.BlueGreen.Ports[0] == u.BlueGreen.Ports[1] {
			at("bluegreen.ports", "the blue and green ports must differ")
		}
		if ok && t.Host != nil && t.Host.Proxy == nil {
			at("strategy", "strategy bluegreen on target %q needs a proxy on the target", u.Target)
		}
		if ok && t.Host != nil && t.Host.Proxy != nil && t.Host.Proxy.Kind == "command" && len(t.Host.Proxy.Switch) == 0 {
			at("strategy", "strategy bluegreen on target %q needs the proxy's switch command (its kind is command)", u.Target)
		}
	case StrategyRolling:
		if ok && t.Host != nil && t.Host.Local {
			// One local host: a rolling deploy is a recreate; allowed.
			break
		}
	}
	if ok && env.Policies.RequireChecksum && u.Artifact != nil && u.Artifact.Checksum == "" {
		at("artifact", "environment %s requires a checksum for every artifact", env.Name)
	}
	for i, w := range u.Waivers {
		p := fmt.Sprintf("waivers.%d", i)
		until, err := time.Parse(time.DateOnly, w.Until)
		if err != nil {
			at(p+".until", "invalid date %q: want YYYY-MM-DD", w.Until)
			continue
		}
		if !opts.KeepExpiredWaivers && !until.Add(24*time.Hour).After(opts.Now()) {
			at(p+".until", "waiver of %s expired on %s: renew it with a new date and reason, or remove it", w.Rule, w.Until)
		}
		if strings.TrimSpace(w.Reason) == "" {
			at(p+".reason", "a waiver needs a reason")
		}
	}
	return diags
}

// checkTrack checks what bump needs to order a tracked unit's releases
// (gitops.LatestVersion): a tag pattern that compiles and matches the
// unit's version, and a semantic version where the level reads one.
func checkTrack(u *Unit) Diagnostics {
	var diags Diagnostics
	at := func(path string, format string, args ...any) {
		diags = append(diags, Diagnostic{Pos: u.Pos.Of(path), Path: join("units."+u.Name, path), Msg: fmt.Sprintf(format, args...)})
	}
	tr := u.Track
	if tr.TagPattern == "" {
		if tr.Level != "none" {
			if _, err := ParseVersion(u.Version); err != nil {
				at("version", "a tracked unit needs a semantic version, or a track.tagPattern for tags of another shape: %v", err)
			}
		}
		return diags
	}
	p, err := CompileTagPattern(tr.TagPattern)
	if err != nil {
		at("track.tagPattern", "invalid tag pattern: %v", err)
		return diags
	}
	if tr.Level == "none" {
		return diags
	}
	part, ok := p.Version(u.Version)
	if !ok {
		at("version", "version %q does not match track.tagPattern %q, so bump cannot order it among the releases", u.Version, tr.TagPattern)
		return diags
	}
	level := tr.Level
	if level == "" {
		level = "minor"
	}
	if _, err := ParseVersion(part); err != nil && (level == "patch" || level == "minor") {
		// A level left to its default is written nowhere: the pattern
		// is what makes it wrong.
		pos := u.Pos.Of("track.tagPattern")
		if p, ok := u.Pos["track.level"]; ok {
			pos = p
		}
		diags = append(diags, Diagnostic{Pos: pos, Path: join("units."+u.Name, "track.level"), Msg: fmt.Sprintf(
			"track.level %s needs a semantic version in the version group of track.tagPattern, and %q of %q is not one: "+
				"capture MAJOR.MINOR.PATCH, or use level \"major\" to take any newer release in the numeric-aware order", level, part, u.Version)})
	}
	return diags
}

// checkHostUnit checks, at validate time, what the host driver would
// otherwise refuse only when it deploys the unit (host.Driver.check).
func checkHostUnit(env *Environment, u *Unit, h *HostTarget) Diagnostics {
	var diags Diagnostics
	add := func(posPath, path string, format string, args ...any) {
		diags = append(diags, Diagnostic{Pos: u.Pos.Of(posPath), Path: join("units."+u.Name, path), Msg: fmt.Sprintf(format, args...)})
	}
	switch h.Service {
	case "", "process":
		if u.Run == nil || len(u.Run.Command) == 0 {
			add("target", "run", "unit %s runs on target %s, whose service manager is process, and has no run.command to start a release with "+
				"(or set the target's service to systemd or command)", u.Name, u.Target)
		}
	}
	if u.Strategy != StrategyBlueGreen {
		return diags
	}
	if u.Health != nil && u.Health.HTTP != nil && !strings.Contains(u.Health.HTTP.URL, "{port}") {
		add("health.http.url", "health.http.url", "blue/green unit %s needs {port} in its health URL, so that the new slot is checked on its own port before the proxy switches", u.Name)
	}
	if h.Service == "systemd" {
		tmpl, where := "{unit}.service", "the default"
		if h.Systemd != nil && h.Systemd.Unit != "" {
			tmpl = h.Systemd.Unit
			if pos, ok := env.Pos["targets."+u.Target+".host.systemd.unit"]; ok {
				where = pos.String()
			}
		}
		if !strings.Contains(tmpl, "{slot}") {
			add("strategy", "strategy", "blue/green unit %s on target %s needs {slot} in the target's systemd.unit (e.g. \"{unit}@{slot}.service\") so that both slots can run; it is %q (%s)",
				u.Name, u.Target, tmpl, where)
		}
	}
	return diags
}

// checkCycles reports each dependency cycle once, as a -> b -> a.
func checkCycles(env *Environment) Diagnostics {
	var diags Diagnostics
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string)
	visit = func(n string) {
		state[n] = active
		stack = append(stack, n)
		u := env.Units[n]
		for i, d := range u.DependsOn {
			if env.Units[d] == nil || d == n {
				continue
			}
			switch state[d] {
			case unvisited:
				visit(d)
			case active:
				start := 0
				for j, s := range stack {
					if s == d {
						start = j
					}
				}
				cycle := append(append([]string{}, stack[start:]...), d)
				p := fmt.Sprintf("dependsOn.%d", i)
				diags = append(diags, Diagnostic{Pos: u.Pos.Of(p), Path: join("units."+n, p),
					Msg: "dependency cycle: " + strings.Join(cycle, " -> ")})
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
	}
	for _, n := range env.UnitNames() {
		if state[n] == unvisited {
			visit(n)
		}
	}
	return diags
}
