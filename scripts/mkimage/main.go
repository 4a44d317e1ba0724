// Command mkimage writes gearshift's container image as a tarball that
// `docker load` and `podman load` read, without a Docker daemon or a
// registry: an empty base, one layer holding the binary, a passwd entry
// for the non-root user it runs as, and that user's home.
//
//	go run ./scripts/mkimage -binary dist/linux_amd64/gearshift -tag gearshift:v1.2.3 -o dist/gearshift-image.tar
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The user the image runs as: not root, the id distroless calls nonroot.
const (
	uid  = 65532
	home = "/home/nonroot"
	// Entrypoint is where the binary is in the image.
	Entrypoint = "/usr/local/bin/gearshift"
)

func main() {
	binary := flag.String("binary", "", "the linux gearshift binary to put in the image")
	tag := flag.String("tag", "gearshift:snapshot", "the image's name and tag")
	out := flag.String("o", "gearshift-image.tar", "the image tarball to write")
	arch := flag.String("arch", "amd64", "the binary's architecture")
	flag.Parse()
	if err := run(*binary, *tag, *out, *arch); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(binary, tag, out, arch string) error {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	img, err := Image(bin, arch)
	if err != nil {
		return err
	}
	// Written beside, then renamed: a reader never sees half an image.
	tmp := out + ".partial"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// Image is the image of bin: one layer on an empty base, run as uid 65532
// with gearshift as its entrypoint. File times are fixed, so the same
// binary gives the same image.
func Image(bin []byte, arch string) (v1.Image, error) {
	fs := rootfs(bin)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(fs)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Entrypoint = []string{Entrypoint}
	cf.Config.User = fmt.Sprintf("%d:%d", uid, uid)
	cf.Config.WorkingDir = home
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home}
	return mutate.ConfigFile(img, cf)
}

// rootfs is the layer: the binary, /etc/passwd and /etc/group naming the
// non-root user, its home, and /tmp.
func rootfs(bin []byte) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	mtime := time.Unix(0, 0)
	dir := func(name string, mode int64, owner int) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime})
		tw.Write(data)
	}
	for _, d := range []string{"etc", "home", "usr", "usr/local", "usr/local/bin"} {
		dir(d, 0o755, 0)
	}
	dir("tmp", 0o1777, 0)
	dir(home[1:], 0o750, uid)
	file("etc/passwd", 0o644, []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", uid, uid, home)))
	file("etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid)))
	file(Entrypoint[1:], 0o755, bin)
	tw.Close()
	return b.Bytes()
}
