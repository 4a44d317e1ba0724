package artifact

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// release is the content of a good artifact, with modes a deploy relies on.
var release = []entry{
	dir("app/", 0o755),
	file("app/bin/run", 0o4755, "#!/bin/sh\necho run\n"), // setuid must be dropped
	file("app/README", 0o644, "hello\n"),
	file("app/conf/secret.conf", 0o600, "k=v\n"), // parent has no entry
	file("./app/VERSION", 0o444, "1.2.3\n"),
	dir("app/data/", 0o750),
}

// wantRelease is release as unpacked.
var wantRelease = map[string]string{
	"app":                  "drwxr-xr-x",
	"app/bin":              "drwxr-xr-x",
	"app/bin/run":          "-rwxr-xr-x #!/bin/sh\necho run",
	"app/README":           "-rw-r--r-- hello",
	"app/conf":             "drwxr-xr-x",
	"app/conf/secret.conf": "-rw------- k=v",
	"app/VERSION":          "-r--r--r-- 1.2.3",
	"app/data":             "drwxr-x---",
}

func TestFetchGoodArchives(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name string
		data []byte
	}{
		{"app.tar.gz", buildTarGz(t, release)},
		{"app.tgz", buildTarGz(t, release)},
		{"app.tar", buildTar(t, release)},
		{"app.zip", buildZip(t, release)},
		{"no-extension", buildZip(t, release)}, // the format is sniffed, not guessed from the name
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := srv.put(t, tt.name, tt.data)
			dest := filepath.Join(t.TempDir(), "release")
			res, err := New(Options{}).Fetch(context.Background(), url, sha(tt.data), dest)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if diff := cmp.Diff(wantRelease, tree(t, dest)); diff != "" {
				t.Errorf("unpacked tree (-want +got):\n%s", diff)
			}
			want := Result{SHA256: strings.TrimPrefix(sha(tt.data), "sha256:"), ArchiveBytes: int64(len(tt.data)), Files: 4, Bytes: 35}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
			if got := res.Checksum(); got != sha(tt.data) {
				t.Errorf("Checksum() = %s, want %s", got, sha(tt.data))
			}
			if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("dest mode = %v, %v; want 0755", fi, err)
			}
		})
	}
}

func TestFetchChecksum(t *testing.T) {
	srv := newServer(t)
	data := buildTarGz(t, release)
	url := srv.put(t, "app.tar.gz", data)
	wrong := sha([]byte("something else"))
	tests := []struct {
		name     string
		opts     Options
		checksum string
		wantErr  error
		wantHits int64
	}{
		{"wrong checksum", Options{}, wrong, ErrChecksumMismatch, 1},
		{"wrong checksum with cache", Options{CacheDir: "cache"}, wrong, ErrChecksumMismatch, 1},
		{"missing checksum required", Options{RequireChecksum: true}, "", ErrChecksumRequired, 0},
		{"malformed checksum", Options{}, "md5:abcd", nil, 0},
		{"short checksum", Options{}, "sha256:abcd", nil, 0},
		{"missing checksum allowed", Options{}, "", nil, 1},
		{"uppercase checksum", Options{RequireChecksum: true}, "sha256:" + strings.ToUpper(strings.TrimPrefix(sha(data), "sha256:")), nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			if tt.opts.CacheDir != "" {
				tt.opts.CacheDir = filepath.Join(parent, tt.opts.CacheDir)
			}
			dest := filepath.Join(parent, "release")
			before := srv.hits.Load()
			_, err := New(tt.opts).Fetch(context.Background(), url, tt.checksum, dest)
			if got := srv.hits.Load() - before; got != tt.wantHits {
				t.Errorf("server hits = %d, want %d", got, tt.wantHits)
			}
			wantOK := tt.wantErr == nil && !strings.Contains(tt.name, "malformed") && !strings.Contains(tt.name, "short")
			if wantOK {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Fetch succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Fetch error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), url) {
				t.Errorf("error %q does not name the source", err)
			}
			var want []string
			if tt.opts.CacheDir != "" {
				want = []string{"cache", "cache/sha256"} // nothing cached
			}
			if diff := cmp.Diff(want, listing(t, parent)); diff != "" {
				t.Errorf("written after a refused fetch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFetchCache(t *testing.T) {
	srv := newServer(t)
	data := buildTarGz(t, release)
	url := srv.put(t, "app.tar.gz", data)
	cache := t.TempDir()
	f := New(Options{CacheDir: cache})
	ctx := context.Background()

	fetch := func(wantFromCache bool, wantHits int64) {
		t.Helper()
		dest := filepath.Join(t.TempDir(), "release")
		res, err := f.Fetch(ctx, url, sha(data), dest)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if res.FromCache != wantFromCache {
			t.Errorf("FromCache = %v, want %v", res.FromCache, wantFromCache)
		}
		if got := srv.hits.Load(); got != wantHits {
			t.Errorf("server hits = %d, want %d", got, wantHits)
		}
		if diff := cmp.Diff(wantRelease, tree(t, dest)); diff != "" {
			t.Errorf("unpacked tree (-want +got):\n%s", diff)
		}
	}
	fetch(false, 1)
	fetch(true, 1) // same checksum: not downloaded again

	// A cache entry that no longer matches its name is fetched again.
	entry := filepath.Join(cache, "sha256", strings.TrimPrefix(sha(data), "sha256:"))
	if err := os.WriteFile(entry, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	fetch(false, 2)
	fetch(true, 2)

	// Without a checksum there is no key: always downloaded.
	if _, err := f.Fetch(ctx, url, "", filepath.Join(t.TempDir(), "r")); err != nil {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Errorf("server hits = %d, want 3", got)
	}
}

func TestDownload(t *testing.T) {
	srv := newServer(t)
	data := buildTarGz(t, release)
	url := srv.put(t, "app.tar.gz", data)
	ctx := context.Background()

	for _, cache := range []string{"", t.TempDir()} {
		f := New(Options{CacheDir: cache, RequireChecksum: true})
		for i := range 2 {
			parent := t.TempDir()
			keep := filepath.Join(parent, "app-1.2.3.tar.gz")
			res, err := f.Download(ctx, url, sha(data), keep)
			if err != nil {
				t.Fatalf("Download: %v", err)
			}
			if got := shaFile(t, keep); got != sha(data) {
				t.Errorf("kept archive %s, want %s", got, sha(data))
			}
			wantFromCache := cache != "" && i == 1
			if res.FromCache != wantFromCache || res.ArchiveBytes != int64(len(data)) || res.Files != 0 {
				t.Errorf("Result = %+v, want FromCache %v, ArchiveBytes %d", res, wantFromCache, len(data))
			}
			if diff := cmp.Diff([]string{"app-1.2.3.tar.gz"}, listing(t, parent)); diff != "" {
				t.Errorf("parent (-want +got):\n%s", diff)
			}
		}
	}

	// A wrong checksum leaves nothing behind, not even a partial file.
	parent := t.TempDir()
	_, err := New(Options{}).Download(ctx, url, sha([]byte("x")), filepath.Join(parent, "a.tgz"))
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("Download error = %v, want %v", err, ErrChecksumMismatch)
	}
	if got := listing(t, parent); len(got) != 0 {
		t.Errorf("written after a refused download: %v", got)
	}
}

func TestFetchDestination(t *testing.T) {
	srv := newServer(t)
	data := buildTarGz(t, release)
	url := srv.put(t, "app.tar.gz", data)
	tests := []struct {
		name    string
		setup   func(t *testing.T, dest string)
		wantErr bool
	}{
		{"absent", func(*testing.T, string) {}, false},
		{"empty directory", func(t *testing.T, dest string) { mkdir(t, dest) }, false},
		{"not empty", func(t *testing.T, dest string) {
			mkdir(t, dest)
			writeFile(t, filepath.Join(dest, "keep"), "old")
		}, true},
		{"a file", func(t *testing.T, dest string) { writeFile(t, dest, "old") }, true},
		{"symlink to an empty directory", func(t *testing.T, dest string) {
			target := t.TempDir()
			if err := os.Symlink(target, dest); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"missing parent", func(t *testing.T, dest string) { os.Remove(filepath.Dir(dest)) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "sub", "release")
			mkdir(t, filepath.Dir(dest))
			tt.setup(t, dest)
			before := listing(t, filepath.Dir(filepath.Dir(dest)))
			_, err := New(Options{}).Fetch(context.Background(), url, sha(data), dest)
			if tt.wantErr {
				if err == nil {
					t.Fatal("Fetch succeeded, want an error")
				}
				if diff := cmp.Diff(before, listing(t, filepath.Dir(filepath.Dir(dest)))); diff != "" {
					t.Errorf("changed by a refused fetch (-before +after):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if diff := cmp.Diff(wantRelease, tree(t, dest)); diff != "" {
				t.Errorf("unpacked tree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFetchLocal(t *testing.T) {
	data := buildTarGz(t, release)
	archive := filepath.Join(t.TempDir(), "app.tar.gz")
	writeFile(t, archive, string(data))
	for _, src := range []string{archive, "file://" + archive} {
		t.Run(src, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "release")
			_, err := New(Options{}).Fetch(context.Background(), src, sha(data), dest)
			if !errors.Is(err, ErrLocalSource) {
				t.Fatalf("Fetch without AllowLocal: error = %v, want %v", err, ErrLocalSource)
			}
			if got := listing(t, parent); len(got) != 0 {
				t.Errorf("written after a refused fetch: %v", got)
			}
			res, err := New(Options{AllowLocal: true}).Fetch(context.Background(), src, sha(data), dest)
			if err != nil {
				t.Fatalf("Fetch with AllowLocal: %v", err)
			}
			if res.Files != 4 {
				t.Errorf("Files = %d, want 4", res.Files)
			}
			if fi, err := os.Lstat(filepath.Join(dest, "app", "README")); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("README: %v, %v; want a regular file", fi, err)
			}
		})
	}
}

// TestFetchGitRefused: a git source is refused before anything runs.
// go-getter's git getter would start git with gearshift's whole
// environment and the machine's credential helpers; the test would see the
// clone in the repository it names as a real git process left it.
func TestFetchGitRefused(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := t.TempDir()
	data := buildTarGz(t, release)
	writeFile(t, filepath.Join(repo, "app.tar.gz"), string(data))
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "app.tar.gz"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "release"},
		{"tag", "v1.2.3"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	for _, src := range []string{"git::file://" + repo + "/app.tar.gz?ref=v1.2.3", "git::https://127.0.0.1:1/r.git/app.tar.gz"} {
		dest := filepath.Join(t.TempDir(), "release")
		_, err := New(Options{AllowLocal: true}).Fetch(context.Background(), src, sha(data), dest)
		if err == nil || !strings.Contains(err.Error(), "git sources (git::) are not supported") {
			t.Errorf("Fetch(%s): error = %v, want git sources refused", src, err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Fetch(%s) left %s: %v", src, dest, err)
		}
	}
}

func TestFetchMaxBytes(t *testing.T) {
	srv := newServer(t)
	data := buildTarGz(t, release)
	url := srv.put(t, "app.tar.gz", data)
	parent := t.TempDir()
	f := New(Options{MaxBytes: int64(len(data)) - 1})
	_, err := f.Fetch(context.Background(), url, "", filepath.Join(parent, "release"))
	if !errors.Is(err, ErrLimitExceeded) {
		t.Errorf("Fetch error = %v, want %v", err, ErrLimitExceeded)
	}
	if got := listing(t, parent); len(got) != 0 {
		t.Errorf("written after a refused fetch: %v", got)
	}
	// Exactly at the limit is fine.
	f = New(Options{MaxBytes: int64(len(data))})
	if _, err := f.Fetch(context.Background(), url, "", filepath.Join(parent, "release")); err != nil {
		t.Errorf("Fetch at the limit: %v", err)
	}
}

func TestFetchMasksCredentials(t *testing.T) {
	srv := newServer(t)
	closed := newServer(t)
	closed.Close() // connection refused: net/http quotes the whole URL
	secrets := []string{"s3cr3t", "tok123", "acc456", "bob"}
	for _, base := range []string{srv.URL, closed.URL} {
		src := strings.Replace(base, "http://", "http://bob:s3cr3t@", 1) +
			"/missing.tar.gz?token=tok123&access_token=acc456&v=1"
		_, err := New(Options{}).Fetch(context.Background(), src, "", filepath.Join(t.TempDir(), "r"))
		if err == nil {
			t.Fatalf("Fetch %s succeeded", base)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error shows secret %q: %v", s, err)
			}
		}
		t.Log(err)
		if !strings.Contains(err.Error(), "missing.tar.gz") {
			t.Errorf("error does not name the source: %v", err)
		}
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
