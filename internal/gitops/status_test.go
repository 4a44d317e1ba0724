package gitops

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func asStrings(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func TestWriteAndReadStatus(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	srv.CreateRepo("state", "main", map[string]string{"environments/dev/units.cue": "package x\n"})
	url := srv.URL("state")

	got, err := ReadStatus(ctx, url, "", auth)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("ReadStatus before any write = %q, want empty", got)
	}

	if err := WriteStatus(ctx, url, "", map[string][]byte{"dev.json": []byte(`{"env":"dev","n":1}`)}, "status: dev", auth); err != nil {
		t.Fatal(err)
	}
	// An orphan branch: the state repo's files are not on it.
	if log := srv.Log("state", DefaultStatusBranch); len(log) != 1 || log[0] != "status: dev" {
		t.Errorf("status branch log = %q, want one commit", log)
	}
	if err := WriteStatus(ctx, url, "", map[string][]byte{"prod.json": []byte(`{"env":"prod"}`)}, "status: prod", auth); err != nil {
		t.Fatal(err)
	}
	before := len(srv.Log("state", DefaultStatusBranch))
	if err := WriteStatus(ctx, url, "", map[string][]byte{"prod.json": []byte(`{"env":"prod"}`)}, "status: prod again", auth); err != nil {
		t.Fatal(err)
	}
	if after := len(srv.Log("state", DefaultStatusBranch)); after != before {
		t.Errorf("an unchanged status made a commit (%d -> %d)", before, after)
	}

	got, err = ReadStatus(ctx, url, "", auth)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"dev.json": `{"env":"dev","n":1}`, "prod.json": `{"env":"prod"}`}
	if diff := cmp.Diff(want, asStrings(got)); diff != "" {
		t.Errorf("ReadStatus (-want +got):\n%s", diff)
	}
	if got, ok := srv.File("state", "main", "environments/dev/units.cue"); !ok || got != "package x\n" {
		t.Errorf("main was disturbed: %q, %v", got, ok)
	}
	srv.Fsck("state")

	err = WriteStatus(ctx, url, "", map[string][]byte{"x.json": []byte("{}")}, "m", Auth{Token: "wrongTOKENvalue42"})
	if err == nil || !strings.Contains(err.Error(), "authentication refused") {
		t.Errorf("WriteStatus with a wrong token = %v, want an authentication error", err)
	} else {
		assertNoSecret(t, "WriteStatus error", err.Error())
	}
}

// Two runs (separate processes in real life, so nothing shared but the
// server) write their environments' status at once: both records land.
func TestWriteStatusConcurrent(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	srv.CreateRepo("state", "main", map[string]string{"README": "state\n"})
	url := srv.URL("state")
	// Start from an existing branch so that both writers race on one tip.
	if err := WriteStatus(ctx, url, "", map[string][]byte{"README": []byte("status record\n")}, "status: init", auth); err != nil {
		t.Fatal(err)
	}

	const writers, rounds = 2, 4
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	start := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for r := range rounds {
				env := fmt.Sprintf("env%d", w)
				body := fmt.Sprintf(`{"round":%d}`, r)
				errs <- WriteStatus(ctx, url, "", map[string][]byte{env + ".json": []byte(body)}, fmt.Sprintf("status: %s round %d", env, r), auth)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	got, err := ReadStatus(ctx, url, "", auth)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"README": "status record\n", "env0.json": `{"round":3}`, "env1.json": `{"round":3}`}
	if diff := cmp.Diff(want, asStrings(got)); diff != "" {
		t.Errorf("ReadStatus after concurrent writes (-want +got):\n%s", diff)
	}
	if n, want := len(srv.Log("state", DefaultStatusBranch)), 1+writers*rounds; n != want {
		t.Errorf("status branch has %d commits, want %d (one per write)", n, want)
	}
	srv.Fsck("state")
}

func TestStatusOfLocalRepository(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	srv.CreateRepo("state", "main", map[string]string{"a": "b"})
	c, err := Open(ctx, srv.URL("state"), "", t.TempDir(), auth)
	if err != nil {
		t.Fatal(err)
	}

	// A checkout with an origin writes to the origin (CI runs on a clone).
	if err := WriteStatus(ctx, c.Dir, "custom/status", map[string][]byte{"dev.json": []byte("{}")}, "status", auth); err != nil {
		t.Fatal(err)
	}
	if got, ok := srv.File("state", "custom/status", "dev.json"); !ok || got != "{}" {
		t.Errorf("server custom/status:dev.json = %q, %v", got, ok)
	}

	// Without an origin, the repository's own branch holds the record.
	if err := c.repo.DeleteRemote("origin"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		body := []byte(fmt.Sprintf(`{"n":%d}`, i))
		if err := WriteStatus(ctx, c.Dir, "", map[string][]byte{"dev.json": body}, "status", Auth{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadStatus(ctx, c.Dir, "", Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"dev.json": `{"n":1}`}, asStrings(got)); diff != "" {
		t.Errorf("local ReadStatus (-want +got):\n%s", diff)
	}
}

// The branch moves between WriteStatus's fetch and its push: the push is
// refused, and the commit is rebuilt on the new tip without losing it.
func TestWriteStatusRetriesOnMovedBranch(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	srv.CreateRepo("state", "main", map[string]string{"a": "b"})
	url := srv.URL("state")
	if err := WriteStatus(ctx, url, "", map[string][]byte{"dev.json": []byte("1")}, "status: dev", auth); err != nil {
		t.Fatal(err)
	}

	pushes := 0
	beforeStatusPush = func() {
		pushes++
		if pushes <= 2 {
			srv.Commit("state", DefaultStatusBranch, fmt.Sprintf("status: other %d", pushes),
				map[string]string{fmt.Sprintf("other%d.json", pushes): "x"})
		}
	}
	t.Cleanup(func() { beforeStatusPush = nil })

	if err := WriteStatus(ctx, url, "", map[string][]byte{"prod.json": []byte("2")}, "status: prod", auth); err != nil {
		t.Fatal(err)
	}
	if pushes != 3 {
		t.Errorf("WriteStatus pushed %d times, want 3 (two refused)", pushes)
	}
	want := []string{"status: prod", "status: other 2", "status: other 1", "status: dev"}
	if diff := cmp.Diff(want, srv.Log("state", DefaultStatusBranch)); diff != "" {
		t.Errorf("status log (-want +got):\n%s", diff)
	}
	got, err := ReadStatus(ctx, url, "", auth)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"dev.json": "1", "other1.json": "x", "other2.json": "x", "prod.json": "2"}, asStrings(got)); diff != "" {
		t.Errorf("ReadStatus (-want +got):\n%s", diff)
	}

	// A branch that never stops moving: WriteStatus gives up.
	beforeStatusPush = func() {
		pushes++
		srv.Commit("state", DefaultStatusBranch, "status: busy", map[string]string{"busy.json": fmt.Sprint(pushes)})
	}
	err = WriteStatus(ctx, url, "", map[string][]byte{"prod.json": []byte("3")}, "status: prod", auth)
	if err == nil || !strings.Contains(err.Error(), "gave up after 5 attempts") {
		t.Errorf("WriteStatus on a branch that keeps moving = %v, want it to give up", err)
	}
}
