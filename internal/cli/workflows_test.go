package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// The workflows' supply-chain and token rules (issue 8, item 11), checked
// on the parsed YAML so that a new step or job cannot slip past them:
//
//   - every remote `uses:` names a full commit SHA, with the tag it stands
//     for in a comment (`actions/checkout@<40 hex> # v4.4.0`);
//   - the workflow-level permissions are read-only;
//   - `contents: write` only on a job that pushes, `pull-requests: write`
//     only on a job that comments on or opens pull requests;
//   - every actions/checkout in a job that does not push sets
//     `persist-credentials: false`, so no token is left in .git/config.
//
// A job pushes when it runs gearshift apply (the status branch; not with
// --no-status), bump, promote or rollback --pr through the composite
// action, or runs `git push`. It comments when it runs gearshift plan
// (the sticky comment) or one of the commands that open pull requests.

// workflowProblems returns every rule the workflow (or composite action)
// in data breaks, each as "<file>:<line>: <problem>".
func workflowProblems(name string, data []byte) ([]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty document", name)
	}
	root := doc.Content[0]
	var problems []string
	add := func(n *yaml.Node, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", name, n.Line, fmt.Sprintf(format, args...)))
	}

	// Pinned actions, wherever a uses: appears (steps, reusable workflows,
	// composite actions).
	walk(root, func(key, value *yaml.Node) {
		if key.Value != "uses" {
			return
		}
		ref := value.Value
		switch {
		case strings.HasPrefix(ref, "./"):
			return // this repository's own action, at the commit being run
		case strings.HasPrefix(ref, "docker://"):
			if !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(ref) {
				add(value, "%s is not pinned by digest", ref)
			}
			return
		}
		if !pinnedRE.MatchString(ref) {
			add(value, "%s is not pinned by a full commit SHA", ref)
			return
		}
		comment := value.LineComment
		if comment == "" {
			comment = key.LineComment
		}
		if !tagCommentRE.MatchString(comment) {
			add(value, "%s does not name its tag in a comment (# v1.2.3)", ref)
		}
	})

	if _, isAction := mapGet(root, "runs"); isAction {
		return problems, nil
	}
	if perms, ok := mapGet(root, "permissions"); !ok {
		add(root, "no workflow-level permissions: the default token may write")
	} else {
		for scope, level := range permissionsOf(perms) {
			if level != "read" && level != "none" {
				add(perms, "workflow-level permission %s: %s, want read-only (grant write on the job that needs it)", scope, level)
			}
		}
	}
	jobs, _ := mapGet(root, "jobs")
	for i := 0; jobs != nil && i+1 < len(jobs.Content); i += 2 {
		jobName, job := jobs.Content[i].Value, jobs.Content[i+1]
		pushes, comments := jobEffects(job)
		if perms, ok := mapGet(job, "permissions"); ok {
			got := permissionsOf(perms)
			if got["contents"] == "write" && !pushes {
				add(perms, "job %s has contents: write but does not push", jobName)
			}
			if got["pull-requests"] == "write" && !comments {
				add(perms, "job %s has pull-requests: write but neither comments nor opens pull requests", jobName)
			}
		}
		steps, _ := mapGet(job, "steps")
		for _, step := range nodes(steps) {
			uses, _ := mapGet(step, "uses")
			if uses == nil || !strings.HasPrefix(uses.Value, "actions/checkout@") || pushes {
				continue
			}
			with, _ := mapGet(step, "with")
			if pc, _ := mapGet(with, "persist-credentials"); pc == nil || pc.Value != "false" {
				add(uses, "checkout in job %s, which does not push, keeps its credential (want persist-credentials: false)", jobName)
			}
		}
	}
	return problems, nil
}

var (
	pinnedRE     = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$`)
	tagCommentRE = regexp.MustCompile(`^#\s*v[0-9]+(\.[0-9]+)*\S*$`)
	// pushingCommands are the gearshift commands that push (apply: the
	// status branch) and the ones that open pull requests.
	pushingCommands = []string{"apply", "reconcile", "bump", "promote", "rollback"}
)

// jobEffects says whether job pushes, and whether it writes to pull
// requests (comments, or opens them).
func jobEffects(job *yaml.Node) (pushes, comments bool) {
	steps, _ := mapGet(job, "steps")
	for _, step := range nodes(steps) {
		if run, ok := mapGet(step, "run"); ok && regexp.MustCompile(`\bgit\s+push\b`).MatchString(run.Value) {
			pushes = true
		}
		uses, _ := mapGet(step, "uses")
		if uses == nil || uses.Value != "./.github/actions/gearshift" {
			continue
		}
		with, _ := mapGet(step, "with")
		command, _ := mapGet(with, "command")
		args, _ := mapGet(with, "args")
		var cmd, argv string
		if command != nil {
			cmd = command.Value
		}
		if args != nil {
			argv = args.Value
		}
		switch {
		case cmd == "plan":
			comments = true
		case cmd == "rollback" && !strings.Contains(argv, "--pr"):
		case (cmd == "apply" || cmd == "reconcile") && strings.Contains(argv, "--no-status"):
		case slices.Contains(pushingCommands, cmd):
			pushes = true
			comments = comments || cmd != "apply" && cmd != "reconcile"
		}
	}
	return pushes, comments
}

// permissionsOf reads a permissions block: a mapping of scope to level, or
// one of read-all / write-all.
func permissionsOf(n *yaml.Node) map[string]string {
	out := map[string]string{}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Value {
		case "write-all":
			out["*"] = "write"
		case "read-all":
			out["*"] = "read"
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = n.Content[i+1].Value
		}
	}
	return out
}

func mapGet(n *yaml.Node, key string) (*yaml.Node, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], true
		}
	}
	return nil, false
}

func nodes(seq *yaml.Node) []*yaml.Node {
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	return seq.Content
}

// walk calls f for every key/value pair of every mapping under n.
func walk(n *yaml.Node, f func(key, value *yaml.Node)) {
	if n == nil {
		return
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			f(n.Content[i], n.Content[i+1])
		}
	}
	for _, c := range n.Content {
		walk(c, f)
	}
}

func TestWorkflowsPinnedAndLeastPrivilege(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	actions, _ := filepath.Glob(filepath.Join(root, ".github", "actions", "*", "action.yml"))
	files = append(files, actions...)
	if len(files) < 5 {
		t.Fatalf("want the four workflows and the composite action, found %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		problems, err := workflowProblems(rel, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Error(p)
		}
	}
}

// TestWorkflowProblems shows that each rule catches what it is for: a
// checker that finds nothing in a bad workflow would pass the test above
// for the wrong reason.
func TestWorkflowProblems(t *testing.T) {
	const sha = "11d5960a326750d5838078e36cf38b85af677262"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"clean", `
permissions:
  contents: read
jobs:
  plan:
    permissions:
      contents: read
      pull-requests: write
    steps:
      - uses: actions/checkout@` + sha + ` # v4.4.0
        with:
          persist-credentials: false
      - uses: ./.github/actions/gearshift
        with:
          command: plan
  bump:
    permissions:
      contents: write
      pull-requests: write
    steps:
      - uses: actions/checkout@` + sha + ` # v4.4.0
      - uses: ./.github/actions/gearshift
        with:
          command: bump
`, nil},
		{"unpinned and untagged", `
permissions: read-all
jobs:
  a:
    steps:
      - uses: actions/setup-go@v5
      - uses: actions/setup-go@` + sha + `
      - uses: docker://alpine:3
`, []string{
			"w.yml:6: actions/setup-go@v5 is not pinned by a full commit SHA",
			"w.yml:7: actions/setup-go@" + sha + " does not name its tag in a comment (# v1.2.3)",
			"w.yml:8: docker://alpine:3 is not pinned by digest",
		}},
		{"write at workflow level", `
permissions:
  contents: write
jobs: {}
`, []string{"w.yml:3: workflow-level permission contents: write, want read-only (grant write on the job that needs it)"}},
		{"no permissions", `
jobs: {}
`, []string{"w.yml:2: no workflow-level permissions: the default token may write"}},
		{"contents write on a job that only plans", `
permissions:
  contents: read
jobs:
  plan:
    permissions:
      contents: write
      pull-requests: write
    steps:
      - uses: ./.github/actions/gearshift
        with:
          command: plan
          args: --from-status
`, []string{"w.yml:7: job plan has contents: write but does not push"}},
		{"pull-requests write on a job that applies", `
permissions:
  contents: read
jobs:
  apply:
    permissions:
      contents: write
      pull-requests: write
    steps:
      - uses: ./.github/actions/gearshift
        with:
          command: apply
`, []string{"w.yml:7: job apply has pull-requests: write but neither comments nor opens pull requests"}},
		{"apply without status does not push", `
permissions:
  contents: read
jobs:
  apply:
    permissions:
      contents: write
    steps:
      - uses: actions/checkout@` + sha + ` # v4.4.0
      - uses: ./.github/actions/gearshift
        with:
          command: apply
          args: --no-status
`, []string{
			"w.yml:7: job apply has contents: write but does not push",
			"w.yml:9: checkout in job apply, which does not push, keeps its credential (want persist-credentials: false)",
		}},
		{"checkout persisting credentials in a read-only job", `
permissions:
  contents: read
jobs:
  test:
    steps:
      - uses: actions/checkout@` + sha + ` # v4.4.0
        with:
          persist-credentials: true
      - run: make test
`, []string{"w.yml:7: checkout in job test, which does not push, keeps its credential (want persist-credentials: false)"}},
		{"git push counts as pushing", `
permissions:
  contents: read
jobs:
  tag:
    permissions:
      contents: write
    steps:
      - uses: actions/checkout@` + sha + ` # v4.4.0
      - run: git push origin v1
`, nil},
		{"composite action", `
runs:
  using: composite
  steps:
    - uses: actions/setup-go@v5
`, []string{"w.yml:5: actions/setup-go@v5 is not pinned by a full commit SHA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := workflowProblems("w.yml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("problems (-got +want):\n%s", diff)
			}
		})
	}
}
