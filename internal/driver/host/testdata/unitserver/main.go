// Command unitserver is the unit the host driver's tests deploy: a tiny HTTP
// server whose version comes from the artifact it was deployed with, so a
// test sees what really runs rather than what gearshift believes runs.
//
// In its working directory (the release directory) it reads:
//
//	VERSION       the version it reports: GET / -> "<version>",
//	              GET /healthz -> "ok <version>"
//	FAIL_HEALTH   if present, /healthz answers 500 (a broken release)
//
// It listens on 127.0.0.1:$PORT, or on a free port when PORT is unset, and
// then writes the address to ./addr (so several "hosts" that are really
// this machine do not fight over one port).
//
// Other modes:
//
//	unitserver -check             GET /healthz at ./addr; exit 0 if healthy
//	unitserver -record FILE ARGS  append {args, env} as a JSON line to FILE
//	                              and exit (stands in for systemctl and for
//	                              the start/stop commands of the command
//	                              service manager)
//	unitserver -fail-if PATH      like serving, but /healthz fails while
//	                              PATH exists
//	unitserver -ignore-term       ignore SIGTERM (to test SIGKILL escalation)
//	unitserver -port-file PATH    listen on the port written in PATH (each
//	                              "host" of a test behind one load balancer
//	                              has its own)
//	systemctl ARGS                (a link named systemctl) append ARGS to
//	                              $UNITSERVER_RECORD as -record does
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if filepath.Base(os.Args[0]) == "systemctl" {
		// Installed as systemctl on a test's PATH: record the call.
		os.Exit(doRecord(os.Getenv("UNITSERVER_RECORD"), os.Args[1:]))
	}
	check := flag.Bool("check", false, "probe ./addr and exit")
	record := flag.String("record", "", "append args and env to this file and exit")
	failIf := flag.String("fail-if", "", "fail health while this path exists")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	portFile := flag.String("port-file", "", "listen on the port this file holds")
	flag.Parse()
	switch {
	case *record != "":
		os.Exit(doRecord(*record, flag.Args()))
	case *check:
		os.Exit(doCheck())
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	serve(*failIf, *portFile)
}

func serve(failIf, portFile string) {
	b, err := os.ReadFile("VERSION")
	if err != nil {
		fmt.Fprintln(os.Stderr, "unitserver:", err)
		os.Exit(1)
	}
	version := strings.TrimSpace(string(b))
	addr := "127.0.0.1:0"
	if p := os.Getenv("PORT"); p != "" {
		addr = "127.0.0.1:" + p
	}
	if portFile != "" {
		p, err := os.ReadFile(portFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "unitserver:", err)
			os.Exit(1)
		}
		addr = "127.0.0.1:" + strings.TrimSpace(string(p))
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "unitserver:", err)
		os.Exit(1)
	}
	if err := os.WriteFile("addr", []byte(l.Addr().String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "unitserver:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "unitserver %s listening on %s\n", version, l.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if exists("FAIL_HEALTH") || failIf != "" && exists(failIf) {
			http.Error(w, "broken "+version, http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "ok %s\n", version)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, version)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintln(os.Stderr, srv.Serve(l))
	os.Exit(1)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func doCheck() int {
	addr, err := os.ReadFile("addr")
	if err != nil {
		fmt.Fprintln(os.Stderr, "unitserver -check:", err)
		return 1
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + strings.TrimSpace(string(addr)) + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "unitserver -check:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

func doRecord(file string, args []string) int {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GEARSHIFT_") || k == "PORT" {
			env[k] = v
		}
	}
	line, _ := json.Marshal(struct {
		Args []string          `json:"args"`
		Env  map[string]string `json:"env"`
	}{args, env})
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "unitserver -record:", err)
		return 1
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return 1
	}
	return 0
}
