// Command gearshift reconciles fleets of gears and stacks with the desired
// state kept as CUE in a git repository.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gearshift-dev/gearshift/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
