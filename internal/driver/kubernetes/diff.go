package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// Diff asks the API server for a server-side dry run of the patch a
// deploy of u's desired version would send, and returns what it would
// change on the workload, one "path: old -> new" line per field (status
// and metadata the server keeps are left out). The cluster is not changed.
func (d *Driver) Diff(ctx context.Context, env *state.Environment, u *state.Unit) (string, error) {
	ch, err := d.plan(ctx, u, d.now())
	if err != nil {
		return "", d.wrap(u, err)
	}
	if ch.verb == "wait" {
		return fmt.Sprintf("%s: the rollout of %s is in progress: nothing to patch, apply waits for it", ch.ref, ch.o.Image), nil
	}
	after, err := d.apply(ctx, ch, true)
	if err != nil {
		return "", d.wrap(u, err)
	}
	lines, err := diffObjects(ch.w.Object, after.Object)
	if err != nil {
		return "", d.wrap(u, err)
	}
	if len(lines) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%s (server-side dry run, field manager %s):\n%s", ch.ref, FieldManager, strings.Join(lines, "\n")), nil
}

// ignored are the fields of an object that a diff of what a patch changes
// leaves out: what the server keeps for itself.
var ignored = map[string]bool{
	"status": true, "metadata.managedFields": true, "metadata.resourceVersion": true,
	"metadata.generation": true, "metadata.uid": true, "metadata.creationTimestamp": true,
}

func diffObjects(before, after any) ([]string, error) {
	a, err := flat(before)
	if err != nil {
		return nil, err
	}
	b, err := flat(after)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var lines []string
	for k := range keys {
		va, ina := a[k]
		vb, inb := b[k]
		switch {
		case ina && inb && va == vb:
		case !ina:
			lines = append(lines, fmt.Sprintf("+ %s: %s", k, vb))
		case !inb:
			lines = append(lines, fmt.Sprintf("- %s: %s", k, va))
		default:
			lines = append(lines, fmt.Sprintf("~ %s: %s -> %s", k, va, vb))
		}
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	return lines, nil
}

// flat turns an object into its leaves by path; a list's items are named
// by their "name" when they have one (containers), else by index.
func flat(obj any) (map[string]string, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if ignored[path] {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := k
				if strings.ContainsAny(k, "./") {
					p = "[" + k + "]"
				} else if path != "" {
					p = "." + k
				}
				walk(path+p, e)
			}
		case []any:
			for i, e := range x {
				key := fmt.Sprint(i)
				if m, ok := e.(map[string]any); ok {
					if n, ok := m["name"].(string); ok {
						key = n
					}
				}
				walk(fmt.Sprintf("%s[%s]", path, key), e)
			}
		default:
			b, _ := json.Marshal(x)
			out[path] = string(b)
		}
	}
	walk("", v)
	return out, nil
}
