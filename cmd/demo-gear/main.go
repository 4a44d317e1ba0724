// Command demo-gear is the tiny HTTP service that the demo state deploys:
// every unit of environments/ is a demo-gear release, built reproducibly
// into dist/<unit>-<version>.tar.gz by `make dist`. It uses the standard
// library only, so that its release tarball stays small and the same bytes
// on every build with the same toolchain.
//
//	demo-gear serve --addr 127.0.0.1:18081 --name greeter --version 1.3.0
//	demo-gear check http://127.0.0.1:18081/
//
// serve answers /healthz with "ok" and / with "NAME VERSION"; check is a
// verify command: it exits 0 only when the URL answers 200.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: demo-gear serve --addr HOST:PORT --name NAME --version V | demo-gear check URL")
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "demo-gear: unknown command %q\n", args[0])
	return 2
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	name := fs.String("name", "demo-gear", "the unit's name, served on /")
	version := fs.String("version", "0.0.0", "the unit's version, served on /")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "demo-gear: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: Handler(*name, *version), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stderr, "demo-gear: %s %s listening on %s\n", *name, *version, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "demo-gear: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	// Finish the requests in flight: a blue/green switch or a rolling
	// restart stops the old release while the proxy may still send to it.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "demo-gear: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// Handler serves /healthz and /.
func Handler(name, version string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", name, version)
	})
	return mux
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 5*time.Second, "how long the request may take")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: demo-gear check [--timeout D] URL")
		return 2
	}
	url := fs.Arg(0)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "demo-gear check: %v\n", err)
		return 2
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "demo-gear check: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "demo-gear check: GET %s: %s\n", url, resp.Status)
		return 1
	}
	fmt.Fprintf(stdout, "GET %s: %s: %s", url, resp.Status, body)
	return 0
}
