package artifact

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		src        string
		allowLocal bool
		want       string // getter source; "" for refused
		wantErr    error
	}{
		{"https://example.com/a.tgz", false, "https://example.com/a.tgz?checksum=sha256%3A" + sum, nil},
		{"http://example.com/a.tgz?v=1", false, "http://example.com/a.tgz?checksum=sha256%3A" + sum + "&v=1", nil},
		// git runs with the whole environment and the machine's credential
		// helpers: refused.
		{"git::https://example.com/r.git/a.tgz?ref=v1", false, "", nil},
		{"git::ssh://git@example.com/r.git/a.tgz", false, "", nil},
		{"/srv/a.tgz", false, "", ErrLocalSource},
		{"/srv/a.tgz", true, "file:///srv/a.tgz?checksum=sha256%3A" + sum, nil},
		{"file:///srv/a.tgz", false, "", ErrLocalSource},
		{"git::file:///srv/repo/a.tgz", true, "", nil},
		{"github.com/org/repo", false, "", nil},      // shorthand: no detectors
		{"a.tgz", true, "", nil},                     // relative path
		{"s3::https://bucket/a.tgz", false, "", nil}, // getter not enabled
		{"ftp://example.com/a.tgz", false, "", nil},
		{"hg::https://example.com/r", false, "", nil},
		{"https://example.com/r.tgz//sub", false, "", nil},
		{"https://example.com/a.tgz?checksum=md5:00", false, "", nil},
		{"https://example.com/a.zip?archive=false", false, "", nil},
		{"", false, "", nil},
		{"git::https://example.com/r.git/a.tgz?ref=--orphan=x", false, "", nil},
		{"git::ssh://-oProxyCommand=touch%20x/r.git/a.tgz", false, "", nil},
		{"git::ext::sh -c touch% /tmp/pwned", false, "", nil},
	}
	for _, tt := range tests {
		s, err := parseSource(tt.src, sum, tt.allowLocal)
		if tt.want == "" {
			if err == nil {
				t.Errorf("parseSource(%q) = %q, want an error", tt.src, s.getterSrc)
			} else if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("parseSource(%q) error = %v, want %v", tt.src, err, tt.wantErr)
			}
			continue
		}
		if err != nil || s.getterSrc != tt.want {
			t.Errorf("parseSource(%q) = %q, %v; want %q", tt.src, s.getterSrc, err, tt.want)
		}
	}
}

func TestMaskSource(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/a.tgz?v=1", "https://example.com/a.tgz?v=1"},
		{"https://user:pass@example.com/a.tgz", "https://redacted@example.com/a.tgz"},
		{"https://ghp_abc@example.com/a.tgz", "https://redacted@example.com/a.tgz"},
		{"git::https://x:y@example.com/r.git/a.tgz?ref=v1", "git::https://redacted@example.com/r.git/a.tgz?ref=v1"},
		{"https://e.com/a?token=t1&access_token=t2&ref=v1", "https://e.com/a?token=redacted&access_token=redacted&ref=v1"},
		{"https://e.com/a?X-Amz-Signature=abc&X-Amz-Credential=def", "https://e.com/a?X-Amz-Signature=redacted&X-Amz-Credential=redacted"},
		{"git::ssh://git@e.com/r.git/a.tgz?sshkey=LS0t", "git::ssh://redacted@e.com/r.git/a.tgz?sshkey=redacted"},
		{"https://e.com/a?api%5Fkey=k", "https://e.com/a?api%5Fkey=redacted"},
		{"%%bad://u:p@host/?token=x", "%%bad://redacted@host/?token=redacted"},
	}
	for _, tt := range tests {
		if got := maskSource(tt.in); got != tt.want {
			t.Errorf("maskSource(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskedError(t *testing.T) {
	s, err := parseSource("https://bob:pa%2Fss@e.com/a.tgz?token=a%20b", "", false)
	if err != nil {
		t.Fatal(err)
	}
	inner := errors.New(`Get "https://bob:pa%2Fss@e.com/a.tgz?token=a+b" (token "a b", password pa/ss)`)
	got := s.mask(inner)
	for _, secret := range []string{"bob", "pa%2Fss", "pa/ss", "a+b", "a b"} {
		if strings.Contains(got.Error(), secret) {
			t.Errorf("masked error %q shows %q", got, secret)
		}
	}
	if !errors.Is(got, inner) {
		t.Errorf("masked error does not wrap the original")
	}
}

func TestParseChecksum(t *testing.T) {
	hex := strings.Repeat("0f", 32)
	tests := []struct {
		in      string
		require bool
		want    string
		wantErr bool
	}{
		{"", false, "", false},
		{"", true, "", true},
		{"sha256:" + hex, true, hex, false},
		{"sha256:" + strings.ToUpper(hex), false, hex, false},
		{"sha512:" + hex, false, "", true},
		{hex, false, "", true},
		{"sha256:" + hex[:62] + "zz", false, "", true},
		{"sha256:" + hex + "00", false, "", true},
	}
	for _, tt := range tests {
		got, err := parseChecksum(tt.in, tt.require)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseChecksum(%q, %v) = %q, %v; want %q, error %v", tt.in, tt.require, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestWriteFileCountsWhileCopying checks the byte limit against what is
// copied, not against what a header declares.
func TestWriteFileCountsWhileCopying(t *testing.T) {
	u, err := newUnpacker(context.Background(), t.TempDir(), limits{maxFiles: 10, maxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer u.root.Close()
	if err := u.writeFile("a", 0o644, bytes.NewReader(make([]byte, 600)), 10); err != nil {
		t.Fatalf("first file: %v", err)
	}
	err = u.writeFile("b", 0o644, bytes.NewReader(make([]byte, 600)), 10) // lies: 10 declared
	if !errors.Is(err, ErrLimitExceeded) {
		t.Errorf("second file: error = %v, want %v", err, ErrLimitExceeded)
	}
	if u.stats.bytes > 1001 {
		t.Errorf("copied %d bytes against a limit of 1000", u.stats.bytes)
	}
}
