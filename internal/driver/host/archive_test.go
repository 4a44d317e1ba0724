package host

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/state"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// TestSharedArchive is tsd-import's site archive: two units of one target
// archive every tarball into the target's archive directory before the
// deploy, as <unit>_<release id><ext>; it keeps the newest archive.keep of
// each unit, whatever keepReleases removes from the release directories,
// and never touches another unit's archives or a file it did not write.
func TestSharedArchive(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	archive := filepath.Join(t.TempDir(), "transfer", "sw", "archive")
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 1, Archive: &state.HostArchive{Dir: archive, Keep: 3}}, ev)
	pruneAtEnd(t, d, "web")
	pruneAtEnd(t, d, "api")
	if err := os.MkdirAll(archive, 0o755); err != nil {
		t.Fatal(err)
	}
	// Someone's own file in the site archive.
	if err := os.WriteFile(filepath.Join(archive, "README"), []byte("site archive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	api := webUnit("7.0.0")
	api.Name, api.Port = "api", freePort(t)
	if _, err := d.Deploy(ctx, deployReq(t, api, false, t0, ev)); err != nil {
		t.Fatalf("deploy api: %v", err)
	}
	port := freePort(t)
	var ids []string
	for i, v := range []string{"1.0.0", "2.0.0", "3.0.0", "4.0.0"} {
		u := webUnit(v)
		u.Port = port
		at := t0.Add(time.Duration(i+1) * time.Hour)
		if _, err := d.Deploy(ctx, deployReq(t, u, false, at, ev)); err != nil {
			t.Fatalf("deploy %s: %v", v, err)
		}
		ids = append(ids, NewID(v, at))
		if i == 2 {
			// keepReleases 1 has already removed 1.0.0's release (only
			// the current and the previous stay); its archive is still
			// there: three archives of web, and api's.
			want := []string{"README", "api_" + NewID("7.0.0", t0) + ".tar.gz", "web_" + ids[0] + ".tar.gz", "web_" + ids[1] + ".tar.gz", "web_" + ids[2] + ".tar.gz"}
			if diff := cmp.Diff(dirNames(t, archive), want); diff != "" {
				t.Errorf("archive after web 3.0.0 (-got +want):\n%s", diff)
			}
			l := Layout{Root: d.Target.Root, Unit: "web"}
			if diff := cmp.Diff(dirNames(t, l.Releases()), []string{ids[1], ids[1] + ".json", ids[2], ids[2] + ".json"}); diff != "" {
				t.Errorf("releases after web 3.0.0 (-got +want):\n%s", diff)
			}
		}
	}
	// The fourth deploy of web removes web's oldest archive only.
	want := []string{"README", "api_" + NewID("7.0.0", t0) + ".tar.gz", "web_" + ids[1] + ".tar.gz", "web_" + ids[2] + ".tar.gz", "web_" + ids[3] + ".tar.gz"}
	if diff := cmp.Diff(dirNames(t, archive), want); diff != "" {
		t.Errorf("archive after web 4.0.0 (-got +want):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(archive, "web_"+ids[3]+".tar.gz")); err != nil || string(b) != "archive of 4.0.0" {
		t.Errorf("archive of 4.0.0: %q, %v", b, err)
	}
	// Nothing in the units' own archive directories.
	for _, unit := range []string{"web", "api"} {
		if names := dirNames(t, Layout{Root: d.Target.Root, Unit: unit}.Archive()); len(names) > 0 {
			t.Errorf("%s/archive holds %v; the target's archive directory should have them", unit, names)
		}
	}
	if ev.index(0, "archived the artifact as "+filepath.Join(archive, "web_"+ids[3]+".tar.gz")) < 0 {
		t.Error("no event says where 4.0.0 was archived")
	}
}

func TestArchiveDirHost(t *testing.T) {
	for _, tt := range []struct{ dir, host, want, err string }{
		{"/transfer/sw/archive", "gdx-login", "/transfer/sw/archive", ""},
		{"/srv/{host}/archive", "gdx-login", "/srv/gdx-login/archive", ""},
		{"/srv/{host}/archive", "", "/srv/local/archive", ""},
		{"/srv/{host}/archive", "..", "", `host ".." cannot be part of a path`},
	} {
		got, err := archiveDir(tt.dir, tt.host)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("archiveDir(%q, %q) = %q, %v; want %q, %q", tt.dir, tt.host, got, err, tt.want, tt.err)
		}
	}
}
