package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/state"
)

func TestImageAndVersion(t *testing.T) {
	u := &state.Unit{Name: "web"}
	for _, tc := range []struct {
		template, running, version string
		wantImage                  string
	}{
		{"", "registry.local:5000/team/web:1.0", "1.1", "registry.local:5000/team/web:1.1"},
		{"", "web@sha256:abcd", "2.0", "web:2.0"},
		{"", "web", "2.0", "web:2.0"},
		{"ghcr.io/xchem/{unit}:{version}", "ghcr.io/xchem/web:1.0", "1.1", "ghcr.io/xchem/web:1.1"},
	} {
		d := &Driver{Target: &state.KubernetesTarget{Image: tc.template}}
		if got := d.image(u, tc.running, tc.version); got != tc.wantImage {
			t.Errorf("image(%q, %q, %q) = %q, want %q", tc.template, tc.running, tc.version, got, tc.wantImage)
		}
	}
	for _, tc := range []struct {
		template, image, want string
	}{
		{"", "registry.local:5000/web:1.0", "1.0"},
		{"", "registry.local:5000/web", "registry.local:5000/web"},
		{"ghcr.io/xchem/web:{version}", "ghcr.io/xchem/web:1.2.3", "1.2.3"},
		// Another repository than the target's: the whole reference, so
		// that it is never taken for a desired version.
		{"ghcr.io/xchem/web:{version}", "evil.example/web:1.2.3", "evil.example/web:1.2.3"},
	} {
		d := &Driver{Target: &state.KubernetesTarget{Image: tc.template}}
		if got := d.versionOf(u, tc.image); got != tc.want {
			t.Errorf("versionOf(%q) with image %q = %q, want %q", tc.image, tc.template, got, tc.want)
		}
	}
}

func TestDiffObjects(t *testing.T) {
	before := map[string]any{
		"metadata": map[string]any{"name": "web", "resourceVersion": "1", "annotations": map[string]any{"gearshift.dev/version": "1.0"}},
		"spec":     map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "web:1.0"}}}}},
		"status":   map[string]any{"replicas": 3},
	}
	after := map[string]any{
		"metadata": map[string]any{"name": "web", "resourceVersion": "2", "annotations": map[string]any{"gearshift.dev/version": "1.1", "gearshift.dev/previous-version": "1.0"}},
		"spec":     map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "web:1.1"}}}}},
		"status":   map[string]any{"replicas": 4},
	}
	got, err := diffObjects(before, after)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`+ metadata.annotations[gearshift.dev/previous-version]: "1.0"`,
		`~ metadata.annotations[gearshift.dev/version]: "1.0" -> "1.1"`,
		`~ spec.template.spec.containers[app].image: "web:1.0" -> "web:1.1"`,
	}
	if len(got) != len(want) {
		t.Fatalf("diff = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestKubeconfigPath(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	p := NewPool("/srv/state")
	for in, want := range map[string]string{
		"":                   "",
		"clusters/prod.yaml": "/srv/state/clusters/prod.yaml",
		"/etc/kube/config":   "/etc/kube/config",
		"~/.kube/config":     filepath.Join(home, ".kube/config"),
	} {
		if got := p.kubeconfigPath(in); got != want {
			t.Errorf("kubeconfigPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExecPluginRefusedConfigs: a plugin that needs a terminal, speaks an
// API gearshift does not, or is declared a variable no shell could pass
// is refused before it runs, naming the kubeconfig and context.
func TestExecPluginRefusedConfigs(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	for _, c := range []struct{ exec, want string }{
		{`{apiVersion: client.authentication.k8s.io/v1, command: touch, args: [` + marker + `], interactiveMode: Always}`,
			`its exec plugin touch needs a terminal (interactiveMode: Always), which gearshift never gives it`},
		{`{apiVersion: client.authentication.k8s.io/v1alpha1, command: touch, args: [` + marker + `]}`,
			`its exec plugin touch speaks "client.authentication.k8s.io/v1alpha1"`},
		{`{apiVersion: client.authentication.k8s.io/v1, command: touch, args: [` + marker + `], interactiveMode: Never, env: [{name: "AWS-PROFILE", value: x}]}`,
			`its exec plugin touch: environment variable name "AWS-PROFILE" is not a shell identifier`},
	} {
		kc := filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: `+c.exec+`}}]
contexts: [{name: eks, context: {cluster: c, user: u}}]
current-context: eks
`), 0o600); err != nil {
			t.Fatal(err)
		}
		tgt := &state.KubernetesTarget{Kubeconfig: kc, Namespace: "default"}
		u := &state.Unit{Name: "web", Version: "1", Target: "k8s"}
		obs := NewPool("").Driver("k8s", tgt, nil).Observe(t.Context(), testEnv("k8s", tgt, u), u)
		want := "unit web on kubernetes target k8s: kubeconfig " + kc + `: the user of context "eks": ` + c.want
		if !strings.HasPrefix(obs.Error, want) {
			t.Errorf("observe with the exec plugin %s:\n%s\nwant\n%s", c.exec, obs.Error, want)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("the exec plugin %s ran", c.exec)
		}
	}
}
